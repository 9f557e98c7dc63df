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
    """Read ``honeybee.json`` of an exported folder."""
    p = Path(folder) / META_FILE
    if not p.is_file():
        raise ConfigError(f"{folder}: not a honeybee adapter folder (no {META_FILE})")
    return json.loads(p.read_text(encoding="utf-8"))

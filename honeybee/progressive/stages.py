"""Progressive stages: where a stage lives, which adapter it continues, and its lineage manifest.

Stage N of experiment E on model M lives in ``<log_dir>/<E>/<M>/stage<N>/``; stage N>1 starts from the
``adapter/`` (or ``model/`` for a full finetune) of stage N-1 in the same experiment and model, unless
``stage.init_from`` names another folder.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from honeybee.model.export import META_FILE, check_export, read_meta
from honeybee.utils.errors import ConfigError
from honeybee.utils.runinfo import file_sha256

log = logging.getLogger(__name__)

EXPORT_DIRS = ("adapter", "model")


def stage_root(cfg: Any) -> Path:
    return Path(str(cfg.paths.log_dir)) / str(cfg.experiment_name) / str(cfg.model.name)


def stage_dir(cfg: Any, index: int) -> Path:
    return stage_root(cfg) / f"stage{index}"


def find_export(folder: Path) -> Path | None:
    """The exported weights inside a run/stage folder, or the folder itself if it is an export."""
    if (folder / META_FILE).is_file() or (folder / "adapter_config.json").is_file():
        return folder
    for name in EXPORT_DIRS:
        if (folder / name / META_FILE).is_file():
            return folder / name
    return None


def resolve_parent(cfg: Any) -> Path | None:
    """The export a stage starts from (None for a stage that starts from the base model).

    Raises:
        ConfigError: the expected parent is missing, or was trained on another base model.
    """
    stage = cfg.stage
    if stage.get("init_from"):
        given = Path(str(stage.init_from)).expanduser()
        parent = find_export(given)
        if parent is None:
            raise ConfigError(f"stage.init_from={given}: no adapter/ or model/ folder with {META_FILE} there")
    elif int(stage.index) > 1:
        expected = stage_dir(cfg, int(stage.index) - 1)
        parent = find_export(expected)
        if parent is None:
            raise ConfigError(
                f"stage={stage.index} continues stage {int(stage.index) - 1}, but {expected}/adapter does not exist: "
                f"train stage {int(stage.index) - 1} first (same experiment_name and model) "
                "or set stage.init_from=<adapter folder>"
            )
    else:
        return None
    check_export(parent)
    check_same_base(parent, cfg.model)
    return parent


def check_same_base(parent: Path, model_cfg: Any) -> None:
    base = read_meta(parent).get("base_model", {})
    want = {"name": model_cfg.name, "name_or_path": model_cfg.get("name_or_path")}
    if base.get("name") != want["name"] or base.get("name_or_path") != want["name_or_path"]:
        raise ConfigError(
            f"parent adapter {parent} was trained on base model {base.get('name')} ({base.get('name_or_path')}), "
            f"not {want['name']} ({want['name_or_path']}); refusing to continue it"
        )


def attach_parent(model: Any, parent: Path, mode: str, lora_cfg: Any) -> Any:
    """Put the parent's weights on ``model`` for this stage.

    ``continue`` keeps training the parent adapter itself (its rank and targets win, so they must match the
    ``lora`` config); ``merge`` folds it into the base weights and starts a fresh adapter from ``lora``.
    """
    from peft import PeftModel

    from honeybee.model.lora import apply_lora

    meta = read_meta(parent)
    if not (parent / "adapter_config.json").is_file():
        raise ConfigError(
            f"{parent} is a full model; start the stage from it with model.name_or_path instead"
        )
    if mode == "continue":
        if not lora_cfg.enabled:
            raise ConfigError("stage.mode=continue needs a LoRA stage (lora=none cannot continue an adapter)")
        plora = meta.get("lora", {})
        if int(plora.get("r", lora_cfg.r)) != int(lora_cfg.r):
            raise ConfigError(
                f"stage.mode=continue trains the parent adapter (r={plora.get('r')}) but lora.r={lora_cfg.r}; "
                "set lora.r to match or use stage.mode=merge for a new adapter"
            )
        return PeftModel.from_pretrained(model, str(parent), is_trainable=True)
    merged = PeftModel.from_pretrained(model, str(parent)).merge_and_unload()
    return apply_lora(merged, lora_cfg)


def export_hash(folder: Path) -> str | None:
    for name in ("adapter_model.safetensors", "model.safetensors"):
        if (folder / name).is_file():
            return file_sha256(folder / name)
    return None


def previous_best(cfg: Any) -> float | None:
    """Best S_val recorded by the previous stage's manifest (None for stage 1 or when absent)."""
    if int(cfg.stage.index) <= 1:
        return None
    p = stage_dir(cfg, int(cfg.stage.index) - 1) / "manifest.json"
    if not p.is_file():
        return None
    return json.loads(p.read_text()).get("score", {}).get("best")


def plateau_record(best: float | None, prev: float | None, mode: str, min_delta: float) -> dict[str, Any]:
    """Did this stage beat the previous one by ``min_delta``? (No previous stage: it did.)"""
    if best is None:
        return {"previous_best": prev, "improvement": None, "plateau": False}
    if prev is None:
        return {"previous_best": None, "improvement": None, "plateau": False}
    gain = (prev - best) if mode == "min" else (best - prev)
    return {"previous_best": prev, "improvement": gain, "plateau": bool(gain < min_delta)}


def data_files(cfg: Any) -> list[dict[str, Any]]:
    """Every local data file this stage read, with its sha256 (HF ids are recorded by name)."""
    paths = [cfg.data.get("path")] + list(cfg.stage.get("extra_train_files") or [])
    for comp in (cfg.data.get("components") or {}).values():  # a mixture reads each weighted component
        if comp is not None and float(comp.get("weight") or 0) > 0:
            paths.append(comp.get("path"))
    out = []
    for p in paths:
        if not p:
            continue
        pp = Path(str(p))
        files = sorted(pp.rglob("*")) if pp.is_dir() else [pp]
        for f in files:
            if f.is_file():
                out.append({"path": str(f), "sha256": file_sha256(f), "bytes": f.stat().st_size})
        if not pp.exists():
            out.append({"path": str(p), "sha256": None, "note": "not a local path (dataset id)"})
    uses_facts = cfg.data.source == "materials_facts" or any(
        (c.get("source") or name) == "materials_facts" and float(c.get("weight") or 0) > 0
        for name, c in (cfg.data.get("components") or {}).items()
        if c is not None
    )
    if uses_facts:
        from honeybee.data.materials_facts import TABLE_PATH

        out.append({"path": str(TABLE_PATH), "sha256": file_sha256(TABLE_PATH), "note": "embedded"})
    return out


def build_manifest(
    cfg: Any,
    parent: Path | None,
    resolved_cfg: dict[str, Any],
    metrics: dict[str, float],
    score: dict[str, Any],
    run_info: dict[str, Any],
    counts: dict[str, int],
) -> dict[str, Any]:
    return {
        "experiment": str(cfg.experiment_name),
        "stage": int(cfg.stage.index),
        "mode": str(cfg.stage.mode),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "base_model": {
            "name": cfg.model.name,
            "name_or_path": cfg.model.get("name_or_path"),
            "source": cfg.model.source,
            "resolved_path": run_info.get("model_path"),
            # what was loaded: source, path and sha256 of the weight files (or the hub revision)
            "loaded": run_info.get("loaded"),
        },
        "parent": None if parent is None else {"path": str(parent), "sha256": export_hash(parent)},
        "data": {"files": data_files(cfg), "counts": counts},
        "score": score,
        "metrics": metrics,
        "code": {"git": run_info.get("git"), "versions": run_info.get("versions")},
        "config": resolved_cfg,
    }


def compose_train_config(overrides: list[str], cwd: str | Path | None = None) -> Any:
    """Compose ``conf/train.yaml`` with ``overrides`` as train.py would, outside a running Hydra app.

    Hydra's runtime values (cwd, output dir) are filled in so every interpolation resolves; scripts use it to
    find the folders a run will write without re-deriving the conventions. ``cwd`` (where ``outputs/`` lives)
    defaults to the checkout, as train.py runs from there, or the current directory for an installed package.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import read_write

    from honeybee.utils.overrides import quote_numeric_groups
    from honeybee.utils.paths import CONF_DIR, checkout_root

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=quote_numeric_groups(overrides), return_hydra_config=True)
    cfg.hydra.runtime.cwd = str(cwd or checkout_root() or Path.cwd())
    HydraConfig.instance().set_config(cfg)  # hydra.run.dir resolves through ${hydra:runtime.cwd}
    with read_write(cfg.hydra):
        cfg.hydra.runtime.output_dir = str(cfg.hydra.run.dir)
    HydraConfig.instance().set_config(cfg)
    return cfg

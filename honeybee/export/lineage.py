"""What an export is made of, read from the run folders: the stages behind it (oldest first), the parent a
``stage.mode=merge`` stage was trained on top of, and the evaluation results to quote in its model card."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honeybee.model.export import check_export, read_meta
from honeybee.progressive.stages import find_export
from honeybee.utils.errors import ConfigError

MAX_STAGES = 64  # a parent chain longer than this is a loop in hand-edited metadata, not a real lineage


@dataclass
class StageInfo:
    """One trained stage.

    Attributes:
        export: Its ``adapter/`` or ``model/`` folder (None when the recorded parent no longer exists).
        meta: Its ``honeybee.json``.
        run_dir: The run/stage folder around ``export``, when there is one.
        manifest: The run's ``manifest.json`` ({} when absent).
        summary: The run's ``summary.json`` ({} when absent).
        config: The run's resolved ``config.yaml`` as a dict ({} when absent).
        missing: The recorded path of a parent that is gone.
    """

    export: Path | None
    meta: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    missing: str | None = None

    @property
    def mode(self) -> str:
        """``continue`` or ``merge`` (how this stage started from its parent); ``continue`` when unrecorded."""
        mode = self.manifest.get("mode") or (self.config.get("stage") or {}).get("mode")
        return str(mode or "continue")


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not a readable JSON file ({str(e).splitlines()[0]})") from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return obj


def _config(run_dir: Path) -> dict[str, Any]:
    p = run_dir / "config.yaml"
    if not p.is_file():
        return {}
    from omegaconf import OmegaConf

    try:
        cfg = OmegaConf.to_container(OmegaConf.load(p), resolve=False)
    except Exception as e:  # yaml and OmegaConf raise many types; the user needs the file and line 1
        raise ConfigError(f"{p}: unreadable ({str(e).splitlines()[0]})") from None
    return {str(k): v for k, v in cfg.items()} if isinstance(cfg, dict) else {}


def stage_info(export: Path) -> StageInfo:
    """Read one stage from its export folder and the run folder around it."""
    run = export.parent if export.name in ("adapter", "model") else None
    if run is not None and not ((run / "manifest.json").is_file() or (run / "config.yaml").is_file()):
        run = None
    meta = read_meta(export) if (export / "honeybee.json").is_file() else {}
    if run is None:
        return StageInfo(export, meta)
    return StageInfo(
        export, meta, run, _json(run / "manifest.json"), _json(run / "summary.json"), _config(run)
    )


def lineage(export: Path) -> list[StageInfo]:
    """The stages that led to ``export``, oldest first, following each ``honeybee.json``'s ``parent``.

    A parent that no longer exists ends the chain with a ``missing`` entry (the card says so); it is an
    error only where its weights are needed (:func:`merged_parent`).
    """
    chain = [stage_info(export)]
    while len(chain) < MAX_STAGES:
        parent = chain[-1].meta.get("parent")
        if not parent:
            break
        found = find_export(Path(str(parent))) if Path(str(parent)).is_dir() else None
        if found is None:
            chain.append(StageInfo(None, missing=str(parent)))
            break
        chain.append(stage_info(found))
    return chain[::-1]


def merged_parent(stage: StageInfo) -> Path | None:
    """The parent export that was folded into the base before ``stage`` trained (``stage.mode=merge``).

    Training merges only the direct parent into the base (``honeybee.progressive.stages.attach_parent``), so
    the model a merge-mode stage is, and was evaluated as, is base + parent + its own adapter.

    Raises:
        ConfigError: the stage was trained with ``stage.mode=merge`` and its parent is gone or damaged.
    """
    if stage.mode != "merge" or not stage.meta.get("parent") or stage.export is None:
        return None
    if not (stage.export / "adapter_config.json").is_file():
        return None  # a full finetune's model/ already holds the merged parent
    given = Path(str(stage.meta["parent"]))
    parent = find_export(given) if given.is_dir() else None
    if parent is None:
        raise ConfigError(
            f"{stage.export} was trained on top of {given} merged into the base (stage.mode=merge), "
            "and that folder is gone: the adapter alone does not reproduce the model"
        )
    check_export(parent)
    return parent


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def evaluation_results(given: str | None, export: Path) -> list[dict[str, Any]]:
    """The evaluate.py results to quote for ``export``: ``given`` is an evaluate.py output folder (one run's
    report folder, or the folder holding one per run) or a ``results.json``.

    Only results computed on this very export are taken, so a card never quotes another model's numbers.

    Returns:
        One ``{"label", "results", "counts", "settings", "path"}`` per matching results.json (empty for None).

    Raises:
        ConfigError: ``given`` does not exist, holds no results.json, or none of them is for ``export``.
    """
    if not given:
        return []
    p = Path(given).expanduser()
    if p.is_file():
        files = [p]
    elif p.is_dir():
        files = [p / "results.json"] if (p / "results.json").is_file() else sorted(p.glob("*/results.json"))
    else:
        raise ConfigError(f"eval={given}: no such file or folder (give an evaluate.py output folder)")
    if not files:
        raise ConfigError(
            f"eval={given}: no results.json in it or its sub-folders (an evaluate.py output folder)"
        )
    out, others = [], []
    for f in files:
        body = _json(f)
        source = (body.get("settings") or {}).get("source") or {}
        evaluated = source.get("export")
        if evaluated and Path(str(evaluated)).resolve() == export.resolve():
            out.append({**body, "path": str(f)})
        else:
            others.append(str(evaluated or source.get("label") or f))
    if not out:
        raise ConfigError(
            f"eval={given}: its results are for {', '.join(others)}, not {export}; "
            "evaluate this run (python evaluate.py runs=[<run>]) and pass that folder"
        )
    return out


def is_count(metric: str) -> bool:
    """Record counts (``n``, ``ner.n``, ``n_dropped``) size a score; they are not scores themselves."""
    last = metric.rsplit(".", 1)[-1]
    return last == "n" or last.startswith("n_")


def metric_rows(results: dict[str, Any]) -> list[tuple[str, str, float, float | None]]:
    """``(task, metric, value, n)`` for every finite score in ``{task: {metric: value or {sub: value}}}``;
    ``n`` is the record count beside it (``band_gap.n`` for ``band_gap.mae``, else the task's ``n``)."""
    rows = []
    for task, metrics in (results or {}).items():
        if not isinstance(metrics, dict):
            continue
        flat: dict[str, Any] = {}
        for name, value in metrics.items():
            if isinstance(value, dict):
                flat |= {f"{name}.{k}": v for k, v in value.items()}
            else:
                flat[str(name)] = value
        for name, value in flat.items():
            if is_count(name) or not _finite(value):
                continue
            prefix = name.rsplit(".", 1)[0] if "." in name else None
            sized = [flat.get(f"{prefix}.n") if prefix else None, flat.get("n")]
            n = next((float(x) for x in sized if x is not None and _finite(x)), None)
            rows.append((task, name, float(value), n))
    return rows

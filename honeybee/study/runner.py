"""Running a study's cells: train (in this process, through the train task) and evaluate, one cell at a time.

Layout of ``outputs/<study><tag>/``::

    study.json                  the plan (rows, tasks, cells): written at plan time, read by the report
    runs/<variant>-seed<s>/<model>/stage<N>/   each training run (a normal train.py run folder)
    cells/<cell id>/eval/       evaluate.py's output for the cell (results.json, predictions, plots)
    cells/<cell id>/result.json the cell's numbers: written last, atomically, so it exists only for a finished cell

Resumability: a rerun skips every cell with a ``result.json``. A cell killed while training leaves a run folder
without ``manifest.json`` (train.py writes it last), which the rerun clears and trains again; a cell killed while
evaluating keeps its finished training run and only re-evaluates. So a SIGKILL loses at most the cell in progress.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from honeybee.study.cellio import eval_extras, flatten_metrics, per_record, read_curves
from honeybee.study.plan import Cell, check, study_record, task_columns
from honeybee.utils.cfg import to_dict
from honeybee.utils.errors import ConfigError, HoneybeeError
from honeybee.utils.io import atomic_write_json, atomic_write_jsonl
from honeybee.utils.overrides import quote_numeric_groups
from honeybee.utils.paths import CONF_DIR

log = logging.getLogger(__name__)


def study_dir(cfg: DictConfig) -> Path:
    return Path(str(cfg.paths.log_dir)) / f"{cfg.study.name}{cfg.study.get('tag') or ''}"


def result_path(root: Path, cell_id: str) -> Path:
    return root / "cells" / cell_id / "result.json"


def is_done(root: Path, cell_id: str) -> bool:
    return result_path(root, cell_id).is_file()


def _recipe(record: dict[str, Any]) -> dict[str, Any]:
    """What decides a cell's numbers, per cell id: its training overrides and the evaluation settings."""
    shared = {"eval": record.get("eval"), "knobs": record.get("knobs")}
    return {c["id"]: {"train": c["train"], "union": c["union"], **shared} for c in record["plan"]}


def prepare(cfg: DictConfig) -> tuple[Path, list[Cell]]:
    """Plan the study and write ``study.json`` (atomically; the same plan on every rerun).

    Raises:
        ConfigError: the folder holds finished cells of a different recipe (other steps, data, evaluation):
            reusing them would mix two studies in one table, so the rerun needs another ``study.tag``.
    """
    cells = check(cfg.study)
    root = study_dir(cfg)
    record = study_record(cfg.study, cells)
    record["eval"] = to_dict(cfg.study.eval, resolve=False)
    record["knobs"] = {k: cfg.study.get(k) for k in ("lr_scale", "replay", "val_every")}
    old_path = root / "study.json"
    if old_path.is_file():
        old = _recipe(json.loads(old_path.read_text(encoding="utf-8")))
        new = _recipe(record)
        changed = [c for c, r in new.items() if c in old and old[c] != r and is_done(root, c)]
        if changed:
            raise ConfigError(
                f"{root} holds {len(changed)} finished cell(s) of another recipe (e.g. {changed[0]}: other "
                "steps, data or evaluation): give this one its own folder with study.tag=-<name>, or remove "
                f"{root}"
            )
    atomic_write_json(old_path, record)
    return root, cells


def study_choice(group: str) -> str | None:
    """The option the study's own command line picked for config group ``group`` (None outside Hydra)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        choice = HydraConfig.get().runtime.choices.get(group)
    except ValueError:
        return None
    return None if choice in (None, "null") else str(choice)


def logger_choice(cfg: DictConfig) -> str:
    """The ``logger=`` option the study was given (csv unless wandb / tensorboard / many was chosen)."""
    return study_choice("logger") or ("wandb" if "wandb" in (cfg.get("logger") or {}) else "csv")


# ------------------------------------------------------------------------------------------ in-process configs


def compose(config_name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with ``overrides`` as a Hydra app would, including its ``hydra`` node.

    Built on Hydra's config loader rather than ``hydra.compose``: this runs inside the study's own Hydra app,
    whose global state must stay as it is. The chosen stage's ``stage_overrides`` (an experiment's per-stage
    data) come first, as train.py applies them.
    """
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.types import RunMode

    from honeybee.cli import stage_overrides

    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONF_DIR)))
    ov = quote_numeric_groups([str(o) for o in overrides])

    def load(o: list[str]) -> DictConfig:
        return loader.load_configuration(config_name=config_name, overrides=o, run_mode=RunMode.RUN)

    cfg = load(ov)
    if config_name == "train" and (extra := stage_overrides(cfg)):
        cfg = load(quote_numeric_groups(extra) + ov)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.runtime.cwd = os.getcwd()
        cfg.hydra.job.name = config_name
    return cfg


@contextmanager
def hydra_job(cfg: DictConfig) -> Iterator[DictConfig]:
    """``cfg`` without its ``hydra`` node, with ``HydraConfig`` pointing at ``cfg`` meanwhile (``${hydra:...}``,
    the run's choices); the study's own HydraConfig is restored after, and a W&B run the task left is finished."""
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.instance()
    prev = hc.cfg
    hc.set_config(cfg)
    task_cfg = copy.deepcopy(cfg)
    with open_dict(task_cfg):
        del task_cfg["hydra"]
    try:
        yield task_cfg
    finally:
        hc.cfg = prev
        wandb = sys.modules.get("wandb")
        if wandb is not None and getattr(wandb, "run", None) is not None:
            wandb.finish()


# --------------------------------------------------------------------------------------------------- cells


def run_dir(root: Path, cfg: DictConfig, cell: Cell) -> Path:
    return (
        root
        / "runs"
        / f"{cell.variant}-seed{cell.seed}"
        / str(cfg.study.model)
        / f"stage{max(cell.stage, 1)}"
    )


def _train_dir(root: Path, cfg: DictConfig, cell: Cell) -> Path:
    # The one-shot control is a stage-1 run of its own experiment (variant + seed).
    if cell.kind == "one-shot":
        return root / "runs" / f"{cell.variant}-seed{cell.seed}" / str(cfg.study.model) / "stage1"
    return run_dir(root, cfg, cell)


def _write_union(root: Path, cfg: DictConfig, cell: Cell) -> list[str]:
    """The one-shot control's extra training files: the train split of every later stage's data.

    Each is that data config's own seeded split, so the records a stage holds out (and the evaluation scores)
    stay out of the control's training too; a mixture config would split the union afresh and leak them.
    """
    from honeybee.data.datamodule import prepare_splits

    files = []
    for i, ov in enumerate(cell.union, start=2):
        path = root / "cells" / cell.id / "union" / f"stage{i}_train.jsonl"
        if not path.is_file():
            scfg = compose("train", [*ov, f"seed={cell.seed}"], path.parent)
            with hydra_job(scfg) as tcfg:
                train = prepare_splits(tcfg.data, int(tcfg.seed))["train"]
            atomic_write_jsonl(path, [r.to_dict() for r in train])
        files.append(str(path))
    return files


def train_cell(root: Path, cfg: DictConfig, cell: Cell) -> Path:
    """Train ``cell`` (unless its run already finished) and return its run folder."""
    out = _train_dir(root, cfg, cell)
    if (out / "manifest.json").is_file():
        log.info("%s: training already finished in %s (reused)", cell.id, out)
        return out
    if out.exists():
        log.info("%s: clearing the unfinished run in %s", cell.id, out)
        shutil.rmtree(out)
    study = cfg.study
    ov = list(cell.train)
    if cell.steps:
        every = study.get("val_every") or cell.steps
        ov += [
            "trainer.max_epochs=-1",
            "trainer.check_val_every_n_epoch=null",
            f"trainer.val_check_interval={min(int(every), cell.steps)}",
        ]
    ov.append(f"logger={logger_choice(cfg)}")
    if (hardware := study_choice("hardware")) not in (None, "auto"):
        ov.append(f"hardware={hardware}")  # the preset the SLURM jobs were sized for
    extra = _write_union(root, cfg, cell) if cell.kind == "one-shot" else []
    parent = None
    if cell.kind == "stage" and cell.stage > 1:
        parent = run_dir(root, cfg, Cell(**{**cell.as_dict(), "stage": cell.stage - 1}))
        if not (parent / "manifest.json").is_file():
            raise ConfigError(
                f"cell {cell.id}: its stage {cell.stage - 1} ({cell.depends_on}) has not finished"
            )
        if study.get("replay"):
            extra.append(str(parent / "splits" / "train.jsonl"))
    tcfg = compose("train", ov, out)
    with open_dict(tcfg):
        tcfg.paths.log_dir = str(root / "runs")
        tcfg.experiment_name = f"{cell.variant}-seed{cell.seed}"
        tcfg.run_name = cell.id
        tcfg.tags = [f"variant={cell.variant}", f"seed={cell.seed}", f"study={root.name}"] + [
            f"{k}={v}" for k, v in cell.swept.items()
        ]
        tcfg.optim.lr = float(tcfg.optim.lr) * float(study.get("lr_scale", 1.0))
        if parent is not None:
            tcfg.stage.init_from = str(parent)
        tcfg.stage.extra_train_files = [*list(tcfg.stage.get("extra_train_files") or []), *extra]
        wandb = (tcfg.get("logger") or {}).get("wandb")
        if wandb is not None:
            wandb.group = root.name
            wandb.job_type = cell.job_type
            wandb.name = cell.id
    from honeybee.training.task import train

    with hydra_job(tcfg) as task_cfg:
        train(task_cfg)
    return out


def evaluate_cell(root: Path, cfg: DictConfig, cell: Cell, train_dir: Path | None) -> dict[str, Any]:
    """Evaluate the cell's model (or the base model) on every study task; ``results.json`` as evaluate wrote it."""
    study = cfg.study
    out = root / "cells" / cell.id / "eval"
    if out.exists():
        shutil.rmtree(out)
    tasks = ",".join(str(t) for t in study.eval.tasks)
    ov = [f"tasks=[{tasks}]", "use_run_splits=false"]
    ov += [f"runs=[{train_dir}]"] if train_dir else ["runs=[base]", f"model={study.model}"]
    if study.eval.get("limit") is not None:
        ov.append(f"limit={int(study.eval.limit)}")
    ov += [str(o) for o in study.eval.get("overrides") or []]
    ecfg = compose("evaluate", ov, out)
    from honeybee.evaluation.task import evaluate

    with hydra_job(ecfg) as task_cfg:
        evaluate(task_cfg)
    found = [p for p in out.glob("*/results.json") if p.parent.name != "comparison"]
    if len(found) != 1:
        raise HoneybeeError(f"cell {cell.id}: expected one results.json under {out}, found {len(found)}")
    return {"path": str(found[0]), **json.loads(found[0].read_text(encoding="utf-8"))}


def run_cell(root: Path, cfg: DictConfig, cell: Cell) -> dict[str, Any]:
    """Train (unless base) and evaluate ``cell``; write its ``result.json`` last. Returns the result."""
    t0 = time.perf_counter()
    log.info("study %s: cell %s", root.name, cell.id)
    train_dir = None
    train_wall = root / "cells" / cell.id / "train_wall.json"
    if cell.kind != "base":
        fresh = not (_train_dir(root, cfg, cell) / "manifest.json").is_file()
        t_train = time.perf_counter()
        train_dir = train_cell(root, cfg, cell)
        if fresh:
            atomic_write_json(train_wall, {"wall_s": time.perf_counter() - t_train})
    t_eval = time.perf_counter()
    evaluated = evaluate_cell(root, cfg, cell, train_dir)
    eval_wall = time.perf_counter() - t_eval
    summary = json.loads((train_dir / "summary.json").read_text()) if train_dir else {}
    train_s = json.loads(train_wall.read_text())["wall_s"] if train_wall.is_file() else 0.0
    result = {
        "cell": cell.id,
        "row": cell.row,
        "variant": cell.variant,
        "stage": cell.stage,
        "seed": cell.seed,
        "swept": cell.swept,
        "status": "done",
        "metrics": flatten_metrics(evaluated.get("results") or {}),
        "per_record": per_record(Path(evaluated["path"]).parent),
        **eval_extras(evaluated, [str(t["key"]) for t in task_columns(cfg.study)]),
        "cost": {
            "wall_s": round(time.perf_counter() - t0, 3),
            "train_wall_s": round(train_s, 3),
            "train_tokens": int((summary.get("throughput") or {}).get("tokens") or 0),
            "train_steps": int(summary.get("global_step") or 0),
            "eval_wall_s": round(eval_wall, 3),
        },
        "curves": read_curves(train_dir) if train_dir else {"train_loss": [], "val_loss": []},
        "run_dir": str(train_dir) if train_dir else None,
        "eval_results": evaluated["path"],
        "config": {"train_overrides": cell.train, "swept": cell.swept, "steps": cell.steps},
    }
    # Written last: its existence marks the cell finished for reruns, the sweeper and the report.
    atomic_write_json(result_path(root, cell.id), result)
    log.info("cell %s done in %.1f s", cell.id, result["cost"]["wall_s"])
    return result


def run_cells(root: Path, cfg: DictConfig, cells: list[Cell], only: str | None = None) -> list[str]:
    """Run every unfinished cell (or just ``only``) in plan order; returns the ids run now."""
    chosen = [c for c in cells if only is None or c.id == only]
    if only is not None and not chosen:
        raise ConfigError(f"study.cell={only}: no such cell (cells: {', '.join(c.id for c in cells)})")
    ran = []
    for c in chosen:
        if is_done(root, c.id):
            log.info("cell %s: finished earlier (skipped)", c.id)
            continue
        run_cell(root, cfg, c)
        ran.append(c.id)
    return ran

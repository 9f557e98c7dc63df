"""Planning a study: its config (``conf/study/<name>.yaml``) -> the cells to run, checked, with a cost estimate.

A *cell* is one model to evaluate: the untouched base model, one progressive stage of one variant and seed, or
the one-shot control of one variant and seed. A *variant* is one combination of the swept keys
(``study.grid``); a *row* of the results table is a variant's stage (or the base / one-shot control) with its
seeds pooled. Everything here is pure (no model, no files): the entry validates and dry-runs with it, the
runner and the Hydra sweeper launch what it returns.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from omegaconf import ListConfig, OmegaConf

from honeybee.utils.cfg import to_dict
from honeybee.utils.errors import ConfigError
from honeybee.utils.overrides import group_options
from honeybee.utils.paths import CONF_DIR

# Which way each metric improves; a metric not listed (and not ending in one of these) counts as higher-better.
LOWER_IS_BETTER = ("mae", "rmse", "loss", "perplexity", "parse_fail", "missing", "error", "nll", "range_rate")


@dataclass
class Cell:
    """One model to evaluate (and, unless it is the base model, to train first)."""

    id: str
    row: str
    label: str
    variant: str
    stage: int
    seed: int | None
    kind: str  # base | stage | one-shot
    swept: dict[str, Any] = field(default_factory=dict)
    depends_on: str | None = None
    train: list[str] = field(default_factory=list)  # train.py overrides (the runner adds paths, parent, W&B)
    steps: int | None = None
    union: list[list[str]] = field(default_factory=list)  # one-shot: overrides whose train splits join
    job_type: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dict(node: Any, resolve: bool = False) -> dict[str, Any]:
    """A config node (or None / a plain dict) as a plain dict."""
    if node is None:
        return {}
    if isinstance(node, dict):
        return node
    return to_dict(node, resolve=resolve)


def higher_is_better(metric: str) -> bool:
    m = metric.lower()
    return not any(k in m for k in LOWER_IS_BETTER)


def _stages(study: Any) -> dict[int, Any]:
    raw = _dict(study.get("stages"), False)
    out: dict[int, Any] = {}
    for k, v in raw.items():
        try:
            out[int(k)] = v or {}
        except (TypeError, ValueError):
            out[-1] = v  # reported by validate()
    return dict(sorted(out.items()))


def _grid(study: Any) -> list[dict[str, Any]]:
    raw = _dict(study.get("grid"), False)
    keys = list(raw)
    values = [list(v) if isinstance(v, list | tuple) else [v] for v in raw.values()]
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)] if keys else [{}]


def _short(key: str, value: Any) -> str:
    return f"{key.split('.')[-1]}{value}".replace("/", "_").replace("=", "")


def scaled(steps: int | None, scale: float) -> int | None:
    return None if steps is None else max(1, round(int(steps) * float(scale)))


def _stage_group(n: int) -> list[str]:
    # conf/stage has 1, 2, 3; stage 4 and up reuse stage 3's schedule with stage.index=N.
    return [f"stage={n}"] if n <= 3 else ["stage=3", f"stage.index={n}"]


def plan(study: Any) -> list[Cell]:
    """The cells of ``study`` (a ``cfg.study`` node) in launch order: base, then by stage, seed and variant."""
    stages = _stages(study)
    seeds = [int(s) for s in (study.get("seeds") or [])]
    scale = float(study.get("steps_scale", 1.0))
    common = [f"model={study.model}", *[str(o) for o in study.get("train_overrides") or []]]
    extra = [str(o) for o in study.get("extra_train_overrides") or []]
    cells: list[Cell] = []
    if study.get("base", True):
        cells.append(Cell("base", "base", "base model", "base", 0, None, "base"))
    grid = _grid(study)
    for n, st in stages.items():
        for seed in seeds:
            for combo in grid:
                variant = "progressive" + "".join(f"-{_short(k, v)}" for k, v in combo.items())
                cid = f"{variant}-s{n}-seed{seed}"
                steps = scaled(st.get("steps"), scale)
                ov = [*common, *[f"{k}={v}" for k, v in combo.items()], *_stage_group(n)]
                ov += [str(o) for o in st.get("overrides") or []]
                ov += [f"seed={seed}", *([f"trainer.max_steps={steps}"] if steps else []), *extra]
                dep = f"{variant}-s{n - 1}-seed{seed}" if n > 1 else None
                cells.append(
                    Cell(cid, f"{variant}/stage{n}", f"{variant}, stage {n}", variant, n, seed, "stage",
                         dict(combo), dep, ov, steps, job_type=f"stage{n}")
                )  # fmt: skip
    if study.get("one_shot", False) and stages:
        first = next(iter(stages.values()))
        total = [scaled(st.get("steps"), scale) for st in stages.values()]
        steps = sum(s for s in total if s) if all(total) else None
        for seed in seeds:
            for combo in grid:
                variant = "one-shot" + "".join(f"-{_short(k, v)}" for k, v in combo.items())
                swept = [f"{k}={v}" for k, v in combo.items()]
                ov = [*common, *swept, "stage=1", *[str(o) for o in first.get("overrides") or []]]
                ov += [f"seed={seed}", *([f"trainer.max_steps={steps}"] if steps else []), *extra]
                union = [
                    [*common, *swept, *_stage_group(i), *[str(o) for o in st.get("overrides") or []]]
                    for i, st in list(stages.items())[1:]
                ]
                cells.append(
                    Cell(f"{variant}-seed{seed}", variant, f"{variant} (all stages' data at once)", variant,
                         len(stages), seed, "one-shot", dict(combo), None, ov, steps, union, "one-shot")
                )  # fmt: skip
    return cells


def waves(cells: list[Cell]) -> list[list[Cell]]:
    """Cells grouped so that every cell's dependency is in an earlier wave (base, stage 1, one-shot first)."""
    done: set[str] = set()
    left, out = list(cells), []
    while left:
        wave = [c for c in left if c.depends_on is None or c.depends_on in done]
        if not wave:
            raise ConfigError(
                f"study: cell {left[0].id} depends on {left[0].depends_on}, which is not planned"
            )
        out.append(wave)
        done |= {c.id for c in wave}
        left = [c for c in left if c.id not in done]
    return out


def rows(cells: list[Cell]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for c in cells:
        seen.setdefault(
            c.row,
            {"row": c.row, "label": c.label.split(" (")[0], "variant": c.variant, "stage": c.stage,
             "swept": c.swept},
        )  # fmt: skip
    return list(seen.values())


def validate(study: Any, check_train: Any = None) -> list[str]:
    """Every problem with a ``cfg.study`` node, one line each naming the key (empty: fine).

    ``check_train(overrides) -> problem | None`` composes a train config (the entry passes one built on
    :func:`honeybee.cli.check_overrides`); without it overrides are not checked.
    """
    p: list[str] = []
    if not str(study.get("name") or "").strip():
        p.append("study.name: empty")
    if not study.get("model"):
        p.append("study.model: empty (e.g. smollm2_135m)")
    seeds = study.get("seeds")
    if not seeds:
        p.append("study.seeds: empty (give at least one seed; >= 3 for a spread)")
    elif any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds):
        p.append(f"study.seeds: {list(seeds)} must be integers >= 0")
    elif len(set(seeds)) != len(seeds):
        p.append(f"study.seeds: {list(seeds)} repeats a seed")
    scale = study.get("steps_scale", 1.0)
    if not isinstance(scale, int | float) or isinstance(scale, bool) or not (0 < scale < math.inf):
        p.append(f"study.steps_scale={scale} must be a number > 0")
    raw = _dict(study.get("stages"), False)
    idx: list[int] = []
    for k, st in raw.items():
        try:
            n = int(k)
        except (TypeError, ValueError):
            p.append(f"study.stages.{k}: stage keys must be 1, 2, ...")
            continue
        idx.append(n)
        steps = (st or {}).get("steps")
        if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
            p.append(
                f"study.stages.{k}.steps={steps} must be an integer >= 1 (or null: the epochs of the config)"
            )
    if idx and sorted(idx) != list(range(1, len(idx) + 1)):
        missing = next(i for i in range(1, max(idx) + 1) if i not in idx)
        p.append(
            f"study.stages: stage {missing} is missing (stages must be 1..N without a gap; got {sorted(idx)})"
        )
    grid = _dict(study.get("grid"), False)
    for k, v in grid.items():
        if isinstance(v, list | tuple) and not v:
            p.append(f"study.grid.{k}: empty list of values (an empty grid runs nothing)")
    if not raw and not study.get("base", True):
        p.append("study.stages: empty grid (no stage and no base model: nothing to run)")
    tasks = list((study.get("eval") or {}).get("tasks") or [])
    known = group_options(CONF_DIR, "eval_task") or []
    raw_ovs = (study.get("eval") or {}).get("overrides") or []
    # unresolved: an override's ${...} needs a Hydra app
    ovs = OmegaConf.to_container(raw_ovs, resolve=False) if isinstance(raw_ovs, ListConfig) else raw_ovs
    harness = any(str(o).startswith("harness=") for o in ovs or [])
    if not tasks and not harness:
        p.append(f"study.eval.tasks: empty (choose from: {', '.join(known)})")
    for t in tasks:
        if str(t) not in known:
            p.append(f"study.eval.tasks: unknown task {str(t)!r} (choose from: {', '.join(known)})")
    if check_train is not None and not p:
        p += _check_overrides(study, check_train)
    return p


def _check_overrides(study: Any, check_train: Any) -> list[str]:
    """Compose each distinct train config once; a swept key or stage override that does not compose is named."""
    p: list[str] = []
    base = [f"model={study.model}", *[str(o) for o in study.get("train_overrides") or []]]
    if problem := check_train(base):
        return [f"study.model / study.train_overrides: {problem}"]
    for k, values in _dict(study.get("grid"), False).items():
        for v in values if isinstance(values, list | tuple) else [values]:
            if problem := check_train([*base, f"{k}={v}"]):
                p.append(f"study.grid.{k}: {problem}")
                break
    if p:
        return p
    for n, st in _stages(study).items():
        ov = [*base, *_stage_group(n), *[str(o) for o in (st or {}).get("overrides") or []]]
        if problem := check_train(ov):
            p.append(f"study.stages.{n}.overrides: {problem}")
    extra = [str(o) for o in study.get("extra_train_overrides") or []]
    if extra and not p and (problem := check_train([*base, *extra])):
        p.append(f"study.extra_train_overrides: {problem}")
    return p


def check(study: Any, check_train: Any = None) -> list[Cell]:
    """Validate, then plan; raises one ConfigError listing every problem."""
    problems = validate(study, check_train)
    if problems:
        raise ConfigError("; ".join(problems))
    cells = plan(study)
    if not cells:
        raise ConfigError("study.stages: empty grid (no cell to run)")
    return cells


def task_columns(study: Any) -> list[dict[str, Any]]:
    """The metrics the report tabulates (``study.eval.metrics``: ``{task: [metric, ...]}``); ``lm_eval`` columns
    (``{lm_eval: [<harness task>/acc]}``) come from ``harness=lm_eval`` in ``study.eval.overrides``."""
    out = []
    wanted = to_dict((study.get("eval") or {}).get("metrics") or {}, resolve=False)
    tasks = [str(t) for t in (study.get("eval") or {}).get("tasks") or []]
    for t in [*tasks, *(["lm_eval"] if "lm_eval" in wanted and "lm_eval" not in tasks else [])]:
        for m in wanted.get(str(t)) or []:
            out.append(
                {"key": f"{t}/{m}", "task": str(t), "metric": str(m), "higher_is_better": higher_is_better(m)}
            )
    return out


def estimate(study: Any, cells: list[Cell]) -> dict[str, Any]:
    """GPU hours of the plan from ``study.cost`` (documented knobs, not measurements).

    Training: steps x tokens_per_step / (train_tokens_per_s_per_gpu x gpus) per run, x gpus for GPU hours;
    evaluation: eval_gpu_hours_per_cell for every cell (the base model included).
    """
    cost = _dict(study.get("cost"), True)
    stages = _stages(study)
    gpus = int(cost.get("gpus", 1))
    tps = float(cost.get("train_tokens_per_s_per_gpu", 1000.0))
    per_step = float(cost.get("tokens_per_step", 4096))
    eval_h = float(cost.get("eval_gpu_hours_per_cell", 0.0))
    scale = float(study.get("steps_scale", 1.0))
    train_h, per_cell = 0.0, {}
    for c in cells:
        steps = c.steps
        if c.kind == "stage" and steps is None:
            steps = scaled(stages[c.stage].get("est_steps"), scale)
        if c.kind == "one-shot" and steps is None:
            steps = sum(scaled(st.get("est_steps"), scale) or 0 for st in stages.values())
        h = (steps or 0) * per_step / (tps * gpus) / 3600 * gpus if c.kind != "base" else 0.0
        per_cell[c.id] = {"steps": steps, "train_gpu_h": h, "eval_gpu_h": eval_h}
        train_h += h
    return {
        "cells": per_cell,
        "train_gpu_hours": train_h,
        "eval_gpu_hours": eval_h * len(cells),
        "total_gpu_hours": train_h + eval_h * len(cells),
        "gpus": gpus,
        "wall_hours": (train_h + eval_h * len(cells)) / gpus,
    }


def study_record(study: Any, cells: list[Cell]) -> dict[str, Any]:
    """What ``outputs/<study>/study.json`` holds (the report reads it)."""
    return {
        "name": str(study.name),
        "tag": str(study.get("tag") or ""),
        "model": str(study.model),
        "seeds": [int(s) for s in study.seeds],
        "swept": {k: list(v) if isinstance(v, list | tuple) else [v] for k, v in
                  _dict(study.get("grid"), False).items()},
        "rows": rows(cells),
        "tasks": task_columns(study),
        "cells": [c.id for c in cells],
        "plan": [c.as_dict() for c in cells],
    }  # fmt: skip

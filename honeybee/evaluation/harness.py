"""lm-evaluation-harness as an evaluation backend: ``evaluate.py ... harness=lm_eval harness.tasks=[...]``.

The harness runs in-process (``lm_eval.simple_evaluate``) over an ``HFLM`` wrapped around the model honeybee
already loaded (base plus merged adapter, or a full finetune), so the weights are the ones honeybee trained;
prompts are the harness tasks' own (honeybee's tasks exported by ``honeybee.evaluation.lm_eval_tasks`` carry
honeybee's prompts). Its metrics land in the run's ``results.json`` as the task ``lm_eval``, metric
``<harness task>/<metric>`` (and ``<metric>_stderr``), so a study can tabulate ``lm_eval/<task>/acc`` beside
honeybee's own columns. Each metric also gets the same 95 % bootstrap interval as honeybee's metrics, over the
harness's per-document values where it logs them (acc, acc_norm, exact_match, ...), else from its stderr
(normal approximation). The per-document samples are written to ``predictions/lm_eval.jsonl``.
"""

from __future__ import annotations

import difflib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honeybee.utils.errors import ConfigError

log = logging.getLogger(__name__)

TASK = "lm_eval"


@dataclass
class HarnessPlan:
    """What the harness will run, checked before any model loads."""

    tasks: list[str]
    include_path: list[str]
    num_fewshot: int | None
    limit: int | float | None
    batch_size: int
    manager: Any


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def plan(cfg: Any) -> HarnessPlan | None:
    """The harness run of ``cfg.harness`` (None without one).

    Raises:
        ConfigError: lm-eval is not installed, no tasks, an include path that does not exist, or a task the
            harness does not know (one line, with the closest known names).
    """
    h = cfg.get("harness")
    if not h:
        return None
    try:
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # local task files: never reach for the hub
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise ConfigError("harness=lm_eval needs lm-eval: pip install 'lm-eval>=0.4.13'") from None
    tasks = _as_list(h.get("tasks"))
    if not tasks:
        raise ConfigError(
            "harness.tasks is empty: name the lm-eval tasks to run, e.g. harness.tasks=[arc_easy]"
        )
    paths = _as_list(h.get("include_path"))
    for p in paths:
        if not Path(p).is_dir():
            raise ConfigError(f"harness.include_path: {p} does not exist (or is not a folder)")
    # Indexing lm-eval's own ~15k task configs takes ~20 s: look in the include path alone first.
    manager = TaskManager(include_path=paths or None, include_defaults=not paths)
    if paths and any(t not in manager.all_tasks for t in tasks):
        manager = TaskManager(include_path=paths)
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        close = difflib.get_close_matches(unknown[0], manager.all_tasks, n=3)
        hint = f" (closest: {', '.join(close)})" if close else ""
        where = f" in {', '.join(paths)} or lm-eval's own tasks" if paths else " among lm-eval's tasks"
        raise ConfigError(f"harness.tasks: unknown lm-eval task {unknown[0]!r}{where}{hint}")
    limit = h.get("limit")
    return HarnessPlan(
        tasks,
        paths,
        None if h.get("num_fewshot") is None else int(h.num_fewshot),
        None if limit is None else (float(limit) if float(limit) < 1 else int(limit)),
        int(h.get("batch_size") or 16),
        manager,
    )


def metric_name(key: str) -> str:
    """lm-eval's ``acc,none`` -> ``acc``; another filter stays: ``exact_match,strict-match`` ->
    ``exact_match@strict-match``."""
    metric, _, filt = key.partition(",")
    return metric if filt in ("", "none") else f"{metric}@{filt}"


def run(
    p: HarnessPlan, gen: Any, bootstrap_settings: Any
) -> tuple[dict[str, Any], dict[str, Any], list[dict]]:
    """Run the harness on the loaded model: ``(metrics, intervals, sample rows)`` for results.json."""
    import numpy as np
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    from honeybee.evaluation.bootstrap import draws, percentile_interval

    lm = HFLM(pretrained=gen.model, tokenizer=gen.tokenizer, batch_size=p.batch_size)
    out = simple_evaluate(
        model=lm,
        tasks=p.tasks,
        num_fewshot=p.num_fewshot,
        limit=p.limit,
        task_manager=p.manager,
        log_samples=True,
        bootstrap_iters=1000,
        random_seed=0,
        numpy_random_seed=0,
        torch_random_seed=0,
        fewshot_random_seed=0,
    )
    metrics: dict[str, Any] = {}
    intervals: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for task, res in (out or {}).get("results", {}).items():
        samples = (out.get("samples") or {}).get(task) or []
        for key, value in res.items():
            if "," not in key or "_stderr" in key or not isinstance(value, (int, float)):
                continue
            name = f"{task}/{metric_name(key)}"
            metrics[name] = float(value)
            stderr = res.get(key.replace(",", "_stderr,", 1))
            if isinstance(stderr, (int, float)):
                metrics[f"{name}_stderr"] = float(stderr)
            per_doc = [s.get(key.split(",")[0]) for s in samples]
            if samples and all(isinstance(v, (int, float)) for v in per_doc):
                vals = np.array(per_doc, dtype=float)
                reps = [float(vals[i].mean()) for i in draws(["all"] * len(vals), bootstrap_settings)]
                intervals[name] = percentile_interval(reps, bootstrap_settings.confidence)
            elif isinstance(stderr, (int, float)):
                intervals[name] = [float(value) - 1.96 * stderr, float(value) + 1.96 * stderr]
        for s in samples:
            rows.append(
                {
                    "task": task,
                    "doc_id": s.get("doc_id"),
                    "target": s.get("target"),
                    "filtered_resps": s.get("filtered_resps"),
                    **{m: s.get(m) for m in s.get("metrics") or []},
                }
            )
    metrics["n"] = len(rows)
    return metrics, intervals, rows

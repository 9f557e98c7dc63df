"""What a cell's ``result.json`` holds besides its cost, read from its evaluation and run folders.

``metrics`` (every number of ``results.json``, flattened to ``task/metric``), ``per_record`` (0/1 outcomes
for the paired McNemar test), ``intervals`` (each metric's 95 % bootstrap interval over records), ``replicates``
(the bootstrap replicates of the report's table metrics: the report averages them over seeds for a row's
interval and differences them between rows for paired intervals; every cell of a study draws the same records
in replicate ``b``), ``records`` (per task: how many, their hash, the evaluation seconds) and the loss
``curves``.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any


def flatten_metrics(results: dict[str, Any]) -> dict[str, float]:
    """``{task: {metric: value, sub: {...}}}`` -> ``{"task/metric": v, "task/sub/metric": v}``; numbers only."""
    out: dict[str, float] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}/{k}" if prefix else str(k), v)
        elif isinstance(node, int | float) and not isinstance(node, bool) and math.isfinite(float(node)):
            out[prefix] = float(node)

    walk("", results)
    return out


def per_record(eval_dir: Path) -> dict[str, list[int]]:
    """0/1 correctness per evaluated record, in record order (the same records for every cell), for each metric
    that is the mean of it: DARWIN's ``classification.accuracy`` and ``<property>.accuracy``, a MatSci-NLP
    label task's ``<task>.micro_f1`` (one label per record: micro-F1 = accuracy) and SciInstruct's accuracy;
    for likelihood-scored rows also ``<property>.acc_norm`` / ``<task>.acc_norm``.
    The report pairs them with the base model's for an exact McNemar test."""
    out: dict[str, list[int]] = {}
    for task in ("darwin_fair", "matsci_nlp", "sciinstruct"):
        path = eval_dir / "predictions" / f"{task}.jsonl"
        if not path.is_file():
            continue
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for r in rows:
            if "correct" not in r:
                continue
            if task == "darwin_fair":
                keys = ["classification.accuracy", f"{r.get('property')}.accuracy"]
            elif task == "matsci_nlp":
                keys = [f"{r.get('task')}.micro_f1", f"{r.get('task')}.accuracy"]
            else:
                keys = ["accuracy"]
            for k in keys:
                out.setdefault(f"{task}/{k}", []).append(int(bool(r["correct"])))
            if "correct_norm" in r:  # likelihood-scored: acc_norm is the mean of its own 0/1 outcomes
                norm = dict.fromkeys(
                    k.rsplit(".", 1)[0] + ".acc_norm" for k in keys if not k.startswith("classification.")
                )
                for k in norm:
                    out.setdefault(f"{task}/{k}", []).append(int(bool(r["correct_norm"])))
    return out


def read_curves(run: Path) -> dict[str, list[list[float]]]:
    """``train_loss`` and ``val_loss`` as ``[[step, value], ...]`` from the run's ``metrics.csv``."""
    curves: dict[str, list[list[float]]] = {"train_loss": [], "val_loss": []}
    path = run / "metrics.csv"
    if not path.is_file():
        return curves
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for col, key in (("train/loss", "train_loss"), ("val/loss", "val_loss")):
                if row.get(col) not in (None, "") and row.get("step") not in (None, ""):
                    curves[key].append([float(row["step"]), float(row[col])])
    return curves


def eval_extras(evaluated: dict[str, Any], table_keys: list[str]) -> dict[str, Any]:
    """``intervals``, ``replicates`` (of ``table_keys`` only: they are what the report pairs) and ``records``
    of an evaluation (``evaluated``: its results.json body plus ``path``)."""
    folder = Path(evaluated["path"]).parent
    intervals = {
        f"{t}/{m}": iv for t, ms in (evaluated.get("intervals") or {}).items() for m, iv in ms.items()
    }
    reps: dict[str, list[float | None]] = {}
    boot = folder / "bootstrap.json"
    if boot.is_file():
        body = json.loads(boot.read_text(encoding="utf-8"))
        for key in table_keys:
            task, _, metric = key.partition("/")
            if metric in (body.get(task) or {}):
                reps[key] = body[task][metric]
    records = {
        t: {"n": c.get("records"), "hash": c.get("records_hash"), "seconds": c.get("seconds")}
        for t, c in (evaluated.get("counts") or {}).items()
    }
    return {"intervals": intervals, "replicates": reps, "records": records}

"""Bootstrap intervals for every metric of a task, over its records.

A replicate resamples the task's prediction rows with replacement, within each stratum (the task's sub-task or
property, so every sub-task keeps its size), and recomputes the task's own ``metrics`` on them: any metric,
accuracy or F1 or MAE or perplexity, gets an interval the same way, and it is recomputable from the predictions
file. The 95 % interval is the percentile interval of the replicates (seeded numpy ``default_rng``; 1,000
resamples by default).

Replicate ``b`` of every evaluation with the same records, strata and seed draws the same records, so the
replicates of two models can be paired (a difference per replicate: the study's "progressive vs one-shot"
interval) and averaged over seeds (a row's interval). ``records_hash`` identifies the record list that makes the
pairing valid.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Metrics = Callable[[list[dict[str, Any]]], dict[str, Any]]

# A metric defined in fewer replicates than this share gets no interval (e.g. R² of a property with 2 rows).
MIN_DEFINED = 0.9


@dataclass(frozen=True)
class Bootstrap:
    """Settings (``evaluate.yaml``'s ``bootstrap``): resamples, seed and confidence level."""

    resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        return {
            "resamples": self.resamples,
            "seed": self.seed,
            "confidence": self.confidence,
            "method": "percentile; records resampled with replacement within each sub-task (stratum)",
        }


def draws(strata: list[str], settings: Bootstrap) -> list[np.ndarray]:
    """The row indices of each replicate: within each stratum (sorted by name), as many draws as its rows."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(strata):
        groups.setdefault(s, []).append(i)
    members = [np.array(groups[k]) for k in sorted(groups)]
    rng = np.random.default_rng(settings.seed)
    return [
        np.concatenate([m[rng.integers(0, len(m), size=len(m))] for m in members])
        for _ in range(settings.resamples)
    ]


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(float(v)) else None


def _short(v: float | None) -> float | None:
    # 7 significant digits: far below any interval's width, and bootstrap.json stays a few hundred KB.
    return None if v is None else float(f"{v:.7g}")


def bootstrap(
    metrics: Metrics, rows: list[dict[str, Any]], strata: list[str], settings: Bootstrap
) -> tuple[dict[str, list[float] | None], dict[str, list[float | None]]]:
    """``(intervals, replicates)`` of every numeric metric ``metrics(rows)`` returns.

    Returns:
        intervals: metric -> ``[low, high]``, or None where the metric is undefined in too many replicates.
        replicates: metric -> the value in each replicate (None where undefined), in replicate order.
    """
    if not rows:
        return {}, {}
    point = metrics(rows)
    keys = [k for k, v in point.items() if _number(v) is not None]
    reps: dict[str, list[float | None]] = {k: [] for k in keys}
    for idx in draws(strata, settings):
        m = metrics([rows[i] for i in idx])
        for k in keys:
            reps[k].append(_short(_number(m.get(k))))
    alpha = (1 - settings.confidence) / 2
    intervals: dict[str, list[float] | None] = {}
    for k, vals in reps.items():
        ok = np.array([v for v in vals if v is not None])
        if len(ok) < MIN_DEFINED * settings.resamples:
            intervals[k] = None
            continue
        lo, hi = np.quantile(ok, [alpha, 1 - alpha])
        intervals[k] = [float(lo), float(hi)]
    return intervals, reps


def percentile_interval(values: Sequence[float | None], confidence: float = 0.95) -> list[float] | None:
    """The percentile interval of replicate values (None entries dropped); None if too few are defined."""
    ok = np.array([v for v in values if v is not None], dtype=float)
    if len(ok) == 0 or len(ok) < MIN_DEFINED * len(values):
        return None
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(ok, [alpha, 1 - alpha])
    return [float(lo), float(hi)]


def records_hash(rows: list[dict[str, Any]]) -> str:
    """A hash of the records behind the rows (instruction, input, reference, in order): equal hashes mean the
    same bootstrap draws pick the same records."""
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps([r.get("instruction"), r.get("input"), r.get("reference")]).encode("utf-8"))
    return h.hexdigest()[:16]

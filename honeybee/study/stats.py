"""Study statistics: per-row aggregates over seeds, significance against the base model, best per column.

Pure functions over plain numbers (no files). The tests, and why:

* **Seed-level test (†).** A row's metric over seeds is compared with the base model. The untouched base model
  is evaluated once (greedy decoding is deterministic), so with one base value the row's seed values are tested
  against it with a one-sample t-test (``scipy.stats.ttest_1samp``); when the base has two or more values
  (several base cells), a Welch t-test (``scipy.stats.ttest_ind(equal_var=False)``). This test carries the
  run-to-run (seed) variance, which is what a claim about a training method has to beat. A row with fewer than
  two finite values gets no test; a row whose seed values are all identical gets none either (t is undefined).
* **Paired per-record test (‡).** Where a metric has 0/1 per-record outcomes for the base and the row's cells
  (same record order), each seed gets an exact McNemar test: ``scipy.stats.binomtest`` on the discordant
  pairs (base right / row wrong vs base wrong / row right) with p = 0.5. The row is marked when every seed is
  significant, i.e. the row's p is the largest per-seed p. This intersection-union rule keeps the 0.05 level
  without a multiplicity correction; pooling the discordant pairs over seeds instead would count the same
  records several times as if they were independent and overstate significance.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

ALPHA = 0.05
DAGGER = "†"
DOUBLE_DAGGER = "‡"
SEED_TEST_ONE_SAMPLE = "one-sample t-test vs the single base value"
SEED_TEST_WELCH = "Welch t-test vs the base values"
PAIRED_TEST = "exact McNemar (binomial on discordant pairs), per seed, max p over seeds"


def finite(values: Sequence[Any]) -> list[float]:
    """The finite numbers in ``values`` (None, NaN, inf, bools and non-numbers dropped)."""
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if math.isfinite(float(v)):
            out.append(float(v))
    return out


def aggregate(values: Sequence[Any]) -> dict[str, Any]:
    """``{"mean", "std", "n", "n_missing"}`` of ``values``: std uses ddof=1 and is None when n < 2.

    ``n_missing`` counts the entries that are not finite numbers (a cell without the metric, a NaN).
    """
    xs = finite(values)
    n = len(xs)
    return {
        "mean": float(np.mean(xs)) if n else None,
        "std": float(np.std(xs, ddof=1)) if n >= 2 else None,
        "n": n,
        "n_missing": len(values) - n,
    }


def _p(value: Any) -> float | None:
    p = float(value)
    return p if math.isfinite(p) else None


def seed_test(row: Sequence[Any], base: Sequence[Any]) -> dict[str, Any]:
    """Significance of a row's seed values against the base values: ``{"test", "p", "reason"}``.

    One base value: one-sample t-test; two or more: Welch. ``p`` is None (with a ``reason``) when there is no
    test: fewer than two row values, no base value, or zero variance (t undefined).
    """
    from scipy import stats

    xs, bs = finite(row), finite(base)
    if not bs:
        return {"test": None, "p": None, "reason": "no base value"}
    if len(xs) < 2:
        return {"test": None, "p": None, "reason": f"n={len(xs)}"}
    one = len(bs) == 1
    test = SEED_TEST_ONE_SAMPLE if one else SEED_TEST_WELCH
    if np.ptp(xs) == 0 and (one or np.ptp(bs) == 0):
        return {"test": test, "p": None, "reason": "zero variance"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy warns on near-constant data; p comes back NaN
        res = stats.ttest_1samp(xs, bs[0]) if one else stats.ttest_ind(xs, bs, equal_var=False)
    p = _p(res.pvalue)
    return {"test": test, "p": p, "reason": None if p is not None else "t undefined"}


def mcnemar_exact(base: Sequence[Any], row: Sequence[Any]) -> dict[str, Any]:
    """Exact McNemar test of two paired 0/1 outcome lists: ``{"b", "c", "p"}``.

    ``b``: base right, row wrong; ``c``: base wrong, row right. With no discordant pair the two agree
    everywhere and p = 1.
    """
    from scipy import stats

    if len(base) != len(row):
        raise ValueError(f"per-record lists differ in length ({len(base)} vs {len(row)})")
    b = sum(1 for x, y in zip(base, row) if bool(x) and not bool(y))
    c = sum(1 for x, y in zip(base, row) if not bool(x) and bool(y))
    p = 1.0 if b + c == 0 else float(stats.binomtest(c, b + c, 0.5).pvalue)
    return {"b": b, "c": c, "p": p}


def paired_test(base: Sequence[Any] | None, seeds: Sequence[Sequence[Any] | None]) -> dict[str, Any] | None:
    """Per-seed exact McNemar against one base outcome list; the row's p is the max over seeds.

    None when the base or every seed lacks per-record data. A seed whose list has another length is skipped
    (its ``reason`` says so) rather than compared record by record with the wrong records.
    """
    if not base:
        return None
    per_seed: list[dict[str, Any]] = []
    for s in seeds:
        if not s:
            continue
        try:
            per_seed.append(mcnemar_exact(base, s))
        except ValueError as e:
            per_seed.append({"b": None, "c": None, "p": None, "reason": str(e)})
    ps = [t["p"] for t in per_seed if t["p"] is not None]
    if not ps:
        return None
    return {"test": PAIRED_TEST, "p": max(ps), "per_seed": per_seed}


def significant(p: float | None, alpha: float = ALPHA) -> bool:
    return p is not None and p < alpha


def best_rows(means: dict[str, float | None], higher_is_better: bool) -> list[str]:
    """The row(s) with the best finite mean by direction (all of them on a tie); [] when none is finite."""
    vals = {r: m for r, m in means.items() if m is not None and math.isfinite(m)}
    if not vals:
        return []
    best = max(vals.values()) if higher_is_better else min(vals.values())
    return [r for r, m in vals.items() if m == best]


def welch(a: Sequence[Any], b: Sequence[Any]) -> dict[str, Any]:
    """Difference of means (a - b) and the Welch t-test p: ``{"diff", "p", "n_a", "n_b", "reason"}``."""
    from scipy import stats

    xa, xb = finite(a), finite(b)
    out: dict[str, Any] = {"n_a": len(xa), "n_b": len(xb), "p": None, "reason": None}
    out["diff"] = float(np.mean(xa) - np.mean(xb)) if xa and xb else None
    if len(xa) < 2 or len(xb) < 2:
        out["reason"] = f"n={len(xa)} vs n={len(xb)}"
    elif np.ptp(xa) == 0 and np.ptp(xb) == 0:
        out["reason"] = "zero variance"
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out["p"] = _p(stats.ttest_ind(xa, xb, equal_var=False).pvalue)
        if out["p"] is None:
            out["reason"] = "t undefined"
    return out


def replicate_mean(replicates: Sequence[Sequence[Any]]) -> list[float | None]:
    """Replicate-wise mean over cells (seeds) of bootstrap replicates drawn on the same records: replicate ``b`` of
    the mean is the mean of each cell's replicate ``b`` (None where any cell's is undefined)."""
    if not replicates:
        return []
    n = min(len(r) for r in replicates)
    out: list[float | None] = []
    for b in range(n):
        vals = [r[b] for r in replicates]
        ok = finite(vals)
        out.append(float(np.mean(ok)) if len(ok) == len(vals) else None)
    return out


def interval(values: Sequence[Any], confidence: float = 0.95, min_defined: float = 0.9) -> list[float] | None:
    """Percentile interval of bootstrap replicate values; None when fewer than ``min_defined`` are finite."""
    ok = finite(values)
    if not ok or len(ok) < min_defined * len(values):
        return None
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(ok, [alpha, 1 - alpha])
    return [float(lo), float(hi)]


def paired_difference(
    a: Sequence[Sequence[Any]], b: Sequence[Sequence[Any]], confidence: float = 0.95
) -> dict[str, Any]:
    """Per-record paired difference of two rows, seed by seed, combined over seeds.

    ``a[s]`` and ``b[s]`` are the bootstrap replicates of the same metric for seed ``s`` of each row, drawn on the
    same records (replicate ``k`` resamples the same records in every cell): ``a[s][k] - b[s][k]`` is a paired
    replicate of the difference within seed ``s``, and their mean over seeds a replicate of the seed-averaged
    difference. Returns ``{"interval", "seeds"}`` (the interval None when there is nothing to pair).
    """
    diffs = []
    for ra, rb in zip(a, b):
        n = min(len(ra), len(rb))
        diffs.append([x - y if x is not None and y is not None else None for x, y in zip(ra[:n], rb[:n])])
    if not diffs:
        return {"interval": None, "seeds": 0}
    return {"interval": interval(replicate_mean(diffs), confidence), "seeds": len(diffs)}

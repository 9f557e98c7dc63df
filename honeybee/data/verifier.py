"""HoneyBee's Verifier rule: keep an instruction only if its scores clear the bar.

MatSci-Instruct records scored by a Verifier LLM carry ``accuracy``, ``relevance``, ``completeness`` and
``reasonableness`` (0-100). HoneyBee keeps a record when the mean is >= 95 and every score is >= 90.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from honeybee.data.records import Record
from honeybee.utils.errors import ConfigError, DataError

log = logging.getLogger(__name__)

CRITERIA = ("accuracy", "relevance", "completeness", "reasonableness")


def passes(
    scores: dict[str, float], min_mean: float = 95.0, min_each: float = 90.0
) -> tuple[bool, list[str]]:
    """Whether ``scores`` pass, and the reasons when they do not (``mean`` and/or the failing criteria)."""
    values = [float(scores[c]) for c in scores]
    failed = [c for c, v in scores.items() if float(v) < min_each]
    if sum(values) / len(values) < min_mean:
        failed.insert(0, "mean")
    return not failed, failed


def record_scores(record: Record, criteria: tuple[str, ...], where: str) -> dict[str, float] | None:
    """The record's verifier scores (top-level meta keys or ``meta.scores``); None when it has none."""
    scores = record.meta.get("scores")
    src = scores if isinstance(scores, dict) else record.meta
    present = [c for c in criteria if c in src]
    if not present:
        return None
    if len(present) != len(criteria):
        missing = sorted(set(criteria) - set(present))
        raise DataError(f"{where}: verifier scores incomplete, missing {missing}")
    try:
        return {c: float(src[c]) for c in criteria}
    except (TypeError, ValueError):
        raise DataError(
            f"{where}: verifier scores must be numbers, got {[src[c] for c in criteria]}"
        ) from None


def filter_records(records: list[Record], cfg: Any, name: str) -> list[Record]:
    """Apply the rule from ``cfg`` (``enabled``, ``min_mean``, ``min_each``, ``criteria``); log what was dropped.

    Records without scores are kept (unscored data such as the public MatSci-Instruct file) and counted.
    """
    cfg = cfg or {}  # a source config without a `verifier` node still gets HoneyBee's default rule
    if not cfg.get("enabled", True):
        return records
    min_mean, min_each = float(cfg.get("min_mean", 95)), float(cfg.get("min_each", 90))
    if not (0 <= min_each <= 100 and 0 <= min_mean <= 100):
        raise ConfigError(f"data.verifier: min_mean={min_mean} and min_each={min_each} must be within 0-100")
    criteria = tuple(cfg.get("criteria") or CRITERIA)
    kept: list[Record] = []
    unscored, reasons = 0, Counter[str]()
    for i, r in enumerate(records):
        scores = record_scores(r, criteria, f"{name}: record {i + 1}")
        if scores is None:
            unscored += 1
            kept.append(r)
            continue
        ok, failed = passes(scores, min_mean, min_each)
        if ok:
            kept.append(r)
        reasons.update(failed)
    dropped = len(records) - len(kept)
    log.info(
        "%s verifier filter (mean >= %g, each >= %g): kept %d, dropped %d, unscored %d (kept)%s",
        name,
        min_mean,
        min_each,
        len(kept),
        dropped,
        unscored,
        f"; failed: {dict(reasons)}" if reasons else "",
    )
    if not kept:
        raise DataError(
            f"{name}: the verifier filter dropped every record (min_mean={min_mean}, min_each={min_each})"
        )
    return kept

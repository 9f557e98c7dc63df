"""The short held-out check run before and after training: loss/perplexity plus task metrics from generation."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from honeybee.data.prompts import PromptStyle
from honeybee.data.records import Record
from honeybee.evaluation.extract import extract_number, snap_label
from honeybee.generation.engine import generate_batch


def heldout_loss(
    model: Any,
    tokenizer: Any,
    style: PromptStyle,
    records: list[Record],
    max_seq_len: int,
    batch_size: int = 16,
) -> dict[str, float]:
    """Token-weighted mean response loss and perplexity over ``records`` (those that fit ``max_seq_len``)."""
    from honeybee.evaluation.likelihood import response_nll

    scored = [
        x for x in response_nll(model, tokenizer, style, records, max_seq_len, batch_size) if x is not None
    ]
    mean = sum(n for n, _ in scored) / max(sum(k for _, k in scored), 1)
    return {"loss": mean, "perplexity": math.exp(min(mean, 50.0))}


def _interleave_by_property(records: list[Record], n: int) -> list[Record]:
    """Take up to ``n`` records round-robin over properties so every task is represented."""
    by: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by[str(r.meta.get("property", r.meta.get("task_type", "all")))].append(r)
    out: list[Record] = []
    queues = [list(v) for _, v in sorted(by.items())]
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    return out


def task_metrics(records: list[Record], completions: list[str]) -> dict[str, dict[str, float]]:
    """Per-property metrics: MAE + parse-failure rate (regression), accuracy (classification).

    A completion with no number counts as a parse failure and is left out of the MAE (reported beside it), so
    a model that answers in words is not rewarded with a small error.
    """
    from sklearn.metrics import accuracy_score, mean_absolute_error

    groups: dict[str, list[tuple[Record, str]]] = defaultdict(list)
    for r, c in zip(records, completions):
        if r.meta.get("task_type") in ("regression", "classification"):
            groups[str(r.meta.get("property"))].append((r, c))
    out: dict[str, dict[str, float]] = {}
    for prop, pairs in sorted(groups.items()):
        kind = pairs[0][0].meta["task_type"]
        if kind == "regression":
            parsed = [
                (float(r.meta["target"]), extract_number(c, str(r.meta.get("unit") or ""))) for r, c in pairs
            ]
            ok = [(t, p) for t, p in parsed if p is not None]
            out[prop] = {
                "n": len(pairs),
                "mae": mean_absolute_error([t for t, _ in ok], [p for _, p in ok]) if ok else float("nan"),
                "parse_fail": 1 - len(ok) / len(pairs),
            }
        else:
            gold = [str(r.meta["label"]) for r, _ in pairs]
            pred = [snap_label(c, list(r.meta["labels"])) or "<none>" for r, c in pairs]
            out[prop] = {"n": len(pairs), "accuracy": accuracy_score(gold, pred)}
    return out


def record_correct(record: Record, completion: str, rtol: float = 0.1, atol: float = 0.05) -> bool:
    """Whether a generated answer counts as right, for a single validation score across task types.

    Classification: the snapped label equals the reference. Regression: the parsed number is within
    ``rtol`` (relative) + ``atol`` (absolute, so a 0 eV band gap can be hit) of the target. Anything else:
    normalised exact match of the reference output.
    """
    kind = record.meta.get("task_type")
    if kind == "classification" and record.meta.get("labels"):
        return snap_label(completion, list(record.meta["labels"])) == str(record.meta.get("label"))
    if kind == "regression" and record.meta.get("target") is not None:
        pred = extract_number(completion, str(record.meta.get("unit") or ""))
        target = float(record.meta["target"])
        return pred is not None and abs(pred - target) <= rtol * abs(target) + atol
    return " ".join(completion.lower().split()) == " ".join(record.output.lower().split())


def task_score(
    model: Any,
    tokenizer: Any,
    style: PromptStyle,
    records: list[Record],
    max_records: int,
    max_new_tokens: int,
    batch_size: int = 16,
) -> float:
    """Fraction of ``records`` (up to ``max_records``, every property represented) answered correctly."""
    sample = _interleave_by_property(records, max_records)
    gens = generate_batch(
        model,
        tokenizer,
        [style.format(r)[0] for r in sample],
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        stop_strings=style.stop_strings(),
    )
    return sum(record_correct(r, g["completion"].strip()) for r, g in zip(sample, gens)) / max(len(sample), 1)


def heldout_check(
    model: Any,
    tokenizer: Any,
    style: PromptStyle,
    records: list[Record],
    max_seq_len: int,
    max_records: int = 48,
    max_new_tokens: int = 16,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Loss/perplexity over all ``records`` and task metrics on generated answers for up to ``max_records``."""
    result: dict[str, Any] = heldout_loss(model, tokenizer, style, records, max_seq_len, batch_size)
    sample = _interleave_by_property(records, max_records)
    gens = generate_batch(
        model,
        tokenizer,
        [style.format(r)[0] for r in sample],
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        stop_strings=style.stop_strings(),
    )
    result["tasks"] = task_metrics(sample, [g["completion"].strip() for g in gens])
    result["examples"] = [
        {
            "instruction": r.instruction,
            "input": r.input,
            "reference": r.output,
            "completion": g["completion"].strip(),
        }
        for r, g in zip(sample[:8], gens[:8])
    ]
    return result


def comparison_rows(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Rows ``(metric, before, after)`` for the console table and the README."""
    rows = [
        ("test loss", f"{before['loss']:.3f}", f"{after['loss']:.3f}"),
        ("test perplexity", f"{before['perplexity']:.2f}", f"{after['perplexity']:.2f}"),
    ]
    for prop, m in after["tasks"].items():
        b = before["tasks"].get(prop, {})
        for key in ("mae", "parse_fail", "accuracy"):
            if key in m:
                rows.append(
                    (f"{prop} {key} (n={m['n']})", f"{b.get(key, float('nan')):.3f}", f"{m[key]:.3f}")
                )
    return rows

"""Pure metric functions: parsed predictions in, numbers out (scikit-learn does the counting).

Conventions shared by every task: a prediction that cannot be read (no number, no label) is a failure that
counts against the model, never a crash and never silently dropped; a metric that is undefined for the data
(R² of one point, F1 of no examples) is None, which becomes ``null`` in results.json.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from honeybee.evaluation.extract import snap_label

NO_PREDICTION = "<no prediction>"


def _none_if_nan(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


def classification_scores(gold: Sequence[str], pred: Sequence[str | None]) -> dict[str, float | None]:
    """Accuracy, micro-F1, macro-F1 and Cohen's kappa of single-label predictions.

    Kappa is accuracy measured from the chance line of the model's *own* answer distribution: the accuracy
    its answers would get if shuffled against the golds, sum over labels of P(gold=c) P(pred=c). A model
    that answers "Yes" 90 % of the time on a 70 % "Yes" set scores 0.66 accuracy by prior alone and kappa ~0,
    so kappa separates "learned the task" from "shifted its answer prior". 0 when that chance line is 1
    (every gold and every answer the same label), where kappa is undefined.

    F1 is taken over the labels that occur in ``gold`` or ``pred``. A None prediction (text that snapped to no
    label) is wrong: a false negative for its gold label, but a false positive for no label, so it lowers
    recall without inventing a class. Hence micro-F1 equals accuracy only when every prediction snapped.

    The counting is numpy on a confusion count, not scikit-learn's ``f1_score`` (which gives the same numbers,
    as tests/evaluation/test_eval_metrics.py checks): the bootstrap recomputes every metric a thousand times,
    and scikit-learn's input validation alone costs a millisecond per call.
    """
    if not gold:
        return {"accuracy": None, "micro_f1": None, "macro_f1": None, "kappa": None}
    labels = sorted(set(gold) | {p for p in pred if p is not None})
    index = {lab: i for i, lab in enumerate(labels)}
    g = np.array([index[x] for x in gold])
    p = np.array([-1 if x is None else index[x] for x in pred])
    k = len(labels)
    hit = g == p
    tp = np.bincount(g[hit], minlength=k)
    support = np.bincount(g, minlength=k)
    predicted = np.bincount(p[p >= 0], minlength=k)
    denom = support + predicted  # 2tp + fp + fn per label
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    micro_denom = support.sum() + predicted.sum()
    n = len(gold)
    accuracy = float(hit.mean())
    # an unreadable answer (-1) is a category of its own that matches no gold: it adds nothing to chance
    chance = float((support * predicted).sum()) / (n * n)
    return {
        "accuracy": accuracy,
        "micro_f1": float(2 * tp.sum() / micro_denom) if micro_denom else 0.0,
        "macro_f1": float(f1.mean()),
        "kappa": (accuracy - chance) / (1 - chance) if chance < 1 else 0.0,
    }


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def parse_event_arguments(text: str, roles: Sequence[str]) -> list[tuple[str, str]]:
    """MatSci-NLP event-argument answers ``arg:role,arg:role`` as normalised ``(argument, role)`` pairs.

    Arguments are lower-cased with whitespace collapsed; a role is snapped onto ``roles`` (a role that snaps
    to nothing is kept as written, so it counts as a false positive). ``none:none`` (an event with no
    argument) is the pair ``("none", "none")``, so predicting it correctly is a hit. Sorted, de-duplicated.
    """
    pairs = set()
    for part in text.split(","):
        arg, sep, role = part.rpartition(":")
        if not sep or not arg.strip() or not role.strip():
            continue
        snapped = snap_label(role, list(roles))
        pairs.add((_norm(arg), _norm(snapped if snapped is not None else role)))
    return sorted(pairs)


def _set_f1(gold: Iterable[set], pred: Iterable[set]) -> float:
    tp = fp = fn = 0
    for g, p in zip(gold, pred):
        tp, fp, fn = tp + len(g & p), fp + len(p - g), fn + len(g - p)
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def pair_scores(
    gold: Sequence[Sequence[tuple[str, str]]], pred: Sequence[Sequence[tuple[str, str]]]
) -> dict[str, float | None]:
    """Event-argument extraction scores over ``(argument, role)`` pairs, one list per record.

    ``micro_f1`` pools every pair of every record (a pair is right when both argument and role match);
    ``macro_f1`` is the mean over roles (in gold or predicted) of the same F1 restricted to that role;
    ``accuracy`` is the share of records whose whole predicted set is exactly right.
    """
    if not gold:
        return {"accuracy": None, "micro_f1": None, "macro_f1": None, "kappa": None}
    g = [{tuple(x) for x in s} for s in gold]
    p = [{tuple(x) for x in s} for s in pred]
    roles = sorted({r for s in g + p for _, r in s})
    per_role = [
        _set_f1(({x for x in a if x[1] == r} for a in g), ({x for x in b if x[1] == r} for b in p))
        for r in roles
    ]
    return {
        "accuracy": sum(a == b for a, b in zip(g, p)) / len(g),
        "micro_f1": _set_f1(g, p),
        "macro_f1": sum(per_role) / len(per_role) if per_role else None,
    }


def regression_scores(targets: Sequence[float], preds: Sequence[float | None]) -> dict[str, float | None]:
    """MAE, RMSE and R² over the parsed predictions, plus the parse-failure rate over all of them.

    Unparsed (None) or non-finite predictions are failures: left out of the error metrics (a model that
    answers in words must not look accurate) and reported as ``parse_fail_rate`` beside them. R² is
    scikit-learn's ``r2_score`` definition (1 - SS_res / SS_tot), computed in numpy for the bootstrap's sake.
    """
    ok = [(t, p) for t, p in zip(targets, preds) if p is not None and math.isfinite(p)]
    n = len(targets)
    out: dict[str, float | None] = {
        "n": n,
        "n_parsed": len(ok),
        "parse_fail_rate": (1 - len(ok) / n) if n else None,
        "mae": None,
        "rmse": None,
        "r2": None,
    }
    if ok:
        t, p = np.array([a for a, _ in ok], dtype=float), np.array([b for _, b in ok], dtype=float)
        err = p - t
        with np.errstate(over="ignore", invalid="ignore"):
            out["mae"] = _none_if_nan(float(np.abs(err).mean()))
            out["rmse"] = _none_if_nan(float(np.sqrt((err**2).mean())))
            ss_tot = float(((t - t.mean()) ** 2).sum())
            if len(ok) > 1 and ss_tot > 0:
                out["r2"] = _none_if_nan(1.0 - float((err**2).sum()) / ss_tot)
    return out


_LATEX_NOISE = re.compile(r"\\left|\\right|\\!|\\,|\\;|\\ |\$|\\text\{|\\mathrm\{|[{}]")
_NUMBER_ONLY = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def normalize_answer(answer: str) -> str:
    """Lower-case, drop LaTeX spacing/delimiters, whitespace and a trailing full stop: ``$\\frac{1}{2}$.`` and
    ``\\frac12`` compare equal."""
    a = _LATEX_NOISE.sub("", answer.lower())
    return re.sub(r"\s+", "", a).rstrip(".。")


def answers_match(pred: str | None, gold: str | None, rel_tol: float = 1e-2) -> bool:
    """Does a predicted final answer equal the reference?

    Numbers (after normalisation, the whole answer is one number, optionally with the same trailing unit
    text) match within ``rel_tol`` relative tolerance, since chains of thought round differently; anything
    else must match exactly after ``normalize_answer``. No answer on either side never matches.
    """
    if pred is None or gold is None:
        return False
    p, g = normalize_answer(pred), normalize_answer(gold)
    if p == g:
        return True
    mp, mg = _NUMBER_ONLY.match(p), _NUMBER_ONLY.match(g)
    if mp and mg and p[mp.end() :] == g[mg.end() :]:
        a, b = float(mp.group()), float(mg.group())
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-9)
    return False


def mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def grouped(keys: Sequence[str], *columns: Sequence) -> dict[str, tuple[list, ...]]:
    """Split parallel columns by key, in sorted key order."""
    out: dict[str, tuple[list, ...]] = defaultdict(lambda: tuple([] for _ in columns))
    for i, k in enumerate(keys):
        for col, dest in zip(columns, out[k]):
            dest.append(col[i])
    return dict(sorted(out.items()))

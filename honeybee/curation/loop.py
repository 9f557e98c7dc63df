"""One curation round: (Evaluator feedback ->) Instructor -> Verifier -> records.jsonl + report.

Everything the round writes goes into ``<curation_dir>/<experiment>/round<r>/`` in one atomic folder rename, so
a failed or killed round leaves no folder; the call cache beside it keeps every answered call, so running the
same command again resumes without paying twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from honeybee.curation.backends import BACKEND_TYPES, make_backend
from honeybee.curation.budget import Budget, encoding
from honeybee.curation.cache import CallCache
from honeybee.curation.client import LLMClient, RetryPolicy
from honeybee.curation.evaluator import Evaluator, stage_answers, targeted_items
from honeybee.curation.instructor import Instructor, WorkItem
from honeybee.curation.report import histograms, markdown
from honeybee.curation.verifier import Verifier, make_classifier
from honeybee.utils.errors import ConfigError, DataError
from honeybee.utils.io import atomic_dir, atomic_write_json, atomic_write_jsonl, atomic_write_text

log = logging.getLogger(__name__)

ROLES = ("instructor", "verifier", "evaluator")
PLACEHOLDERS = {
    ("instructor", "topic"): ("{topic}",),
    ("instructor", "source"): ("{source}",),
    ("instructor", "targeted"): ("{topic}",),
    ("verifier", "user"): ("{instruction}", "{output}"),
    ("evaluator", "user"): ("{instruction}", "{answer}"),
}


def _check_num(
    p: list[str],
    node: Any,
    key: str,
    where: str,
    lo: float | None = None,
    hi: float | None = None,
    integer: bool = False,
    nullable: bool = False,
    strict: bool = False,
) -> None:
    """Append a problem unless ``node[key]`` is a number within bounds (``strict``: > lo instead of >= lo)."""
    v = node.get(key) if node is not None else None
    if v is None:
        if not nullable:
            p.append(f"{where}.{key} is required")
        return
    try:
        x = int(v) if integer and not isinstance(v, float) else float(v)
        if integer and x != int(x):
            raise ValueError
    except (TypeError, ValueError):
        p.append(f"{where}.{key}={v!r} must be {'an integer' if integer else 'a number'}")
        return
    bad_lo = lo is not None and (x <= lo if strict else x < lo)
    if bad_lo or (hi is not None and x > hi):
        bounds = (f"> {lo:g}" if strict else f">= {lo:g}") if hi is None else f"within {lo:g}-{hi:g}"
        p.append(f"{where}.{key}={v} must be {bounds}" + (" (null for no limit)" if nullable else ""))


def validate(cfg: Any) -> list[str]:
    """Every problem with the config, as ``key: why`` lines (empty when it is usable)."""
    p: list[str] = []
    try:
        if int(cfg.round) < 1:
            p.append(f"round={cfg.round} must be >= 1")
    except (TypeError, ValueError):
        p.append(f"round={cfg.round} must be an integer >= 1")
    for role in ROLES:
        node = cfg.get(role)
        if node is None or node.get("type") not in BACKEND_TYPES:
            p.append(
                f"{role}.type={None if node is None else node.get('type')!r} is not a backend "
                f"(choose from: {', '.join(BACKEND_TYPES)}; backend@{role}=<name>)"
            )
            continue
        _check_num(p, node, "concurrency", role, 1, integer=True, nullable=True)
        _check_num(p, node, "max_tokens", role, 1, integer=True)
        _check_num(p, node, "max_repairs", role, 0, integer=True)
        _check_num(p, node, "timeout_s", role, 0, nullable=True, strict=True)
    _check_num(p, cfg.instructor, "calls", "instructor", 0, integer=True)
    _check_num(p, cfg.instructor, "records_per_call", "instructor", 1, integer=True)
    _check_num(p, cfg.instructor, "temperature", "instructor", 0, 2)
    for k in ("min_mean", "min_each"):
        _check_num(p, cfg.verifier, k, "verifier", 0, 100)
    _check_num(p, cfg.budget, "max_tokens", "budget", 0, integer=True, nullable=True, strict=True)
    _check_num(p, cfg.budget, "max_cost_usd", "budget", 0, nullable=True, strict=True)
    _check_num(p, cfg.retry, "max_attempts", "retry", 1, integer=True)
    _check_num(p, cfg.retry, "base_delay_s", "retry", 0)
    _check_num(p, cfg.retry, "max_delay_s", "retry", 0)
    for (role, key), needed in PLACEHOLDERS.items():
        text = cfg.curate_prompt.get(role, {}).get(key)
        if not isinstance(text, str):
            p.append(f"curate_prompt.{role}.{key} is missing")
        elif not all(n in text for n in needed):
            p.append(f"curate_prompt.{role}.{key} must contain {' and '.join(needed)}")
    src = cfg.sources
    for k in ("topics_file", "file"):
        if src.get(k) and not Path(str(src[k])).is_file():
            p.append(f"sources.{k}: file not found: {src[k]}")
    fb = cfg.feedback
    if fb.get("questions_file") and not Path(str(fb.questions_file)).is_file():
        p.append(f"feedback.questions_file: file not found: {fb.questions_file}")
    for k in ("limit", "weakest_k", "calls_per_topic", "examples_per_topic", "max_new_tokens"):
        _check_num(p, fb, k, "feedback", 1, integer=True, nullable=k == "limit")
    if fb.get("stage"):
        from honeybee.generation.source import locate

        try:
            locate(str(fb.stage), str(cfg.paths.log_dir))
        except ConfigError as e:
            p.append(f"feedback.stage: {e}")
    if fb.get("fallback") not in (None, "f1"):
        p.append(f"feedback.fallback={fb.fallback!r} must be null or f1")
    vc = cfg.verifier_classifier
    if vc.get("enabled"):
        for k in ("train_file", "test_file"):
            if vc.get(k) and not Path(str(vc[k])).is_file():
                p.append(f"verifier_classifier.{k}: file not found: {vc[k]}")
    return p


def topics(cfg: Any) -> list[str]:
    out = [str(t) for t in (cfg.sources.get("topics") or [])]
    if cfg.sources.get("topics_file"):
        lines = Path(str(cfg.sources.topics_file)).read_text(encoding="utf-8").splitlines()
        out += [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    return out


def source_texts(cfg: Any) -> list[tuple[str, str]]:
    """``(id, text)`` for each source text in ``sources.file`` (JSON array or JSONL)."""
    path = cfg.sources.get("file")
    if not path:
        return []
    path, field = Path(str(path)), str(cfg.sources.field)
    raw = path.read_text(encoding="utf-8")
    try:
        rows = (
            json.loads(raw)
            if raw.lstrip().startswith("[")
            else [json.loads(x) for x in raw.splitlines() if x.strip()]
        )
    except ValueError as e:
        raise DataError(f"{path}: malformed JSON ({e})") from None
    out, seen = [], set()
    for i, r in enumerate(rows):
        text = r.get(field) if isinstance(r, dict) else None
        if isinstance(text, str) and text.strip() and text not in seen:
            seen.add(text)
            out.append((f"{path.name}#{i}", text.strip()[: int(cfg.sources.max_chars)]))
    if not out:
        raise DataError(f"{path}: no record has a non-empty {field!r} (sources.field)")
    limit = cfg.sources.get("limit")
    return out[: int(limit)] if limit else out


def work_items(cfg: Any, targeted: list[WorkItem]) -> list[WorkItem]:
    """``instructor.calls`` requests: targeted ones first, then topics and source texts in turn."""
    n = int(cfg.instructor.calls)
    items = list(targeted[:n])
    pool = [("topic", t, "", None) for t in topics(cfg)] + [
        ("source", f"source text {sid}", text, sid) for sid, text in source_texts(cfg)
    ]
    if not pool and len(items) < n:
        raise ConfigError(
            "no seed topics and no source texts: set sources.topics, sources.topics_file or sources.file"
        )
    i = 0
    while len(items) < n:
        kind, topic, text, sid = pool[i % len(pool)]
        items.append(WorkItem(kind, topic, text, sid, sample=i // len(pool)))
        i += 1
    return items


def make_client(cfg: Any, role: str, cache: CallCache, budget: Budget, retry: RetryPolicy) -> LLMClient:
    node = cfg[role]
    backend = make_backend(node, role)
    return LLMClient(role, backend, cache, budget, retry, int(node.get("concurrency", 1)), node.get("price"))


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def run_curate(cfg: Any) -> dict[str, Any]:
    """Run one round and write its folder; returns the report.

    Raises:
        ConfigError, DataError, BackendError: before anything is written.
    """
    problems = validate(cfg)
    if problems:
        raise ConfigError("; ".join(problems))
    t0 = time.monotonic()
    rnd = int(cfg.round)
    out_dir = Path(str(cfg.curation_dir)) / str(cfg.experiment_name) / f"round{rnd}"
    if out_dir.exists() and not cfg.overwrite:
        raise ConfigError(f"{out_dir} already exists (a finished round); overwrite=true to redo it")
    work_items(cfg, [])  # source files and topics are read (and checked) before any call
    encoding()  # the tokenizer file is needed for budgets: fail now, not mid-round

    cache = CallCache(cfg.cache.dir if cfg.cache.enabled else None)
    budget = Budget(cfg.budget.get("max_tokens"), cfg.budget.get("max_cost_usd"))
    retry = RetryPolicy(
        int(cfg.retry.max_attempts), float(cfg.retry.base_delay_s), float(cfg.retry.max_delay_s)
    )
    needed = ["instructor", "verifier"] + (["evaluator"] if cfg.feedback.get("stage") else [])
    clients = {role: make_client(cfg, role, cache, budget, retry) for role in needed}
    for name in ("httpx", "httpx2"):  # the SDKs' HTTP clients log one INFO line per request
        logging.getLogger(name).setLevel(logging.WARNING)
    if cfg.check_endpoints:
        for c in clients.values():
            c.backend.check()
    classifier = make_classifier(cfg.verifier_classifier, Path(str(cfg.curation_dir)) / "classifier_cache")
    prompts = cfg.curate_prompt

    feedback, targeted = None, []
    if cfg.feedback.get("stage"):
        fb = cfg.feedback
        label, rows = stage_answers(
            str(fb.stage),
            fb.get("questions_file"),
            fb.get("limit"),
            int(fb.max_new_tokens),
            str(cfg.paths.log_dir),
            str(fb.device),
        )
        ev = Evaluator(
            clients["evaluator"],
            prompts.evaluator,
            int(cfg.evaluator.max_tokens),
            int(cfg.evaluator.max_repairs),
            fb.get("fallback"),
        )
        feedback = ev.feedback(label, rows, int(fb.weakest_k), int(fb.examples_per_topic))
        feedback["counts"] = dict(ev.counts)
        targeted = targeted_items(feedback, int(fb.calls_per_topic))
        log.info(
            "evaluator: %s mean %s over %d answers; weakest: %s",
            label,
            feedback["mean_overall"],
            feedback["n_scored"],
            ", ".join(f"{w['topic']} ({w['mean']})" for w in feedback["weakest"]),
        )

    items = work_items(cfg, targeted)
    ic = cfg.instructor
    instructor = Instructor(
        clients["instructor"],
        prompts.instructor,
        int(ic.records_per_call),
        int(ic.max_tokens),
        float(ic.temperature),
        int(ic.max_repairs),
        bool(ic.lenient),
    )
    generated = clients["instructor"].map(instructor.generate, items)

    records, seen, dupes = [], set(), 0
    for g in generated:
        for r in g.records:
            key = _norm(r["instruction"] + " || " + r["input"])
            if key in seen:
                dupes += 1
                continue
            seen.add(key)
            records.append(r)

    vc = cfg.verifier
    verifier = Verifier(
        clients["verifier"],
        prompts.verifier,
        float(vc.min_mean),
        float(vc.min_each),
        int(vc.max_tokens),
        int(vc.max_repairs),
        classifier,
        float(cfg.verifier_classifier.min_quality),
    )
    verdicts = clients["verifier"].map(verifier.verify, records)

    gen_desc, ver_desc = clients["instructor"].backend.describe(), clients["verifier"].backend.describe()
    kept, rejected, rejected_by = [], [], Counter[str]()
    feedback_stage = None if feedback is None else feedback["stage"]
    for r, v in zip(records, verdicts):
        row = {
            "instruction": r["instruction"],
            "input": r["input"],
            "output": r["output"],
            "topic": r["topic"],
            "scores": v.scores,
            "provenance": {
                "round": rnd,
                "experiment": str(cfg.experiment_name),
                "generator": gen_desc,
                "verifier": ver_desc,
                "source": r["source"],
                **({"quality": round(v.quality, 4)} if v.quality is not None else {}),
                **({"feedback_stage": feedback_stage} if r["source"]["kind"] == "targeted" else {}),
            },
        }
        if v.kept:
            kept.append(row)
        else:
            rejected_by.update(v.failed)
            rejected.append({**row, "failed": v.failed})

    stopped = "budget" if budget.exhausted else None
    failed_calls = sum(c.stats.get("failed_calls", 0) for c in clients.values())
    counts = {
        "work_items": len(items),
        "targeted_items": len(targeted),
        "generated": sum(len(g.records) for g in generated),
        "duplicates": dupes,
        "verified": sum(1 for v in verdicts if v.scores is not None),
        "kept": len(kept),
        "rejected": len(rejected),
        "not_verified_budget": sum(1 for v in verdicts if v.failed == ["budget"]),
        "not_verified_error": sum(1 for v in verdicts if v.failed == ["error"]),
        "instructor_items_not_done_budget": sum(1 for g in generated if g.how == "budget"),
        "failed_calls": failed_calls,
    }
    report: dict[str, Any] = {
        "experiment_name": str(cfg.experiment_name),
        "round": rnd,
        "status": "stopped" if stopped else "complete",
        "stopped_reason": stopped and "token/cost budget exhausted",
        "counts": counts,
        "rejected_by": dict(rejected_by),
        "keep_rule": {
            "min_mean": float(vc.min_mean),
            "min_each": float(vc.min_each),
            "min_quality": float(cfg.verifier_classifier.min_quality) if classifier else None,
        },
        "instructor": dict(instructor.counts),
        "verifier": dict(verifier.counts),
        "calls": {role: c.summary() for role, c in clients.items()},
        "budget": budget.as_dict(),
        "classifier": classifier.metrics if classifier else None,
        "feedback": None if feedback is None else {k: v for k, v in feedback.items() if k != "answers"},
        "wall_s": None,
        "plots": [],
    }

    with atomic_dir(out_dir) as tmp:
        atomic_write_jsonl(tmp / "records.jsonl", kept)
        atomic_write_jsonl(tmp / "rejected.jsonl", rejected)
        if feedback is not None:
            atomic_write_json(tmp / "feedback.json", feedback)
        criteria = [str(c) for c in prompts.verifier.criteria]
        if histograms(
            [v.scores for v in verdicts if v.scores],
            criteria,
            tmp / "verifier_histograms.png",
            f"round {rnd}: verifier scores ({len(records)} records)",
            float(vc.min_each),
            float(vc.min_mean),
        ):
            report["plots"].append("verifier_histograms.png")
        if feedback is not None and histograms(
            [a["scores"] for a in feedback["answers"] if a["scores"]],
            [str(c) for c in prompts.evaluator.criteria],
            tmp / "evaluator_histograms.png",
            f"evaluator scores of {feedback['stage']}",
        ):
            report["plots"].append("evaluator_histograms.png")
        report["wall_s"] = round(time.monotonic() - t0, 1)
        atomic_write_text(tmp / "report.md", markdown(report))
        atomic_write_json(tmp / "report.json", report)

    msg = (
        f"round {rnd}: {counts['generated']} generated, {counts['kept']} kept, {counts['rejected']} rejected "
        f"-> {out_dir / 'records.jsonl'}"
    )
    log.info(msg)
    if stopped:
        log.warning(
            "stopped early: %s (%d tokens, $%.4f); re-run with a larger budget to resume from the cache",
            report["stopped_reason"],
            budget.tokens,
            budget.cost_usd,
        )
    if not kept:
        log.warning(
            "round %d kept no record (see %s); lower verifier.min_mean/min_each only for a demo",
            rnd,
            out_dir / "report.md",
        )
    return report

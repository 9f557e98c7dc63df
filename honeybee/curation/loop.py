"""One curation round: (Evaluator feedback ->) Instructor -> Verifier -> records.jsonl + report.

Everything the round writes goes into ``<curation_dir>/<experiment>/round<r>/`` in one atomic folder rename, so
a failed or killed round leaves no folder; the call cache beside it keeps every answered call, so running the
same command again resumes without paying twice.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from honeybee.curation.backends import make_backend
from honeybee.curation.budget import Budget, encoding
from honeybee.curation.cache import CallCache
from honeybee.curation.client import LLMClient, RetryPolicy
from honeybee.curation.evaluator import Evaluator, stage_answers, targeted_items
from honeybee.curation.inputs import source_texts, topics, validate
from honeybee.curation.instructor import Instructor, WorkItem
from honeybee.curation.report import histograms, markdown
from honeybee.curation.verifier import Verifier, make_classifier
from honeybee.utils.errors import ConfigError
from honeybee.utils.io import atomic_dir, atomic_write_json, atomic_write_jsonl, atomic_write_text

log = logging.getLogger(__name__)


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
    opened: list[LLMClient] = []
    try:
        return _run_round(cfg, opened)
    finally:  # the local backend's batching thread and model go with the round
        for c in opened:
            c.backend.close()


def _run_round(cfg: Any, opened: list[LLMClient]) -> dict[str, Any]:
    """``run_curate``'s work; every client it makes goes into ``opened`` for closing."""
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
    opened.extend(clients.values())
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

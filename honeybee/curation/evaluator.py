"""The Evaluator: scores a stage's answers, finds the weakest topics and turns them into Instructor requests.

The stage's model answers held-out questions (its run's ``splits/test.jsonl`` by default) in-process with the
batched engine; the Evaluator LLM scores each answer on the four criteria; answers are grouped by topic
(``meta.topic``, else ``property``/``task``/``subject``, else the source) and the topics with the lowest mean
score, with their worst answers as examples, become ``targeted`` work items for the next round.
"""

from __future__ import annotations

import logging
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from honeybee.curation.client import LLMClient, chat
from honeybee.curation.instructor import WorkItem
from honeybee.curation.verifier import JudgeRole
from honeybee.data.readers import read_saved_records
from honeybee.evaluation.judge import render
from honeybee.utils.errors import ConfigError, DataError

log = logging.getLogger(__name__)

TOPIC_KEYS = ("topic", "property", "task", "subject", "source")


def topic_of(row: dict[str, Any]) -> str:
    meta = row.get("meta") or {}
    for k in TOPIC_KEYS:
        for d in (row, meta):
            v = d.get(k)
            if isinstance(v, str) and v.strip():
                return v.strip()
    return "general"


def read_questions(path: Path, limit: int | None) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"evaluator questions not found: {path}")
    rows = [obj for _, obj in read_saved_records(path)]
    if not rows:
        raise DataError(f"{path}: no questions")
    if limit:
        # Round-robin over topics, so a small limit still samples every topic.
        by: dict[str, list] = defaultdict(list)
        for r in rows:
            by[topic_of(r)].append(r)
        picked: list[Any] = []
        queues = list(by.values())
        while len(picked) < limit and any(queues):
            for q in queues:
                if q and len(picked) < limit:
                    picked.append(q.pop(0))
        rows = picked
    return rows


def stage_answers(
    stage: str,
    questions_file: str | None,
    limit: int | None,
    max_new_tokens: int,
    log_dir: str,
    device: str = "cpu",
    batch_size: int = 8,
) -> tuple[str, list[dict[str, Any]]]:
    """``(stage label, rows)``: the stage's model answers its held-out questions (one batched pass).

    Raises:
        ConfigError: the stage folder cannot be used. DataError: no questions.
    """
    from honeybee.generation.generator import Generator
    from honeybee.generation.source import resolve_source

    source = resolve_source(stage, None, log_dir)
    qfile = (
        Path(questions_file)
        if questions_file
        else (source.run_dir / "splits" / "test.jsonl" if source.run_dir else None)
    )
    if qfile is None:
        raise ConfigError(f"feedback.stage={stage} has no splits/test.jsonl; give feedback.questions_file")
    rows = read_questions(qfile, limit)
    gen = Generator.load(source, device=device, batch_size=batch_size)
    done = gen.answer([gen.prompt(r["instruction"], r.get("input") or "") for r in rows], max_new_tokens)
    out = [
        {
            "instruction": r["instruction"],
            "input": r.get("input") or "",
            "reference": r.get("output", ""),
            "answer": c.text.strip(),
            "topic": topic_of(r),
        }
        for r, c in zip(rows, done)
    ]
    return source.label, out


def token_f1(answer: str, reference: str) -> float:
    """SQuAD-style token F1 (lower-cased words and numbers)."""
    a, r = re.findall(r"\w+(?:\.\d+)?", answer.lower()), re.findall(r"\w+(?:\.\d+)?", reference.lower())
    common = sum((Counter(a) & Counter(r)).values())
    if not a or not r or not common:
        return 0.0
    p, q = common / len(a), common / len(r)
    return 2 * p * q / (p + q)


class Evaluator(JudgeRole):
    """Scores answers with one ``LLMClient`` and the ``evaluator`` prompts; builds the feedback."""

    def __init__(
        self,
        client: LLMClient,
        prompts: Any,
        max_tokens: int = 128,
        max_repairs: int = 1,
        fallback: str | None = None,
    ) -> None:
        if fallback not in (None, "f1"):
            raise ConfigError(f"feedback.fallback={fallback!r} must be null or f1")
        super().__init__(client, prompts, max_tokens, max_repairs)
        self.fallback = fallback

    def messages(self, row: dict[str, Any]) -> list[dict[str, str]]:
        user = render(
            str(self.prompts.user),
            instruction=row["instruction"],
            input=row.get("input") or "(none)",
            reference=row.get("reference") or "(none)",
            answer=row.get("answer") or "(empty)",
        )
        return chat(self.prompts, user)

    def score(self, row: dict[str, Any]) -> dict[str, Any]:
        scores, why = self._score(self.messages(row))
        if why is not None:
            return {**row, "scores": None, "overall": None, "error": why}
        if scores is None and self.fallback == "f1" and row.get("reference"):
            # The Evaluator's reply was unreadable: the answer's token F1 against the reference stands in, so a
            # small local Evaluator still ranks topics. Counted, and marked on the row.
            self.counts["fallback_f1"] += 1
            return {
                **row,
                "scores": None,
                "overall": round(100 * token_f1(row["answer"], row["reference"]), 2),
                "scored_by": "f1",
            }
        overall = None if scores is None else round(statistics.fmean(scores.values()), 2)
        return {**row, "scores": scores, "overall": overall, "scored_by": "evaluator" if scores else None}

    def feedback(
        self, stage: str, rows: list[dict[str, Any]], weakest_k: int = 3, examples_per_topic: int = 3
    ) -> dict[str, Any]:
        """Score every answer and pick the ``weakest_k`` topics (lowest mean overall score)."""
        scored = self.client.map(self.score, rows)
        by: dict[str, list] = defaultdict(list)
        for r in scored:
            if r["overall"] is not None:
                by[r["topic"]].append(r)
        topics = {
            t: {"n": len(v), "mean": round(statistics.fmean(x["overall"] for x in v), 2)}
            for t, v in by.items()
        }
        weakest = []
        for t in sorted(topics, key=lambda t: (topics[t]["mean"], t))[:weakest_k]:
            worst = sorted(by[t], key=lambda x: x["overall"])[:examples_per_topic]
            weakest.append(
                {
                    "topic": t,
                    "mean": topics[t]["mean"],
                    "examples": [
                        {k: w[k] for k in ("instruction", "input", "reference", "answer", "overall")}
                        for w in worst
                    ],
                }
            )
        valid = [r["overall"] for r in scored if r["overall"] is not None]
        return {
            "stage": stage,
            "evaluator": self.client.backend.describe(),
            "n_answers": len(rows),
            "n_scored": len(valid),
            "mean_overall": round(statistics.fmean(valid), 2) if valid else None,
            "unscored": len(rows) - len(valid),
            "scored_by": dict(Counter(r.get("scored_by") or "none" for r in scored)),
            "by_topic": topics,
            "weakest": weakest,
            "answers": scored,
        }


def targeted_items(feedback: dict[str, Any], calls_per_topic: int) -> list[WorkItem]:
    """Instructor requests for the feedback's weakest topics, showing the questions answered badly."""
    items = []
    for w in feedback.get("weakest") or []:
        examples = "\n".join(
            f"- Q: {e['instruction']}"
            + (f" ({e['input']})" if e.get("input") else "")
            + f"\n  student: {e['answer'][:200]}"
            + (f"\n  reference: {e['reference'][:200]}" if e.get("reference") else "")
            for e in w["examples"]
        )
        for s in range(calls_per_topic):
            items.append(
                WorkItem("targeted", w["topic"], examples, source_id=feedback.get("stage"), sample=s)
            )
    return items

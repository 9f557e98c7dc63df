"""The evaluation task base class: which records a task scores, how (generation or likelihood), and its rows.

Every task turns records into prediction rows (written to ``predictions/<task>.jsonl``) and computes its
metrics from those rows alone, so every reported number can be recomputed from the predictions file (the
bootstrap intervals too: they resample the rows). The reading of a completion is a pure function per task
(``read``), in the manner of nanochat's tasks.

Two ways to score a record (``eval_task.<task>.scoring``):

* ``generate``: greedy generation, read back by the task (a label snapped, a number parsed); the row also
  carries ``gold_nll``, the reference answer's mean token negative log-likelihood (teacher-forced, as in
  training), a continuous measure that moves when the generated answer's format hides what changed.
* ``loglikelihood``: a record with a closed answer set (``closed``) is scored as lm-evaluation-harness's
  ``multiple_choice``: every option is a continuation of the prompt, the prediction is the option with the
  highest summed log-probability (``acc``), or per character (``acc_norm``). Open records of the same task
  (regression, event extraction) are still generated.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, ClassVar

from honeybee.data.records import Record
from honeybee.evaluation import metrics as M
from honeybee.generation.engine import Sampling
from honeybee.utils.errors import ConfigError, DataError

log = logging.getLogger(__name__)

SCORINGS = ("generate", "loglikelihood")


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

    @property
    def scoring(self) -> str:
        return str(self.cfg.get("scoring") or "generate")

    def usable(self, record: Record) -> bool:
        return bool(record.output.strip())

    def group(self, record: Record) -> str:
        """The sub-task a record belongs to; ``limit`` takes records round-robin over these."""
        return "all"

    def stratum(self, row: dict[str, Any]) -> str:
        """The sub-task of a prediction row: the bootstrap resamples within each, so every sub-task keeps
        its size."""
        return "all"

    def closed(self, record: Record) -> bool:
        """Whether the record has a closed answer set, so ``scoring=loglikelihood`` scores it by likelihood."""
        return False

    def options(self, record: Record) -> tuple[list[str], list[str]]:
        """``(labels, option texts)`` of a closed record: the texts are the record's own answer forms (what its
        training target looks like), one per label; ``meta['options']`` when the loader made them."""
        labels = [str(x) for x in record.meta.get("labels") or []]
        return labels, [str(x) for x in record.meta.get("options") or labels]

    def prepare(self) -> None:
        """Checks and one-off loads done before any model is loaded (fail fast)."""

    def check_records(self, records: list[Record], where: str) -> None:
        """Refuse records this task cannot score, before any model loads.

        Raises:
            DataError: under ``scoring=loglikelihood``, a closed record without a label set of two or more
                options (or whose gold label is not among them), naming the task and the record.
        """
        if self.scoring not in SCORINGS:
            raise ConfigError(
                f"eval_task.{self.name}.scoring={self.scoring!r} is not one of: {', '.join(SCORINGS)}"
            )
        if self.scoring != "loglikelihood":
            return
        for i, r in enumerate(records):
            if not self.closed(r):
                continue
            labels, opts = self.options(r)
            what = f"task {self.name}: record {i} of {where} ({r.instruction[:50]!r})"
            if len(labels) < 2:
                raise DataError(
                    f"{what}: scoring=loglikelihood needs a label set of two or more options, it has "
                    f"{len(labels)} {labels}"
                )
            if len(opts) != len(labels) or r.meta.get("label") not in labels:
                raise DataError(f"{what}: its gold label {r.meta.get('label')!r} is not one of {labels}")

    def run(self, gen: Any, records: list[Record], sampling: Sampling) -> list[dict[str, Any]]:
        """One prediction row per record, in record order."""
        rows: list[dict[str, Any] | None] = [None] * len(records)
        closed = [i for i, r in enumerate(records) if self.scoring == "loglikelihood" and self.closed(r)]
        shut = set(closed)
        generated = [i for i in range(len(records)) if i not in shut]
        if generated:
            for i, row in zip(generated, self.generate_rows(gen, [records[i] for i in generated], sampling)):
                rows[i] = row
        if closed:
            for i, row in zip(closed, self.choice_rows(gen, [records[i] for i in closed])):
                rows[i] = row
        return [r for r in rows if r is not None]

    def generate_rows(self, gen: Any, records: list[Record], sampling: Sampling) -> list[dict[str, Any]]:
        prompts = [gen.prompt(r.instruction, r.input) for r in records]
        outs = gen.answer(prompts, int(self.cfg.max_new_tokens), sampling, progress=True)
        rows = [{**self.row(r, o.text.strip()), "scoring": "generate"} for r, o in zip(records, outs)]
        if self.cfg.get("gold_nll", True):
            for row, nll in zip(rows, self.gold_nll(gen, records)):
                row["gold_nll"] = nll
        return rows

    def gold_nll(self, gen: Any, records: list[Record]) -> list[float | None]:
        """Each reference answer's mean token NLL, teacher-forced and tokenized as in training."""
        from honeybee.evaluation.likelihood import mean_token_nll, response_nll

        max_len = int(self.cfg.get("max_seq_len") or gen.source.meta.get("max_seq_len") or 512)
        nll = response_nll(gen.model, gen.tokenizer, gen.style, records, max_len, gen.batch_size)
        return [mean_token_nll(x) for x in nll]

    def choice_rows(self, gen: Any, records: list[Record]) -> list[dict[str, Any]]:
        """Likelihood-scored rows: every option's log-likelihood, the argmax (``prediction``) and the
        per-character argmax (``prediction_norm``, lm-evaluation-harness's ``acc_norm``)."""
        from honeybee.evaluation.likelihood import score_options

        pairs: list[tuple[str, str]] = []
        spans: list[tuple[int, list[str], list[str]]] = []
        for r in records:
            labels, opts = self.options(r)
            prompt = gen.prompt(r.instruction, r.input)
            spans.append((len(pairs), labels, opts))
            pairs += [(prompt, o) for o in opts]
        scores = score_options(gen.model, gen.tokenizer, pairs, gen.batch_size, progress=True)
        rows = []
        for r, (start, labels, opts) in zip(records, spans):
            ll = [s.loglik for s in scores[start : start + len(opts)]]
            best = max(range(len(ll)), key=lambda j: (ll[j], -j))  # the first of equals, as numpy's argmax
            norm = max(range(len(ll)), key=lambda j: (ll[j] / max(len(opts[j]), 1), -j))
            gold = labels.index(r.meta["label"])
            rows.append(
                {
                    "instruction": r.instruction,
                    "input": r.input,
                    "reference": r.output,
                    "scoring": "loglikelihood",
                    **self.fields(r),
                    "label": r.meta["label"],
                    "options": opts,
                    "loglik": ll,
                    "option_tokens": [s.tokens for s in scores[start : start + len(opts)]],
                    "prediction": labels[best],
                    "prediction_norm": labels[norm],
                    "correct": best == gold,
                    "correct_norm": norm == gold,
                    "gold_loglik": ll[gold],
                }
            )
        return rows

    def fields(self, record: Record) -> dict[str, Any]:
        """The task's own identifying fields of a row (sub-task, property)."""
        return {}

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


def label_metrics(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """The metrics of single-label rows, generated or likelihood-scored (both may occur in one task).

    ``accuracy``, ``micro_f1``, ``macro_f1`` (an unreadable generation is a wrong prediction, never a class),
    ``majority_baseline`` (the accuracy of always answering the most frequent gold label: chance level), plus
    ``acc_norm`` and ``gold_loglik`` (mean log-likelihood of the gold option) where rows were scored by
    likelihood, and ``gold_nll`` (mean over records of the reference's mean token NLL) where generated.
    """
    gold = [r["label"] for r in rows]
    s = M.classification_scores(gold, [r["prediction"] for r in rows])
    out: dict[str, float | None] = dict(s)
    # The chance line to read accuracy against: always answering the most frequent gold label.
    out["majority_baseline"] = max(gold.count(g) for g in set(gold)) / len(gold)
    lik = [r for r in rows if r.get("scoring") == "loglikelihood"]
    if lik:
        out["acc_norm"] = sum(bool(r["correct_norm"]) for r in lik) / len(lik)
        out["gold_loglik"] = M.mean(r["gold_loglik"] for r in lik)
    gen = [r for r in rows if r.get("scoring") != "loglikelihood"]
    if gen and any("gold_nll" in r for r in gen):
        out["gold_nll"] = M.mean(r.get("gold_nll") for r in gen)
    return out


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

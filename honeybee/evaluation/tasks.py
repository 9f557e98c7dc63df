"""The closed-answer evaluation tasks (MatSci-NLP, DARWIN FAIR) and the task registry.

``EvalTask`` (``honeybee.evaluation.base``) says how records become rows and rows become metrics; the open-answer
tasks (SciInstruct, judge, similarity, perplexity) are in ``honeybee.evaluation.open_tasks``, registered when
this module is imported.
"""

from __future__ import annotations

from typing import Any

from honeybee.data.records import Record
from honeybee.evaluation import metrics as M
from honeybee.evaluation.base import EvalTask, balanced_subset, label_metrics
from honeybee.evaluation.extract import read_number, snap_label

__all__ = ["DarwinFair", "EvalTask", "MatSciNLP", "balanced_subset"]


class MatSciNLP(EvalTask):
    """The seven MatSci-NLP tasks: micro/macro-F1 per task and averaged over tasks.

    Generated answers are snapped onto the record's label set with ``snap_label`` (the label it starts with,
    else the earliest whole-word, non-negated label in it); text that names no label is a wrong prediction.
    Under ``scoring=loglikelihood`` the six single-label tasks (ner, rc, pc, sar, sc, sf: each record's
    output is exactly one label of its set) are scored by the likelihood of each label; event argument
    extraction (ee), whose answer is an open list of ``argument:role`` pairs, stays generative and is scored
    on those pairs (see ``metrics.pair_scores``).
    """

    name = "matsci_nlp"
    wants = "MatSci-NLP records (meta.task in ner, rc, ee, pc, sar, sc, sf)"

    def usable(self, record: Record) -> bool:
        from honeybee.data.matsci_nlp_tasks import TASKS

        # Under likelihood a record without labels is refused by check_records (not silently skipped).
        labelled = bool(record.meta.get("labels")) or self.scoring == "loglikelihood"
        return record.meta.get("task") in TASKS and labelled

    def group(self, record: Record) -> str:
        return str(record.meta["task"])

    def stratum(self, row: dict[str, Any]) -> str:
        return str(row["task"])

    def closed(self, record: Record) -> bool:
        return record.meta.get("task") != "ee"

    def fields(self, record: Record) -> dict[str, Any]:
        return {"task": record.meta["task"]}

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
                if rs and any("gold_nll" in r for r in rs):
                    s["gold_nll"] = M.mean(r.get("gold_nll") for r in rs)
            elif rs:
                s = label_metrics(rs)
            else:
                s = {"accuracy": None, "micro_f1": None, "macro_f1": None}
            out.update({f"{task}.{k}": v for k, v in s.items() if k != "accuracy" or task != "ee"})
            out[f"{task}.n"] = len(rs)
        for avg in ("micro_f1", "macro_f1"):
            out[f"avg.{avg}"] = M.mean(out[f"{t}.{avg}"] for t in TASKS)
        out["n"] = len(rows)
        return out


class DarwinFair(EvalTask):
    """DARWIN-style property prediction, per property.

    Regression: the number the answer states (``read_number``: formulas and years skipped, Unicode minus and
    scientific notation read, a range's midpoint flagged, the number next to the property's unit preferred);
    MAE, RMSE, R², parse-failure and range rates. Classification: the label (``snap_label``), or under
    ``scoring=loglikelihood`` the most likely of the record's own answer forms ("Yes, La2In is metal." vs
    "No, La2In is not metal."); accuracy, macro-F1 (and acc_norm, gold log-likelihood).
    """

    name = "darwin_fair"
    wants = "regression/classification records (meta.task_type with meta.target or meta.label)"

    def usable(self, record: Record) -> bool:
        m = record.meta
        if m.get("negative"):
            return False
        if m.get("task_type") == "regression":
            return m.get("target") is not None
        labelled = bool(m.get("labels")) or self.scoring == "loglikelihood"
        return m.get("task_type") == "classification" and m.get("label") is not None and labelled

    def group(self, record: Record) -> str:
        return str(record.meta.get("property"))

    def stratum(self, row: dict[str, Any]) -> str:
        return str(row["property"])

    def closed(self, record: Record) -> bool:
        return record.meta.get("task_type") == "classification"

    def check_records(self, records: list[Record], where: str) -> None:
        if self.scoring == "loglikelihood" and any(
            self.closed(r) and "options" not in r.meta and r.meta.get("labels") for r in records
        ):
            # A split written before answer options existed: rebuild them from the records evaluated.
            from honeybee.data.darwin_fair import fill_answer_options

            fill_answer_options([r for r in records if r.meta.get("labels")])
        super().check_records(records, where)

    def fields(self, record: Record) -> dict[str, Any]:
        return {"property": str(record.meta.get("property")), "task_type": record.meta["task_type"]}

    def read(self, record: Record, completion: str) -> dict[str, Any]:
        m = record.meta
        row = self.fields(record)
        if m["task_type"] == "regression":
            unit = str(m.get("unit") or "")
            got = read_number(completion, unit)
            return {
                **row,
                "target": float(m["target"]),
                "prediction": None if got is None else got.value,
                "number_text": None if got is None else got.text,
                "is_range": bool(got is not None and got.is_range),
                "unit": unit,
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
                out[f"{prop}.range_rate"] = sum(bool(r.get("is_range")) for r in rs) / len(rs)
                if any("gold_nll" in r for r in rs):
                    out[f"{prop}.gold_nll"] = M.mean(r.get("gold_nll") for r in rs)
            else:
                s = label_metrics(rs)
                out.update({f"{prop}.{k}": v for k, v in s.items() if k != "micro_f1"})
                out[f"{prop}.n"] = len(rs)
                macro.append(s["macro_f1"])
        if reg:
            out["regression.parse_fail_rate"] = M.regression_scores(
                [r["target"] for r in reg], [r["prediction"] for r in reg]
            )["parse_fail_rate"]
        if cls:
            out["classification.accuracy"] = sum(bool(r["correct"]) for r in cls) / len(cls)
            out["classification.macro_f1"] = M.mean(macro)
        out["n"] = len(rows)
        return out


# The open-answer tasks register themselves on import (kept in their own module for size).
from honeybee.evaluation import open_tasks  # noqa: E402, F401

"""Metrics, answer reading, the judge parser and the reports, against hand-computed values."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf

from honeybee.data.records import Record
from honeybee.evaluation import metrics as M
from honeybee.evaluation.judge import parse_judge_reply, render
from honeybee.evaluation.open_tasks import SciInstruct
from honeybee.evaluation.report import comparison_table, markdown_table, stage_axis, write_run_report
from honeybee.evaluation.tasks import DarwinFair, EvalTask, MatSciNLP, balanced_subset

CRITERIA = ["accuracy", "relevance", "completeness", "reasonableness"]


def test_classification_scores_by_hand():
    # gold a a b c / pred a b b (none): TP a=1 b=1 c=0, FP b=1, FN a=1 c=1
    s = M.classification_scores(["a", "a", "b", "c"], ["a", "b", "b", None])
    assert s["accuracy"] == 0.5
    assert s["micro_f1"] == pytest.approx(4 / 7)  # P=2/3, R=2/4
    assert s["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)  # a: P1 R.5, b: P.5 R1, c: 0
    assert M.classification_scores([], [])["micro_f1"] is None
    # chance line: P(gold)=(.5,.25,.25), P(pred)=(.25,.5,0) (+ one unreadable) -> .125+.125 = .25
    assert s["kappa"] == pytest.approx((0.5 - 0.25) / (1 - 0.25))


def test_kappa_sees_an_answer_prior_that_accuracy_rewards():
    """A model that says "Yes" to almost everything on a mostly-"Yes" set: high accuracy, kappa ~0; one that
    knows the answers: kappa 1; one that negates them: below 0."""
    gold = ["Yes"] * 70 + ["No"] * 30
    prior = ["Yes"] * 63 + ["No"] * 7 + ["Yes"] * 27 + ["No"] * 3  # 90 % "Yes", independent of the gold
    s = M.classification_scores(gold, prior)
    assert s["accuracy"] == pytest.approx(0.66) and abs(s["kappa"]) < 1e-9
    assert M.classification_scores(gold, gold)["kappa"] == 1.0
    flipped = ["No" if g == "Yes" else "Yes" for g in gold]
    assert M.classification_scores(gold, flipped)["kappa"] < 0
    assert M.classification_scores(["a", "a"], ["a", "a"])["kappa"] == 0.0  # undefined: chance is 1


def test_event_argument_pairs_by_hand():
    roles = ["recipe_precursor", "solvent_material", "none"]
    assert M.parse_event_arguments("Fe2O3 :Recipe_Precursor, water:solvent_material", roles) == [
        ("fe2o3", "recipe_precursor"),
        ("water", "solvent_material"),
    ]
    assert M.parse_event_arguments("none:none", roles) == [("none", "none")]
    assert M.parse_event_arguments("no arguments here", roles) == []
    gold = [[("a", "r1"), ("b", "r2")], [("none", "none")], [("d", "r1")]]
    pred = [[("a", "r1"), ("c", "r2")], [("none", "none")], []]
    s = M.pair_scores(gold, pred)
    assert s["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))  # TP 2, FP 1 (c), FN 2 (b, d)
    # r1: TP1 FN1 -> 2/3; r2: TP0 FP1 FN1 -> 0; none: 1
    assert s["macro_f1"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert s["accuracy"] == pytest.approx(1 / 3)


def test_regression_scores_by_hand():
    s = M.regression_scores([1.0, 2.0, 3.0, 4.0], [1.5, None, 2.0, math.inf])
    assert s["parse_fail_rate"] == 0.5 and s["n_parsed"] == 2 and s["n"] == 4
    assert s["mae"] == pytest.approx(0.75)
    assert s["rmse"] == pytest.approx(math.sqrt(0.625))
    assert s["r2"] == pytest.approx(1 - 1.25 / 2)  # SS_res (0.25 + 1) over SS_tot around mean 2 (1 + 1)
    none = M.regression_scores([1.0, 2.0], [None, None])
    assert none["parse_fail_rate"] == 1.0 and none["mae"] is None and none["r2"] is None


def test_answers_match():
    assert M.answers_match("$\\frac{1}{2}$.", "\\frac12")
    assert M.answers_match("3.14 m/s", "3.1416 m/s") and not M.answers_match("3.14 m/s", "3.14 km")
    assert M.answers_match("1000", "1.001e3") and not M.answers_match("1100", "1000")
    assert M.answers_match("B", "b") and not M.answers_match(None, "5")


def test_judge_reply_parser_on_canned_replies():
    want = {"accuracy": 90.0, "relevance": 85.0, "completeness": 70.0, "reasonableness": 88.0}
    js = '{"accuracy": 90, "relevance": 85, "completeness": 70, "reasonableness": 88}'
    assert parse_judge_reply(js, CRITERIA) == want
    assert parse_judge_reply(f"Here you go:\n```json\n{js}\n```\nThanks", CRITERIA) == want
    assert (
        parse_judge_reply(
            '{"Accuracy": "90", "Relevance": 85, "Completeness": 70.0, "Reasonableness": 88}', CRITERIA
        )
        == want
    )
    prose = "**Accuracy**: 90\nRelevance = 85\ncompleteness: 70/100\nReasonableness:88"
    assert parse_judge_reply(prose, CRITERIA) == want
    assert parse_judge_reply('{"accuracy": 90, "relevance": 85}', CRITERIA) is None  # a criterion missing
    assert parse_judge_reply(js.replace("88", "188"), CRITERIA) is None  # out of range
    for garbage in ("", "I cannot grade this.", "{broken json", "accuracy high, relevance high"):
        assert parse_judge_reply(garbage, CRITERIA) is None
    assert (
        render('Q: {instruction} A: {answer} {"x": 1}', instruction="q", answer="a") == 'Q: q A: a {"x": 1}'
    )


def _nlp(task, label, labels):
    return Record(
        "q", "text", label, {"task": task, "label": label, "labels": labels, "task_type": "classification"}
    )


def test_matsci_nlp_reads_and_scores_every_task():
    t = MatSciNLP(OmegaConf.create({}))
    recs = [
        _nlp("ner", "MATERIAL", ["MATERIAL", "VALUE"]),
        _nlp("ner", "VALUE", ["MATERIAL", "VALUE"]),
        _nlp("sc", "yes", ["yes", "no"]),
        _nlp("ee", "fe2o3:recipe_precursor", ["recipe_precursor", "none"]),
    ]
    outs = ["material", "The answer is MATERIAL.", "unclear", "Fe2O3:recipe_precursor"]
    rows = [t.row(r, c) for r, c in zip(recs, outs)]
    assert [r.get("prediction") for r in rows[:3]] == ["MATERIAL", "MATERIAL", None]
    m = t.metrics(rows)
    assert m["ner.micro_f1"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 1)) and m["ner.n"] == 2
    assert m["ner.macro_f1"] == pytest.approx((2 / 3 + 0) / 2)
    assert m["sc.micro_f1"] == 0 and m["ee.micro_f1"] == 1.0
    for task in ("ner", "rc", "ee", "pc", "sar", "sc", "sf"):  # every task reported, absent ones as None
        assert f"{task}.micro_f1" in m and f"{task}.macro_f1" in m
    assert m["rc.micro_f1"] is None and m["rc.n"] == 0
    assert m["avg.micro_f1"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert json.loads(json.dumps(rows))  # predictions rows are plain JSON


def test_darwin_fair_reads_numbers_and_labels():
    t = DarwinFair(OmegaConf.create({}))
    reg = {"task_type": "regression", "property": "band_gap", "unit": "eV"}
    cls = {"task_type": "classification", "property": "is_metal", "labels": ["Yes", "No"]}
    recs = [
        Record("gap?", "Si", "1.12 eV", {**reg, "target": 1.12}),
        Record("gap?", "C", "5.5 eV", {**reg, "target": 5.5}),
        Record("gap?", "GaAs", "1.42 eV", {**reg, "target": 1.42}),
        Record("metal?", "Cu", "Yes", {**cls, "label": "Yes"}),
        Record("metal?", "Si", "No", {**cls, "label": "No"}),
        Record("x", "berry", "berry is not a material", {**reg, "target": None, "negative": True}),
    ]
    assert [t.usable(r) for r in recs] == [True] * 5 + [False]
    rows = [t.row(r, c) for r, c in zip(recs[:5], ["about 1.0 eV", "5,5", "large", "Yes, it is", "No."])]
    m = t.metrics(rows)
    assert m["band_gap.parse_fail_rate"] == pytest.approx(1 / 3)
    assert m["band_gap.mae"] == pytest.approx((0.12 + 0.0) / 2)  # "5,5" is a decimal comma: 5.5
    assert m["is_metal.accuracy"] == 1.0 and m["classification.macro_f1"] == 1.0
    assert m["regression.parse_fail_rate"] == pytest.approx(1 / 3) and m["n"] == 5


def test_sciinstruct_final_answers():
    t = SciInstruct(OmegaConf.create({"rel_tol": 0.01}))
    recs = [
        Record("2+3?", "", "2+3=5. The answer is 5.", {"answer": "5", "subject": "math"}),
        Record("x?", "", "So x = \\boxed{\\frac{1}{2}}", {"subject": "math"}),
        Record("v?", "", "The answer is 3.0 m/s", {"subject": "physics"}),
        Record("no answer", "", "A proof without a final answer.", {}),
    ]
    assert [t.usable(r) for r in recs] == [True, True, True, False]
    rows = [
        t.row(r, c) for r, c in zip(recs, ["The answer is 5", "x = $\\frac12$. Final answer: 1/2", "fast"])
    ]
    assert [r["correct"] for r in rows] == [True, False, False]
    m = t.metrics(rows)
    assert m["accuracy"] == pytest.approx(1 / 3) and m["answer_missing_rate"] == pytest.approx(1 / 3)
    assert m["math.accuracy"] == 0.5 and m["physics.accuracy"] == 0.0


def test_balanced_subset_and_unknown_task():
    recs = [Record(f"{k}{i}", meta={"k": k}) for k in "aab" for i in range(3)]
    got = balanced_subset(recs, 4, lambda r: r.meta["k"])
    assert [r.instruction for r in got] == ["a0", "b0", "a1", "b1"]
    assert balanced_subset(recs, None, lambda r: 0) == recs
    with pytest.raises(Exception, match="unknown task 'nope'"):
        EvalTask.create("nope", {})


def test_run_labels_and_folders():
    from honeybee.evaluation.task import folder_name, unique_labels

    assert unique_labels(["a", "exp/m/stage1", "a", "a"]) == ["a", "exp/m/stage1", "a-2", "a-3"]
    assert folder_name("exp/m/stage1") == "exp__m__stage1" and folder_name("run-2") == "run-2"


def test_reports_hold_the_numbers(tmp_path):
    results = {
        "darwin_fair": {"band_gap.mae": 0.31, "band_gap.r2": None, "n": 5},
        "perplexity": {"loss": 2.5},
    }
    preds = {"darwin_fair": [{"completion": "1.0", "prediction": 1.0}], "perplexity": [{"loss": 2.5}]}
    out = write_run_report(
        tmp_path / "r", "run", results, {"darwin_fair": {"records": 5}}, {"split": "test"}, preds
    )
    body = json.loads((out / "results.json").read_text())
    assert body["results"] == results and body["counts"]["darwin_fair"]["records"] == 5
    md = (out / "report.md").read_text()
    assert "| darwin_fair | band_gap.mae | 0.31 |" in md and "| perplexity | loss | 2.5 |" in md
    assert (out / "plots" / "darwin_fair.png").stat().st_size > 1000
    assert json.loads((out / "predictions" / "darwin_fair.jsonl").read_text()) == preds["darwin_fair"][0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left behind
    assert "| task | metric | value |" in markdown_table(results)
    table = comparison_table({"s1": results, "s2": {"perplexity": {"loss": 2.0}}})
    assert "| perplexity | loss | 2.5 | 2 |" in table
    assert "| darwin_fair | band_gap.mae | 0.31 | – |" in table
    assert stage_axis(["a", "b"], [1, 2]) == ([1.0, 2.0], "stage")
    assert stage_axis(["a", "b"], [1, None]) == ([0.0, 1.0], "run")


def test_a_failed_report_leaves_nothing(tmp_path, monkeypatch):
    def crash(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr("honeybee.evaluation.report.task_bars", crash)
    with pytest.raises(RuntimeError):
        write_run_report(tmp_path / "r", "run", {"t": {"m": 1.0}}, {}, {}, {"t": [{"a": 1}]})
    assert list(tmp_path.iterdir()) == []


@given(
    st.lists(
        st.tuples(st.sampled_from("abcd"), st.sampled_from(["a", "b", "c", "e", None])),
        min_size=1,
        max_size=40,
    )
)
def test_classification_scores_equal_scikit_learns(pairs):
    """The numpy counting (fast enough for the bootstrap) gives scikit-learn's numbers, None predictions too."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

    gold, pred = [g for g, _ in pairs], [p for _, p in pairs]
    y = [p if p is not None else M.NO_PREDICTION for p in pred]
    labels = sorted(set(gold) | {p for p in pred if p is not None})
    s = M.classification_scores(gold, pred)
    assert s["accuracy"] == pytest.approx(accuracy_score(gold, y))
    for avg in ("micro", "macro"):
        want = f1_score(gold, y, labels=labels, average=avg, zero_division=0)
        assert s[f"{avg}_f1"] == pytest.approx(want), avg
    if len(set(gold) | set(y)) > 1:  # scikit-learn's kappa is nan where chance is 1
        assert s["kappa"] == pytest.approx(cohen_kappa_score(gold, y), abs=1e-9)


@given(
    st.lists(
        st.tuples(
            st.floats(-100, 100, allow_nan=False),
            st.one_of(st.none(), st.floats(-100, 100, allow_nan=False), st.just(math.inf)),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_regression_scores_equal_scikit_learns(pairs):
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    t, p = [a for a, _ in pairs], [b for _, b in pairs]
    s = M.regression_scores(t, p)
    ok = [(a, b) for a, b in pairs if b is not None and math.isfinite(b)]
    assert s["parse_fail_rate"] == pytest.approx(1 - len(ok) / len(pairs))
    if not ok:
        assert s["mae"] is None
        return
    ta, pa = [a for a, _ in ok], [b for _, b in ok]
    assert s["mae"] == pytest.approx(mean_absolute_error(ta, pa), abs=1e-9)
    assert s["rmse"] == pytest.approx(math.sqrt(mean_squared_error(ta, pa)), abs=1e-9)
    if len(ok) > 1 and len(set(ta)) > 1 and s["r2"] is not None:
        assert s["r2"] == pytest.approx(r2_score(ta, pa), rel=1e-6, abs=1e-6)

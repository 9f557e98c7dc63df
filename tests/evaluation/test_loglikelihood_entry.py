"""`python evaluate.py ... scoring=loglikelihood` on a tiny-model run: rows, metrics, intervals, refusals."""

from __future__ import annotations

import json

import pytest
from conftest import ONE_THREAD, run_script

from honeybee.evaluation.tasks import EvalTask


def _eval(args, run_dir):
    return run_script("evaluate.py", args, run_dir, env=ONE_THREAD)


def test_closed_records_scored_by_likelihood_open_ones_generated(tiny_run_dir, tmp_path):
    r = _eval(
        [
            f"runs=[{tiny_run_dir}]",
            "tasks=[darwin_fair]",
            "limit=18",
            "eval_task.darwin_fair.scoring=loglikelihood",
            "eval_task.darwin_fair.max_new_tokens=6",
            "bootstrap.resamples=200",
        ],
        tmp_path / "e",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    folder = r.run_dir / tiny_run_dir.name
    body = json.loads((folder / "results.json").read_text())
    rows = [json.loads(x) for x in (folder / "predictions" / "darwin_fair.jsonl").read_text().splitlines()]
    closed = [x for x in rows if x["task_type"] == "classification"]
    open_ = [x for x in rows if x["task_type"] == "regression"]
    assert closed and open_ and len(rows) == 18
    for x in closed:
        assert x["scoring"] == "loglikelihood" and "completion" not in x
        assert len(x["loglik"]) == len(x["options"]) >= 2 and all(v < 0 for v in x["loglik"])
        assert x["reference"] in x["options"]  # the records' own answer forms
        best = max(range(len(x["loglik"])), key=lambda j: x["loglik"][j])
        norm = max(range(len(x["loglik"])), key=lambda j: x["loglik"][j] / len(x["options"][j]))
        # materials facts answer with the bare label, so options and labels coincide
        assert x["prediction"] == x["options"][best] and x["prediction_norm"] == x["options"][norm]
        assert x["correct"] == (x["prediction"] == x["label"])
        assert x["gold_loglik"] == x["loglik"][x["options"].index(x["reference"])]
    for x in open_:
        assert x["scoring"] == "generate" and isinstance(x["completion"], str)
        assert x["gold_nll"] is None or x["gold_nll"] > 0
    res = body["results"]["darwin_fair"]
    again = EvalTask.create("darwin_fair", {}).metrics(rows)
    assert again == res
    for prop in {x["property"] for x in closed}:
        mine = [x for x in closed if x["property"] == prop]
        assert res[f"{prop}.accuracy"] == pytest.approx(sum(x["correct"] for x in mine) / len(mine))
        assert res[f"{prop}.acc_norm"] == pytest.approx(sum(x["correct_norm"] for x in mine) / len(mine))
        assert res[f"{prop}.gold_loglik"] == pytest.approx(sum(x["gold_loglik"] for x in mine) / len(mine))
        assert f"{prop}.macro_f1" in res
    nll = [x["gold_nll"] for x in open_ if x["property"] == "band_gap" and x["gold_nll"] is not None]
    assert res["band_gap.gold_nll"] == pytest.approx(sum(nll) / len(nll))
    iv = body["intervals"]["darwin_fair"]
    assert (
        iv["classification.accuracy"][0] <= res["classification.accuracy"] <= iv["classification.accuracy"][1]
    )
    assert body["settings"]["bootstrap"]["resamples"] == 200


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _cls(labels, label="Yes"):
    meta = {"task_type": "classification", "property": "is_metal", "label": label, "labels": labels}
    return {"instruction": "Is it a metal?", "input": "Cu", "output": label, "meta": meta}


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([_cls(["Yes", "No"]), _cls(None)], "record 1 of "),
        ([_cls(["Yes"])], "needs a label set of two or more options, it has 1 ['Yes']"),
        ([_cls(["Yes", "No"], label="Maybe")], "its gold label 'Maybe' is not one of ['Yes', 'No']"),
    ],
    ids=["no_label_set", "one_option", "gold_not_an_option"],
)
def test_unscorable_records_are_refused_before_any_model_loads(tiny_run_dir, tmp_path, records, expected):
    data = _write(tmp_path / "bad.jsonl", records)
    r = _eval(
        [
            f"runs=[{tiny_run_dir}]",
            "tasks=[darwin_fair]",
            f"eval_task.darwin_fair.data_file={data}",
            "eval_task.darwin_fair.scoring=loglikelihood",
        ],
        tmp_path / "bad",
    )
    assert r.returncode == 2, r.stderr[-2000:]
    line = r.last_err_line
    assert line.startswith("honeybee: error: task darwin_fair: ") and expected in line, line
    assert str(data) in line and "Traceback" not in r.stderr
    assert "loaded" not in r.stderr  # refused before the model was loaded
    assert not list(r.run_dir.rglob("results.json"))


def test_unknown_scoring_is_a_config_error(tiny_run_dir, tmp_path):
    r = _eval(
        [f"runs=[{tiny_run_dir}]", "tasks=[darwin_fair]", "eval_task.darwin_fair.scoring=vibes"],
        tmp_path / "b",
    )
    assert r.returncode == 2
    assert "eval_task.darwin_fair.scoring='vibes' is not one of: generate, loglikelihood" in r.last_err_line

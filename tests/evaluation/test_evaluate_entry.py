"""The real `python evaluate.py` entry point on a tiny-model run: reports, recomputation, judge, errors."""

from __future__ import annotations

import json
import math
import shutil

import pytest
from conftest import ONE_THREAD, SHARED_DATA, needs_shared, run_script

from honeybee.evaluation.tasks import EvalTask


def _eval(args, run_dir, env=None):
    return run_script("evaluate.py", args, run_dir, env={**ONE_THREAD, **(env or {})})


def _report(folder):
    body = json.loads((folder / "results.json").read_text())
    preds = {
        p.stem: [json.loads(x) for x in p.read_text().splitlines()]
        for p in (folder / "predictions").iterdir()
    }
    return body, preds


def _same(a, b):
    return (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9))


def test_run_folder_tasks_report_numbers_that_recompute(tiny_run_dir, tmp_path):
    sci = tmp_path / "sci.jsonl"
    sci.write_text(
        '{"instruction": "2+3?", "output": "The answer is 5."}\n'
        '{"instruction": "10/4?", "output": "Final answer: 2.5", "meta": {"subject": "math"}}\n'
    )
    r = _eval(
        [
            f"runs=[{tiny_run_dir}]",
            "tasks=[darwin_fair,perplexity,similarity,sciinstruct]",
            "limit=12",
            "eval_task.similarity.max_new_tokens=8",
            f"eval_task.sciinstruct.data_file={sci}",
            "eval_task.sciinstruct.max_new_tokens=12",
            "logger=wandb",
        ],
        tmp_path / "e",
        env={"WANDB_MODE": "offline", "WANDB_SILENT": "true"},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    folder = r.run_dir / tiny_run_dir.name
    body, preds = _report(folder)
    res = body["results"]
    assert set(res) == {"darwin_fair", "perplexity", "similarity", "sciinstruct"}
    counts = body["counts"]["darwin_fair"]
    assert {k: counts[k] for k in ("data", "records", "usable", "read")} == {
        "data": str(tiny_run_dir / "splits" / "test.jsonl"),
        "records": 12,
        "usable": 113,
        "read": 113,
    }
    assert counts["seconds"] > 0 and len(counts["records_hash"]) == 16
    assert (
        body["settings"]["sampling"]["do_sample"] is False
        and body["settings"]["source"]["base_model"] == "tiny_llama"
    )
    # every number comes back from the predictions file alone, and so does every interval
    from honeybee.evaluation.bootstrap import Bootstrap, bootstrap

    assert body["settings"]["bootstrap"]["resamples"] == 1000
    reps = json.loads((folder / "bootstrap.json").read_text())
    for task, rows in preds.items():
        t = EvalTask.create(task, {"rel_tol": 0.01})
        again = t.metrics(rows)
        assert set(again) == set(res[task]) and all(_same(again[k], res[task][k]) for k in again), task
        ivs, _ = bootstrap(t.metrics, rows, [t.stratum(r) for r in rows], Bootstrap(1000, 0, 0.95))
        assert ivs == body["intervals"][task], task
        for m, iv in ivs.items():
            if iv is not None and res[task][m] is not None and iv[0] != iv[1]:
                assert len(reps[task][m]) == 1000
    gap_mae = body["intervals"]["darwin_fair"].get("band_gap.mae")
    if gap_mae is not None:
        assert gap_mae[0] <= res["darwin_fair"]["band_gap.mae"] <= gap_mae[1]
    # and by independent arithmetic
    gap = [x for x in preds["darwin_fair"] if x["property"] == "band_gap"]
    ok = [abs(x["prediction"] - x["target"]) for x in gap if x["prediction"] is not None]
    assert res["darwin_fair"]["band_gap.parse_fail_rate"] == pytest.approx(1 - len(ok) / len(gap))
    if ok:
        assert res["darwin_fair"]["band_gap.mae"] == pytest.approx(sum(ok) / len(ok))
    assert {x["property"] for x in preds["darwin_fair"]} == {
        "band_gap",
        "density",
        "melting_point",
        "is_metal",
        "electrical_class",
        "crystal_structure",
    }
    cos = [x["cosine"] for x in preds["similarity"]]
    assert all(-1.0001 <= c <= 1.0001 for c in cos) and res["similarity"]["cosine_mean"] == pytest.approx(
        sum(cos) / 12
    )
    assert res["sciinstruct"]["n"] == 2 and 0 <= res["sciinstruct"]["accuracy"] <= 1
    assert res["perplexity"]["perplexity"] == pytest.approx(math.exp(res["perplexity"]["loss"]))
    md = (folder / "report.md").read_text()
    assert f"| perplexity | loss | {res['perplexity']['loss']:.4g} |" in md
    for task in res:
        assert (folder / "plots" / f"{task}.png").stat().st_size > 1000
    assert list((folder / "wandb").glob("offline-run-*/run-*.wandb"))


def test_perplexity_matches_the_training_loss_code(tiny_run_dir, tmp_path):
    r = _eval([f"runs=[{tiny_run_dir}]", "tasks=[perplexity]", "limit=10"], tmp_path / "p")
    assert r.returncode == 0, r.stderr[-3000:]
    body, _ = _report(r.run_dir / tiny_run_dir.name)
    from honeybee.data.prompts import PromptStyle
    from honeybee.data.records import Record
    from honeybee.evaluation.heldout import heldout_loss
    from honeybee.evaluation.tasks import balanced_subset
    from honeybee.generation.source import load_weights, resolve_source

    src = resolve_source(str(tiny_run_dir), None, tmp_path)
    model, tok = load_weights(src)
    recs = [
        Record.from_dict(json.loads(x))
        for x in (tiny_run_dir / "splits" / "test.jsonl").read_text().splitlines()
    ]
    want = heldout_loss(
        model, tok, PromptStyle.from_name("alpaca", tok), balanced_subset(recs, 10, lambda r: "all"), 256
    )
    assert body["results"]["perplexity"]["loss"] == pytest.approx(want["loss"], rel=1e-5)


def test_judge_against_the_projects_own_server(tiny_run_dir, tiny_server, tmp_path):
    secret = "sk-test-never-written-9f3a"
    r = _eval(
        [
            f"runs=[{tiny_run_dir}]",
            "tasks=[judge]",
            "limit=3",
            f"eval_task.judge.base_url={tiny_server}",
            "eval_task.judge.model=tiny",
            "eval_task.judge.api_key_env=HB_TEST_JUDGE_KEY",
            "eval_task.judge.max_new_tokens=8",
            "eval_task.judge.max_tokens=24",
            "use_run_splits=true",
        ],
        tmp_path / "j",
        env={"HB_TEST_JUDGE_KEY": secret},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    body, preds = _report(r.run_dir / tiny_run_dir.name)
    j = body["results"]["judge"]
    # the tiny model's replies are garbage: every one is a counted parse failure, none an error
    assert j["n"] == 3 and j["error_rate"] == 0 and j["n_scored"] + round(j["parse_fail_rate"] * 3) == 3
    assert all(isinstance(x["judge_reply"], str) and x["judge_error"] is None for x in preds["judge"])
    assert body["settings"]["tasks"]["judge"]["api_key_env"] == "HB_TEST_JUDGE_KEY"
    for f in r.run_dir.rglob("*"):
        assert not f.is_file() or secret not in f.read_text(errors="ignore"), f
    assert secret not in r.stdout + r.stderr


def test_runs_side_by_side_with_stage_curves(tiny_run_dir, tmp_path):
    logs = tmp_path / "logs"
    for n in (1, 2):
        stage = logs / "exp" / "tiny_llama" / f"stage{n}"
        shutil.copytree(tiny_run_dir, stage)
        meta = json.loads((stage / "adapter" / "honeybee.json").read_text())
        (stage / "adapter" / "honeybee.json").write_text(json.dumps({**meta, "stage": n}))
    r = _eval(
        ["runs=[base,exp/stage1,exp/stage2]", f"paths.log_dir={logs}", "tasks=[perplexity]", "limit=8"],
        tmp_path / "c",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    comp = json.loads((r.run_dir / "comparison" / "comparison.json").read_text())
    assert list(comp["runs"]) == ["tiny_llama", "exp/tiny_llama/stage1", "exp/tiny_llama/stage2"]
    assert comp["stages"] == [0, 1, 2]
    base_loss = comp["runs"]["tiny_llama"]["perplexity"]["loss"]
    s1 = comp["runs"]["exp/tiny_llama/stage1"]["perplexity"]["loss"]
    assert (
        s1 == pytest.approx(comp["runs"]["exp/tiny_llama/stage2"]["perplexity"]["loss"]) and s1 != base_loss
    )
    for name in ("compare_perplexity.png", "stages_perplexity.png"):
        assert (r.run_dir / "comparison" / "plots" / name).stat().st_size > 1000
    assert "| perplexity | loss |" in (r.run_dir / "comparison" / "report.md").read_text()
    base = json.loads((r.run_dir / "tiny_llama" / "results.json").read_text())
    assert base["counts"]["perplexity"]["data"] == str(
        logs / "exp" / "tiny_llama" / "stage1" / "splits" / "test.jsonl"
    )
    assert {p.name for p in r.run_dir.iterdir() if (p / "results.json").is_file()} == {
        "tiny_llama",
        "exp__tiny_llama__stage1",
        "exp__tiny_llama__stage2",
    }


@needs_shared(SHARED_DATA / "matsci_nlp")
@needs_shared(SHARED_DATA / "darwin_fair")
def test_real_matsci_nlp_and_darwin_data(tiny_run_dir, tmp_path):
    r = _eval(
        [
            f"runs=[{tiny_run_dir}]",
            "tasks=[matsci_nlp,darwin_fair]",
            "use_run_splits=false",
            "limit=14",
            "eval_task.matsci_nlp.max_new_tokens=6",
            "eval_task.darwin_fair.max_new_tokens=6",
        ],
        tmp_path / "real",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    body, preds = _report(r.run_dir / tiny_run_dir.name)
    nlp = body["results"]["matsci_nlp"]
    for task in ("ner", "rc", "ee", "pc", "sar", "sc", "sf"):  # every task, event extraction included
        assert (
            nlp[f"{task}.n"] == 2
            and nlp[f"{task}.micro_f1"] is not None
            and nlp[f"{task}.macro_f1"] is not None
        )
    assert nlp["avg.micro_f1"] is not None and body["counts"]["matsci_nlp"]["usable"] > 1000
    ee = [x for x in preds["matsci_nlp"] if x["task"] == "ee"]
    assert all(x["gold_pairs"] for x in ee)
    darwin = body["results"]["darwin_fair"]
    assert (
        darwin["n"] == 14 and "regression.parse_fail_rate" in darwin and "classification.accuracy" in darwin
    )


BAD = [
    (["runs=[{tmp}/nope]"], "no such folder"),
    (["runs=[{run}]", "model=smollm2_135m"], "was trained on base model tiny_llama"),
    (["runs=[{run}]", "tasks=[perplexity,bleu]"], "unknown task 'bleu'"),
    (["runs=[{empty}]"], "the test split is empty"),
    (
        ["runs=[{run}]", "tasks=[judge]", "eval_task.judge.base_url=http://127.0.0.1:9/v1"],
        "judge endpoint http://127.0.0.1:9/v1 is unreachable",
    ),
    (["runs=[{run}]", "tasks=[matsci_nlp]"], "task matsci_nlp: no MatSci-NLP records"),
]


@pytest.mark.parametrize(
    ("args", "expected"),
    BAD,
    ids=["missing", "other_base", "unknown_task", "empty_split", "judge_down", "wrong_data"],
)
def test_bad_input_is_one_line_and_leaves_no_report(args, expected, tiny_run_dir, tmp_path):
    empty = tmp_path / "empty_run"
    shutil.copytree(tiny_run_dir, empty)
    (empty / "splits" / "test.jsonl").write_text("")
    r = _eval([a.format(tmp=tmp_path, run=tiny_run_dir, empty=empty) for a in args], tmp_path / "bad")
    assert r.returncode == 2, (args, r.stderr[-1000:])
    assert r.last_err_line.startswith("honeybee: error: ") and expected in r.last_err_line, r.last_err_line
    assert "Traceback" not in r.stderr
    assert not list(r.run_dir.rglob("results.json")) and not list(r.run_dir.rglob("report.md"))

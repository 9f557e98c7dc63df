"""lm-evaluation-harness on both ends: honeybee's tasks exported as harness tasks, and the harness as a backend.

The exported tasks hold the same records, prompts and options as honeybee's likelihood scoring, so the harness
must report the same accuracy; run through ``evaluate.py harness=lm_eval`` they land in the same results.json.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml
from conftest import ONE_THREAD, ROOT, SHARED_DATA, needs_shared, run_script

pytest.importorskip("lm_eval")

LIMIT = 16
EXPORT_OVERRIDES = [
    f"limit={LIMIT}",
    "eval_task.darwin_fair.data.tasks=[matbench_is_metal,matbench_glass]",
    "eval_task.matsci_nlp.data.tasks=[pc,sar]",
]


def _export(out, overrides=EXPORT_OVERRIDES):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "honeybee.evaluation.lm_eval_tasks", str(out), *overrides],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **ONE_THREAD},
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    if not (SHARED_DATA / "darwin_fair").is_dir() or not (SHARED_DATA / "matsci_nlp").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (../shared/data is absent)")
    out = tmp_path_factory.mktemp("lm_eval_tasks") / "tasks"
    p = _export(out)
    assert p.returncode == 0, p.stderr[-2000:]
    return out


NAMES = [
    "honeybee_darwin_fair_glass_forming_ability",
    "honeybee_darwin_fair_is_metal",
    "honeybee_matsci_nlp_pc",
    "honeybee_matsci_nlp_sar",
]


def test_export_writes_harness_tasks_with_honeybees_prompts(exported):
    files = sorted(p.name for p in exported.iterdir())
    for n in NAMES:
        assert f"{n}.yaml" in files and f"{n}.jsonl" in files
    cfg = yaml.safe_load((exported / "honeybee_darwin_fair_is_metal.yaml").read_text())
    assert cfg["output_type"] == "multiple_choice" and cfg["target_delimiter"] == ""
    assert cfg["dataset_kwargs"]["data_files"]["test"] == str(
        exported / "honeybee_darwin_fair_is_metal.jsonl"
    )
    docs = [
        json.loads(x) for x in (exported / "honeybee_darwin_fair_is_metal.jsonl").read_text().splitlines()
    ]
    assert 0 < len(docs) <= LIMIT
    for d in docs:
        assert d["prompt"].startswith("Below is an instruction") and d["prompt"].endswith("### Response:\n")
        assert d["options"][d["gold"]].startswith(d["label"]) and d["input"] in d["options"][0]
    group = yaml.safe_load((exported / "honeybee_matsci_nlp.yaml").read_text())
    assert group["task"] == ["honeybee_matsci_nlp_pc", "honeybee_matsci_nlp_sar"]


def test_the_harness_reproduces_honeybees_accuracy_in_one_results_json(exported, tiny_run_dir, tmp_path):
    r = run_script(
        "evaluate.py",
        [
            f"runs=[{tiny_run_dir}]",
            "tasks=[darwin_fair,matsci_nlp]",
            "use_run_splits=false",
            *EXPORT_OVERRIDES,
            "eval_task.darwin_fair.scoring=loglikelihood",
            "eval_task.matsci_nlp.scoring=loglikelihood",
            "eval_task.matsci_nlp.max_new_tokens=4",
            "harness=lm_eval",
            f"harness.tasks=[{','.join(NAMES)}]",
            f"harness.include_path={exported}",
            "harness.batch_size=8",
            "bootstrap.resamples=200",
        ],
        tmp_path / "e",
        env=ONE_THREAD,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    body = json.loads((r.run_dir / tiny_run_dir.name / "results.json").read_text())
    res, lm = body["results"], body["results"]["lm_eval"]
    pairs = [
        ("honeybee_darwin_fair_glass_forming_ability", res["darwin_fair"], "glass_forming_ability"),
        ("honeybee_darwin_fair_is_metal", res["darwin_fair"], "is_metal"),
        ("honeybee_matsci_nlp_pc", res["matsci_nlp"], "pc"),
        ("honeybee_matsci_nlp_sar", res["matsci_nlp"], "sar"),
    ]
    for name, ours, sub in pairs:
        assert lm[f"{name}/acc"] == pytest.approx(ours[f"{sub}.accuracy"], abs=1e-9), name
        assert lm[f"{name}/acc_norm"] == pytest.approx(ours[f"{sub}.acc_norm"], abs=1e-9), name
        assert f"{name}/acc_stderr" in lm
        lo, hi = body["intervals"]["lm_eval"][f"{name}/acc"]
        assert lo <= lm[f"{name}/acc"] <= hi
    # per document, the harness's option log-likelihoods are honeybee's
    preds = r.run_dir / tiny_run_dir.name / "predictions"
    harness_rows = [json.loads(x) for x in (preds / "lm_eval.jsonl").read_text().splitlines()]
    ours_rows = [json.loads(x) for x in (preds / "matsci_nlp.jsonl").read_text().splitlines()]
    sar_h = [x for x in harness_rows if x["task"] == "honeybee_matsci_nlp_sar"]
    sar_o = [x for x in ours_rows if x["task"] == "sar"]
    assert len(sar_h) == len(sar_o) > 0
    for h, o in zip(sorted(sar_h, key=lambda x: x["doc_id"]), sar_o):
        assert [v[0] for v in h["filtered_resps"]] == pytest.approx(o["loglik"], abs=1e-4)
    assert body["counts"]["lm_eval"]["tasks"] == NAMES


@needs_shared(SHARED_DATA / "darwin_fair")
def test_bad_harness_input_is_one_line_before_any_model_loads(tiny_run_dir, tmp_path):
    base = [f"runs=[{tiny_run_dir}]", "tasks=[]", "harness=lm_eval"]
    cases = [
        (["harness.tasks=[x]", f"harness.include_path={tmp_path}/nope"], f"{tmp_path}/nope does not exist"),
        (["harness.tasks=[]"], "harness.tasks is empty"),
        (["harness.tasks=[honeybee_no_such_task]"], "unknown lm-eval task 'honeybee_no_such_task'"),
    ]
    for extra, expected in cases:
        r = run_script("evaluate.py", base + extra, tmp_path / "bad", env=ONE_THREAD)
        assert r.returncode == 2, r.stderr[-2000:]
        assert r.last_err_line.startswith("honeybee: error: ") and expected in r.last_err_line, (
            r.last_err_line
        )
        assert "Traceback" not in r.stderr and not list((tmp_path / "bad").rglob("results.json"))


def test_export_refuses_without_an_out_dir():
    p = _export("limit=3", [])
    assert p.returncode == 2 and "usage: python -m honeybee.evaluation.lm_eval_tasks OUT_DIR" in p.stderr


@pytest.mark.slow  # SmolLM2 through lm-eval's own model loading, as a user of the exported tasks runs it
def test_exported_tasks_reproduce_smollm2_through_lm_evals_own_loader(exported, tmp_path):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager
    from omegaconf import OmegaConf

    from honeybee.model.loading import resolve_model_path

    path = resolve_model_path(OmegaConf.load(ROOT / "conf" / "model" / "smollm2_135m.yaml"))
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    out = simple_evaluate(
        model="hf",
        model_args={"pretrained": path, "dtype": "float32"},
        tasks=["honeybee_darwin_fair_is_metal", "honeybee_matsci_nlp_sar"],
        task_manager=TaskManager(include_path=str(exported), include_defaults=False),
        batch_size=8,
        device="cpu",
        bootstrap_iters=0,
    )
    r = run_script(
        "evaluate.py",
        [
            "model=smollm2_135m",
            "tasks=[darwin_fair,matsci_nlp]",
            "use_run_splits=false",
            *EXPORT_OVERRIDES,
            "eval_task.darwin_fair.scoring=loglikelihood",
            "eval_task.matsci_nlp.scoring=loglikelihood",
            "eval_task.matsci_nlp.max_new_tokens=4",
            "bootstrap.resamples=100",
        ],
        tmp_path / "e",
        env=ONE_THREAD,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((r.run_dir / "smollm2_135m" / "results.json").read_text())["results"]
    assert out["results"]["honeybee_darwin_fair_is_metal"]["acc,none"] == pytest.approx(
        res["darwin_fair"]["is_metal.accuracy"]
    )
    assert out["results"]["honeybee_matsci_nlp_sar"]["acc,none"] == pytest.approx(
        res["matsci_nlp"]["sar.accuracy"]
    )

"""The experiments/curate_loop.py recipe: SmolLM2 served once plays all three roles between two stages."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from honeybee.cli import check_overrides
from honeybee.generation.launch import free_port
from tests.conftest import ONE_THREAD, ROOT


def test_recipe_config_composes():
    problem, cfg = check_overrides(["curate_experiment=smollm2_local"], "curate")
    assert problem is None
    assert cfg.instructor.model == cfg.verifier.model == cfg.evaluator.model == "smollm2"
    assert cfg.feedback.fallback == "f1" and cfg.verifier.min_mean < 95  # demo thresholds, documented as such
    assert cfg.instructor.calls == 6  # the recipe wins over curate.yaml's defaults (it comes after _self_)


@pytest.mark.slow
def test_curate_loop_end_to_end(tmp_path):
    cmd = [
        sys.executable,
        "experiments/curate_loop.py",
        "--port",
        str(free_port()),
        "--calls",
        "2",
        "--max-steps",
        "1",
        "--limit",
        "4",
        "--curation-dir",
        str(tmp_path / "curation"),
        "--log-dir",
        str(tmp_path / "outputs"),
        "--experiment-name",
        "loop",
        "--",
        "instructor.max_tokens=96",
        "feedback.max_new_tokens=16",
    ]
    p = subprocess.run(
        cmd,
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **ONE_THREAD},
    )
    assert p.returncode == 0, (p.stdout[-3000:], p.stderr[-3000:])
    r1, r2 = (
        json.loads((tmp_path / "curation" / "loop" / f"round{k}" / "report.json").read_text()) for k in (1, 2)
    )
    assert r1["counts"]["work_items"] == 2 and r1["feedback"] is None
    fb = r2["feedback"]
    assert fb["n_answers"] == 4 and fb["n_scored"] == 4 and fb["stage"].endswith("stage1")
    assert r2["counts"]["targeted_items"] == 2  # min(calls, weakest_k x calls_per_topic)
    stages = tmp_path / "outputs" / "loop" / "smollm2_135m"
    for k, report in ((1, r1), (2, r2)):
        manifest = json.loads((stages / f"stage{k}" / "manifest.json").read_text())
        files = [f["path"] for f in manifest["data"]["files"]]
        records = str(tmp_path / "curation" / "loop" / f"round{k}" / "records.jsonl")
        assert (records in files) == (report["counts"]["kept"] > 0)  # each round feeds its stage
    assert "stage1" in json.loads((stages / "stage2" / "manifest.json").read_text())["parent"]["path"]
    assert "total" in p.stdout

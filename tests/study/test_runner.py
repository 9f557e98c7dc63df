"""Studies end to end on the tiny model through the real entry (``python study.py``): every cell's numbers are
its own evaluation's, a SIGKILL mid-study loses at most the cell in progress, the study sweeper runs the cells
through Hydra's launchers in stage order, and W&B runs are grouped per study."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from honeybee.study.cellio import flatten_metrics

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from wandb_offline import read_offline_run  # noqa: E402

CELLS = [
    "base",
    "progressive-s1-seed1",
    "progressive-s1-seed2",
    "progressive-s2-seed1",
    "progressive-s2-seed2",
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1"}


def study(args: list[str], log_dir: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    flags = [a for a in args if a == "-m"]  # Hydra's flags go before the overrides
    cmd = [sys.executable, "study.py", *flags, "study=smoke_tiny", f"paths.log_dir={log_dir}"]
    cmd += [a for a in args if a != "-m"]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=ENV)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p


def results(root: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted((root / "cells").glob("*/result.json"))}


def test_study_end_to_end_resumes_after_sigkill(tmp_path):
    """Kill the study once two cells are finished; the rerun retrains none of them and completes the rest."""
    root = tmp_path / "smoke_tiny"
    cmd = [sys.executable, "study.py", "study=smoke_tiny", f"paths.log_dir={tmp_path}"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 240
    while time.time() < deadline and len(list(root.glob("cells/*/result.json"))) < 2 and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.parent.name: p.stat().st_mtime_ns for p in root.glob("cells/*/result.json")}
    assert 2 <= len(before) < len(CELLS), before
    manifests = {p: p.stat().st_mtime_ns for p in root.glob("runs/*/*/*/manifest.json")}

    p = study([], tmp_path)
    done = results(root)
    assert sorted(done) == sorted(CELLS)
    for cid, mtime in before.items():  # finished cells are skipped, not redone
        assert (root / "cells" / cid / "result.json").stat().st_mtime_ns == mtime
        assert f"cell {cid}: finished earlier (skipped)" in p.stdout + p.stderr
    for path, mtime in manifests.items():  # finished training runs are reused, not retrained
        assert path.stat().st_mtime_ns == mtime
    assert p.stdout.count("study smoke_tiny: cell ") == len(CELLS) - len(before)

    plan = json.loads((root / "study.json").read_text())
    assert plan["cells"] == CELLS and plan["name"] == "smoke_tiny" and plan["seeds"] == [1, 2]
    for cid, r in done.items():
        assert r["status"] == "done" and r["cell"] == cid
        # the cell's numbers are exactly its own evaluation's results.json
        own = json.loads(Path(r["eval_results"]).read_text())["results"]
        assert r["metrics"] == flatten_metrics(own) and r["metrics"]["perplexity/perplexity"] > 1
        if cid == "base":
            assert r["seed"] is None and r["run_dir"] is None and r["cost"]["train_steps"] == 0
            continue
        run = Path(r["run_dir"])
        summary = json.loads((run / "summary.json").read_text())
        assert r["cost"]["train_steps"] == summary["global_step"] == 2
        assert r["cost"]["train_tokens"] == summary["throughput"]["tokens"] > 0
        assert [s for s, _ in r["curves"]["train_loss"]] and r["curves"]["val_loss"]
        assert r["row"] == f"progressive/stage{r['stage']}" and f"seed{r['seed']}" in run.parent.parent.name
    # stage 2 continued its own seed's stage 1
    for seed in (1, 2):
        m = json.loads(Path(done[f"progressive-s2-seed{seed}"]["run_dir"], "manifest.json").read_text())
        assert f"progressive-seed{seed}" in json.dumps(m["parent"]) and "stage1" in json.dumps(m["parent"])
    # the same held-out records for every cell (base included): one evaluation data source, one count
    counts = {
        json.loads(Path(r["eval_results"]).read_text())["counts"]["perplexity"]["records"]
        for r in done.values()
    }
    assert counts == {8}
    # intervals for every metric, replicates of the table's columns drawn on the same records in every cell
    hashes = set()
    for r in done.values():
        lo, hi = r["intervals"]["perplexity/perplexity"]
        assert lo <= r["metrics"]["perplexity/perplexity"] <= hi
        assert set(r["replicates"]) == {"perplexity/perplexity", "perplexity/loss"}
        assert len(r["replicates"]["perplexity/perplexity"]) == 1000
        hashes.add(r["records"]["perplexity"]["hash"])
        assert r["records"]["perplexity"]["n"] == 8 and r["records"]["perplexity"]["seconds"] >= 0
    assert len(hashes) == 1
    report = json.loads((root / "report.json").read_text())
    s2 = next(x for x in report["rows"] if x["row"] == "progressive/stage2")
    assert len(s2["metrics"]["perplexity/perplexity"]["interval"]) == 2
    assert "95 % bootstrap interval" in (root / "report.md").read_text()
    # a rerun with another recipe into the same folder is refused (one line, exit 2), not mixed into the table
    cmd = [
        sys.executable,
        "study.py",
        "study=smoke_tiny",
        f"paths.log_dir={tmp_path}",
        "study.stages.1.steps=3",
    ]
    env = {**ENV, "HYDRA_FULL_ERROR": "0"}
    bad = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode == 2 and "finished cell(s) of another recipe" in bad.stderr.strip().splitlines()[-1]
    assert "study.tag=" in bad.stderr

    # the report ran after the last cell; its numbers are the per-run evaluation files' (mean / std over seeds)
    report = json.loads((root / "report.json").read_text())
    assert (root / "report.md").is_file() and (root / "report.html").is_file()
    by_row = {r["row"]: r for r in report["rows"]}
    for row, ids in {
        "progressive/stage1": ["progressive-s1-seed1", "progressive-s1-seed2"],
        "progressive/stage2": ["progressive-s2-seed1", "progressive-s2-seed2"],
        "base": ["base"],
    }.items():
        own = [json.loads(Path(done[c]["eval_results"]).read_text())["results"]["perplexity"] for c in ids]
        for metric in ("perplexity", "loss"):
            values = [o[metric] for o in own]
            got = by_row[row]["metrics"][f"perplexity/{metric}"]
            assert got["values"] == pytest.approx(values) and got["mean"] == pytest.approx(
                sum(values) / len(values)
            )
            if len(values) == 2:
                assert got["std"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5)  # sample std, n - 1


def test_multirun_sweeper_waves_one_shot_replay_and_wandb(tmp_path):
    """`-m`: the study sweeper launches cells through the basic launcher in stage order; W&B runs share one group."""
    p = study(
        [
            "-m",
            "study.seeds=[1]",
            "study.one_shot=true",
            "+study/followup=replay",
            "logger=wandb",
            "hardware=cpu",
        ],
        tmp_path,
    )
    root = tmp_path / "smoke_tiny-replay"
    done = results(root)
    assert sorted(done) == ["base", "one-shot-seed1", "progressive-s1-seed1", "progressive-s2-seed1"]
    out = p.stdout + p.stderr
    assert "wave 1: 3 cell(s) to run" in out and "wave 2: 1 cell(s) to run" in out

    one = done["one-shot-seed1"]
    assert one["cost"]["train_steps"] == 4  # the two stages' steps in one run: equal budget
    union = Path(root, "cells", "one-shot-seed1", "union", "stage2_train.jsonl")
    s2_run = Path(done["progressive-s2-seed1"]["run_dir"])
    union_recs = set(union.read_text().splitlines())
    s2_train = set((s2_run / "splits" / "train.jsonl").read_text().splitlines())  # + the replayed stage 1
    s2_test = set((s2_run / "splits" / "test.jsonl").read_text().splitlines())
    assert union_recs and union_recs <= s2_train and not union_recs & s2_test  # no held-out record leaks in
    # replay: stage 2 also trained on stage 1's train split
    s2_manifest = json.loads((s2_run / "manifest.json").read_text())
    assert "progressive-seed1/tiny_llama/stage1/splits/train.jsonl" in json.dumps(s2_manifest)

    # the study's hardware preset (what SLURM jobs are sized by) reaches every training run
    assert "name: cpu" in (s2_run / "config.yaml").read_text().split("\nhardware:\n", 1)[1][:200]

    runs = {}
    for r in done.values():
        if r["run_dir"]:
            (wdir,) = Path(r["run_dir"], "wandb").glob("offline-run-*")
            runs[r["cell"]] = read_offline_run(wdir)
    assert {w["group"] for w in runs.values()} == {"smoke_tiny-replay"}
    assert (
        runs["progressive-s2-seed1"]["job_type"] == "stage2"
        and runs["one-shot-seed1"]["job_type"] == "one-shot"
    )
    assert runs["progressive-s1-seed1"]["name"] == "progressive-s1-seed1"
    assert {"variant=progressive", "seed=1"} <= set(runs["progressive-s2-seed1"]["tags"])
    # logger=wandb: the study logs its results table into the same group, job_type report
    (rdir,) = (root / "wandb").glob("offline-run-*")
    rep = read_offline_run(rdir)
    assert rep["group"] == "smoke_tiny-replay" and rep["job_type"] == "report"
    (table,) = (rdir / "files" / "media" / "table").glob("results_[0-9]*.table.json")
    logged = json.loads(table.read_text())
    assert len(logged["data"]) == 4 and logged["data"][0][0].startswith("base")  # base, s1, s2, one-shot


@pytest.mark.slow
def test_submitit_local_launcher_runs_the_same_study(tmp_path):
    """`hydra/launcher=slurm_local`: the SLURM path (pickled jobs, one process per cell) runs the study unchanged."""
    study(["-m", "hydra/launcher=slurm_local", "study.seeds=[1]"], tmp_path, timeout=900)
    root = tmp_path / "smoke_tiny"
    assert sorted(results(root)) == ["base", "progressive-s1-seed1", "progressive-s2-seed1"]
    assert list(root.glob("multirun/*/.submitit/*"))

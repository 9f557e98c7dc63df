"""Sweeps and ablation tracking: multirun grids, Optuna, the submitit launcher, and offline W&B runs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import yaml
from conftest import ONE_THREAD, ROOT, TINY
from wandb_offline import read_offline_run

from honeybee.training.tracking import short_name, swept_keys

QUICK = [
    *TINY,
    "trainer.precision=32-true",
    "trainer.max_steps=1",
    "trainer.limit_val_batches=1",
    "trainer.accelerator=cpu",
]


def _multirun(args: list[str], sweep_dir, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, **ONE_THREAD, "WANDB_MODE": "offline"}
    env.pop("HYDRA_FULL_ERROR", None)
    cmd = [sys.executable, str(ROOT / "train.py"), *args, f"hydra.sweep.dir={sweep_dir}"]
    return subprocess.run(
        cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


def test_swept_keys_and_short_run_names():
    argv = [
        "-m",
        "lora.r=8,16",
        "data=sciinstruct",
        "stage=1,2",
        "seed=range(3)",
        "+x=[1,2]",
        "hydra/launcher=slurm",
        "optim.lr=choice(1e-4,2e-4)",
    ]
    assert swept_keys(argv) == ["lora.r", "stage", "seed", "optim.lr"]
    assert (
        "-".join(short_name(k, v) for k, v in [("lora.r", "16"), ("data", "sciinstruct"), ("stage", "2")])
        == "r16-sciinstruct-s2"
    )
    assert short_name("optim.lr", "0.000517299342714657") == "lr0.000517"
    assert short_name("trainer.max_steps", "30") == "max_steps30"


def test_failed_jobs_report_the_worst_value_to_an_optimising_sweeper():
    from honeybee.cli import failed_value

    assert failed_value("maximize") == -math.inf and failed_value("minimize") == math.inf
    assert failed_value(["maximize"]) == -math.inf


def test_grid_2x2_each_job_own_folder_and_wandb_run_and_a_failing_job_does_not_stop_others(tmp_path):
    # val_check_interval=100000 makes Lightning raise at fit start, after the W&B run has begun: that job
    # must end its W&B run (exit code 1) and the sweep must go on.
    sweep = tmp_path / "grid"
    p = _multirun(
        [
            "-m",
            *QUICK,
            "logger=wandb",
            "experiment_name=abl",
            "heldout_check.enabled=true",
            "heldout_check.max_records=4",
            "heldout_check.max_new_tokens=2",
            "trainer.val_check_interval=1,100000",
            "seed=1,2",
        ],
        sweep,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    jobs = sorted(d for d in sweep.iterdir() if d.is_dir() and d.name.isdigit())
    assert [d.name for d in jobs] == ["0", "1", "2", "3"]
    runs = {}
    for d in jobs:
        offline = list((d / "wandb").glob("offline-run-*"))
        assert len(offline) == 1, (d, offline)  # one W&B run per job, in the job's folder
        runs[d.name] = read_offline_run(offline[0])
    names = {r["name"] for r in runs.values()}
    assert names == {
        "val_check_interval1-seed1",
        "val_check_interval1-seed2",
        "val_check_interval100000-seed1",
        "val_check_interval100000-seed2",
    }
    for d in jobs:
        run = runs[d.name]
        assert run["group"] == f"abl/{sweep.name}" and run["job_type"] == "stage1"
        assert f"sweep:{sweep.name}" in run["tags"] and f"seed={run['config']['seed']}" in run["tags"]
        cfg = run["config"]
        assert {k: cfg[k] for k in ("model", "lora.r", "data", "stage", "hardware", "strategy")} == {
            "model": "tiny_llama",
            "lora.r": 8,
            "data": "materials_facts",
            "stage": 1,
            "hardware": "auto",
            "strategy": "auto",
        }
        assert cfg["cfg.optim.lr"] == pytest.approx(2e-4)
        # flat: every key is a filterable column (``_wandb`` is W&B's own bookkeeping)
        assert not any(isinstance(v, dict) for k, v in cfg.items() if not k.startswith("_"))
        ok = "100000" not in run["name"]
        assert run["exit_code"] == (0 if ok else 1)
        assert (d / "manifest.json").is_file() == ok
        if ok:
            manifest = json.loads((d / "manifest.json").read_text())
            assert run["summary"]["score/best"] == pytest.approx(manifest["score"]["best"])
            assert any("val/loss" in h for h in run["history"])
            # The final held-out comparison is attached as a table and a plot image.
            assert (
                run["summary"]["eval/heldout/_type"] == "table-file"
                and run["summary"]["eval/heldout/nrows"] >= 2
            )
            assert run["summary"]["eval/heldout_plot/_type"].startswith("images")
            assert (d / "plots" / "heldout.png").stat().st_size > 1000
    assert p.stdout.count("job failed") + p.stderr.count("job failed") >= 2


@pytest.mark.slow
def test_optuna_three_trials_return_the_validation_score(tmp_path):
    sweep = tmp_path / "optuna"
    # val/loss (minimised) so trials differ on the tiny model; the preset itself maximises val/task_score.
    p = _multirun(
        [
            "hparams_search=lora_optuna",
            *QUICK,
            "trainer.max_steps=2",
            "trainer.val_check_interval=2",
            "score.metric=val/loss",
            "score.mode=min",
            "hydra.sweeper.direction=minimize",
            "hydra.sweeper.n_trials=3",
            "hydra.sweeper.sampler.n_startup_trials=3",
        ],
        sweep,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    result = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    bests = {}
    for i in range(3):
        manifest = json.loads((sweep / str(i) / "manifest.json").read_text())
        info = json.loads((sweep / str(i) / "run_info.json").read_text())["sweep"]
        assert set(info["varied"]) == {"lora.r", "optim.lr", "lora.dropout"}
        assert info["run_name"].startswith(f"r{info['varied']['lora.r']}-lr")
        bests[i] = manifest["score"]["best"]
        assert math.isfinite(bests[i])
    assert result["best_value"] == pytest.approx(min(bests.values()))
    assert set(result["best_params"]) == {"lora.r", "optim.lr", "lora.dropout"}


@pytest.mark.slow
def test_submitit_local_launcher_runs_the_sweep_as_jobs(tmp_path):
    sweep = tmp_path / "submitit"
    p = _multirun(["-m", "hydra/launcher=slurm_local", *QUICK, "seed=1,2"], sweep)
    assert p.returncode == 0, p.stderr[-3000:]
    for i in ("0", "1"):
        assert (sweep / i / "manifest.json").is_file()
    submitted = list((sweep / ".submitit").glob("*/*_submitted.pkl"))
    results = list((sweep / ".submitit").glob("*/*_result.pkl"))
    assert len(submitted) == 2 and len(results) == 2  # each job went through submitit's executor
    seeds = {json.loads((sweep / i / "manifest.json").read_text())["config"]["seed"] for i in ("0", "1")}
    assert seeds == {1, 2}

"""Preemption-safe training: SIGINT, SIGTERM and SIGUSR1 sent to a real training process make it save a
resumable checkpoint at the next step boundary and exit (130 / 143 / 0), and resuming gives the adapter the
uninterrupted run ends with. Under SLURM, SIGUSR1 requeues the job through Lightning's SLURM environment and
the requeued job resumes by itself."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time

import pytest
from conftest import ROOT, TINY
from safetensors.torch import load_file

COMMON = [
    *TINY,
    "trainer.precision=32-true",  # pinned: `auto` is a timing probe, and the runs compared are separate runs
    "trainer.max_steps=8",
    "data.batch_size=8",
    "lora.dropout=0.1",
    "optim.warmup_steps=2",
]
SEND_AT_STEP = [
    "+callbacks.kill._target_=honeybee.training.callbacks.KillAfterSteps",
    "+callbacks.kill.step=3",
]
CODES = {"SIGINT": 130, "SIGTERM": 143, "SIGUSR1": 0}
STOPPED = re.compile(r"^honeybee: (SIG\w+): stopped after step (\d+) \(([\d.]+) s after the signal\)", re.M)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from conftest import run_script

    d = tmp_path_factory.mktemp("full") / "run"
    r = run_script("train.py", COMMON, d)
    assert r.returncode == 0, r.stderr[-2000:]
    return load_file(d / "adapter" / "adapter_model.safetensors")


def max_diff(a, b) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


# Each case is two tiny training runs (~20 s on 2 cores): SIGTERM in the fast suite, the others in the slow one.
@pytest.mark.parametrize(
    "sig", [pytest.param(s, marks=[] if s == "SIGTERM" else [pytest.mark.slow]) for s in CODES]
)
def test_a_signal_saves_at_the_step_boundary_and_resume_matches(train_run, uninterrupted, sig):
    stopped = train_run([*COMMON, *SEND_AT_STEP, f"+callbacks.kill.signal={sig}"], name="run")
    assert stopped.returncode == CODES[sig], stopped.stderr[-2000:]
    m = STOPPED.search(stopped.stderr)
    assert m and m.group(1) == sig and m.group(2) == "3", stopped.stderr[-2000:]
    run = stopped.run_dir
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert not (run / "adapter").exists() and not (run / "manifest.json").exists()  # not mistaken for done
    import torch

    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 3
    rows = (run / "metrics.csv").read_text().splitlines()  # 3 steps < log_every_n_steps=5: still written
    assert len(rows) == 2 and rows[1].split(",")[rows[0].split(",").index("step")] == "2", rows

    resumed = train_run([*COMMON, "ckpt_path=last"], name="run")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    diff = max_diff(uninterrupted, load_file(run / "adapter" / "adapter_model.safetensors"))
    assert diff <= 1e-6, diff


@pytest.mark.parametrize("sig", list(CODES))
def test_a_signal_from_outside_stops_within_a_step(tmp_path, sig):
    """Each signal, sent by another process while steps take >= 0.5 s: the checkpoint is written at the end
    of the step in progress, well before the next one would have ended, and the process is gone soon after."""
    run = tmp_path / "run"
    slow = [*SEND_AT_STEP[:1], "+callbacks.kill.step=100000", "+callbacks.kill.sleep_s=0.5"]
    # A periodic checkpoint after step 2 tells the test that training is under way.
    periodic = "callbacks.last_checkpoint.every_n_train_steps=2"
    cmd = [sys.executable, str(ROOT / "train.py"), *COMMON, "trainer.max_steps=200", *slow, periodic]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [*cmd, f"hydra.run.dir={run}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 240
        while not (run / "checkpoints" / "last.ckpt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
            time.sleep(0.1)
        time.sleep(1.2)  # into a later step
        sent = time.monotonic()
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=60)
        exited = time.monotonic() - sent
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == CODES[sig], err[-2000:]
    m = STOPPED.search(err)
    assert m and m.group(1) == sig, err[-2000:]
    assert float(m.group(3)) <= 0.5 + 0.5, m.group(0)  # the step in progress (0.5 s sleep + compute), no more
    import torch

    saved = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert (
        saved["global_step"] == int(m.group(2)) > 2
    )  # the step boundary it stopped at, past the periodic one
    print(f"{sig} -> checkpoint {m.group(3)} s, -> process exit {exited:.2f} s (steps of >= 0.5 s)")
    assert exited < 5, exited  # the step in progress + checkpoint + teardown (~0.8 s on 2 cores)


@pytest.mark.slow
def test_sigusr1_under_slurm_requeues_and_the_job_resumes(train_run, uninterrupted, tmp_path):
    """A fake SLURM job: Lightning's SLURM environment saves hpc_ckpt_<n>.ckpt and calls `scontrol requeue`
    (a stand-in on PATH records the call); the requeued job, started with the same command, resumes."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "scontrol.calls"
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    scontrol.chmod(scontrol.stat().st_mode | stat.S_IEXEC)
    slurm = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "honeybee",
        "SLURM_NTASKS": "1",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0",
        "SLURM_NODELIST": "localhost",
    }
    first = train_run([*COMMON, *SEND_AT_STEP, "+callbacks.kill.signal=SIGUSR1"], name="job", env=slurm)
    assert first.returncode == 0, first.stderr[-2000:]
    assert calls.read_text().split() == ["requeue", "4242"]
    assert (first.run_dir / "hpc_ckpt_1.ckpt").is_file() and not (first.run_dir / "adapter").exists()

    again = train_run(COMMON, name="job", env={**slurm, "SLURM_RESTART_COUNT": "1"})
    assert again.returncode == 0, again.stderr[-2000:]
    assert "requeued SLURM job: resuming from" in again.stdout
    assert max_diff(uninterrupted, load_file(again.run_dir / "adapter" / "adapter_model.safetensors")) <= 1e-6
    assert not list(again.run_dir.glob("hpc_ckpt_*.ckpt"))  # the finished run keeps no stale resume point


def test_the_slurm_launcher_asks_for_sigusr1_before_the_time_limit(tmp_path, monkeypatch):
    """The sbatch script submitit writes for `hydra/launcher=slurm` (built the way the launcher builds its
    executor) carries `--signal=USR1@<signal_delay_s>`, the signal the run requeues on."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    from honeybee.progressive.stages import compose_train_config

    srun = tmp_path / "bin" / "srun"  # submitit's SLURM executor wants one on PATH
    srun.parent.mkdir()
    srun.write_text("#!/bin/sh\n")
    srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{srun.parent}{os.pathsep}{os.environ['PATH']}")
    cfg = compose_train_config(
        ["hydra/launcher=slurm", "hardware=a100x4", "hydra.launcher.signal_delay_s=300"]
    )
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    params.pop("_target_")
    params.pop("submitit_folder")
    executor = submitit.AutoExecutor(
        cluster="slurm", folder=tmp_path / "jobs", slurm_max_num_timeout=params.pop("max_num_timeout")
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    script = executor._executor._make_submission_file_text("python -u -m submitit.core._submit", "uid")
    signals = [ln for ln in script.splitlines() if ln.startswith("#SBATCH --signal")]
    assert signals == ["#SBATCH --signal=USR1@300"], signals
    assert "#SBATCH --gpus-per-node=4" in script

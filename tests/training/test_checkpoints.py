"""Checkpoints that fail loudly and recover: atomic saves survive a kill mid-write, damaged checkpoints are
found before a resume and the intact ones offered, and a requeued SLURM job finds its resume point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from honeybee.training.checkpoints import (
    AtomicCheckpointIO,
    checkpoint_problem,
    resolve_ckpt_path,
    slurm_resume_point,
)
from honeybee.utils.errors import ConfigError

SAVER = """
import sys, torch
from honeybee.training.checkpoints import AtomicCheckpointIO
io, path = AtomicCheckpointIO(), sys.argv[1]
io.save_checkpoint({"global_step": 1, "w": torch.zeros(8)}, path)
print("saved", flush=True)
big = {"global_step": 2, "w": torch.ones(48 * 1024 * 1024)}  # 192 MB: a save takes a while
while True:
    io.save_checkpoint(big, path)
"""


def test_a_save_killed_mid_write_leaves_the_previous_checkpoint_whole(tmp_path):
    path = tmp_path / "last.ckpt"
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "saved"
        kills = 0
        deadline = time.monotonic() + 120
        while kills == 0 and time.monotonic() < deadline:
            tmp = list(tmp_path.glob(".last.ckpt.*.tmp"))
            if tmp and 0 < tmp[0].stat().st_size < 48 * 1024 * 1024 * 4:  # caught mid-write
                proc.send_signal(signal.SIGKILL)
                kills += 1
            time.sleep(0.002)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert kills == 1, "never caught a save in progress"
    assert checkpoint_problem(path) is None  # the previous checkpoint (small or big), whole
    assert torch.load(path, weights_only=False)["global_step"] in (1, 2)
    assert list(tmp_path.glob(".last.ckpt.*.tmp"))  # the torn temp file is all the kill left
    AtomicCheckpointIO().save_checkpoint({"global_step": 3}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # the next save clears it
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _ckpt(path: Path, step: int, size: int = 1024) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"global_step": step, "state_dict": {"w": torch.arange(size, dtype=torch.float32)}}, path)
    return path


def test_damage_is_found_without_loading(tmp_path):
    good = _ckpt(tmp_path / "good.ckpt", 1)
    assert checkpoint_problem(good) is None
    data = good.read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(data[: len(data) // 2])
    assert "truncated or not a checkpoint" in checkpoint_problem(truncated)
    flipped = bytearray(data)
    at = data.index(torch.arange(1024, dtype=torch.float32).numpy().tobytes()[:64]) + 100  # inside the tensor
    flipped[at] ^= 0xFF
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(bytes(flipped))
    assert "fails its checksum" in checkpoint_problem(corrupt)
    shards = tmp_path / "zero.ckpt" / "checkpoint"  # a DeepSpeed folder: every shard is checked
    _ckpt(shards / "mp_rank_00_model_states.pt", 1)
    assert checkpoint_problem(tmp_path / "zero.ckpt") is None
    (shards / "zero_pp_rank_0_mp_rank_00_optim_states.pt").write_bytes(data[:100])
    assert "zero_pp_rank_0" in checkpoint_problem(tmp_path / "zero.ckpt")


def _cfg(run: Path, ckpt: str | None = "last"):
    return OmegaConf.create({"paths": {"output_dir": str(run)}, "ckpt_path": ckpt})


def test_a_damaged_last_ckpt_offers_the_newest_intact_one(tmp_path):
    run = tmp_path / "run"
    last = _ckpt(run / "checkpoints" / "last.ckpt", 9)
    last.write_bytes(last.read_bytes()[:-200])
    _ckpt(run / "checkpoints" / "best.ckpt", 4)
    _ckpt(run / "checkpoints" / "step=6.ckpt", 6)
    with pytest.raises(ConfigError) as e:
        resolve_ckpt_path(_cfg(run))
    msg = str(e.value)
    assert msg.startswith(f"checkpoint {last} is damaged: truncated or not a checkpoint")
    assert (
        f"intact step=6.ckpt (step 6): resume from it with ckpt_path={run / 'checkpoints' / 'step=6.ckpt'}"
        in msg
    )
    for p in (run / "checkpoints").glob("*.ckpt"):
        if p != last:
            p.unlink()
    with pytest.raises(
        ConfigError, match="no intact checkpoint is left in the run: start over without ckpt_path"
    ):
        resolve_ckpt_path(_cfg(run))
    _ckpt(last, 9)
    assert resolve_ckpt_path(_cfg(run)) == str(last)


SLURM = {"SLURM_NTASKS": "1", "SLURM_JOB_NAME": "honeybee", "SLURM_JOB_ID": "7"}


def test_a_requeued_slurm_job_finds_its_resume_point(tmp_path, monkeypatch):
    run = tmp_path / "run"
    older = _ckpt(run / "hpc_ckpt_1.ckpt", 3)
    newer = _ckpt(run / "hpc_ckpt_2.ckpt", 5)
    os.utime(older, (1, 1))
    assert slurm_resume_point(run) is None  # not under SLURM: a fresh run, whatever is lying there
    for k, v in SLURM.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    assert slurm_resume_point(run) == newer
    assert resolve_ckpt_path(_cfg(run, None)) == str(newer)
    last = _ckpt(run / "checkpoints" / "last.ckpt", 6)  # a SIGTERM (preemption) saved this one later
    assert slurm_resume_point(run) == newer  # ...but only a job SLURM requeued resumes from it
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert slurm_resume_point(run) == last
    newer.write_bytes(b"torn")
    os.utime(newer, (2 * 10**9, 2 * 10**9))
    with pytest.raises(ConfigError, match="hpc_ckpt_2.ckpt is damaged"):
        resolve_ckpt_path(_cfg(run, None))
    (run / "manifest.json").write_text("{}")
    assert slurm_resume_point(run) is None  # a finished run resumes nothing

"""Exact resume: a run SIGKILLed mid-epoch and resumed with ckpt_path=last ends with the same adapter."""

from __future__ import annotations

import pytest
from conftest import TINY
from safetensors.torch import load_file


@pytest.mark.parametrize(
    ("batching", "precision"),
    [("length_grouped", "32-true"), ("pad", "32-true"), ("packed", "32-true"), ("packed", "bf16-mixed")],
)
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(train_run, batching, precision):
    common = [
        *TINY,
        # Pinned: `auto` is a timing probe, and the uninterrupted run is a separate run that could decide otherwise.
        f"trainer.precision={precision}",
        "trainer.max_steps=10",
        "data.batch_size=8",
        "lora.dropout=0.1",
        f"data.batching={batching}",
        "callbacks.last_checkpoint.every_n_train_steps=3",
        "optim.warmup_steps=2",
    ]
    full = train_run(common, name="full")
    assert full.returncode == 0, full.stderr[-2000:]
    killed = train_run(
        [
            *common,
            "+callbacks.kill._target_=honeybee.training.callbacks.KillAfterSteps",
            "+callbacks.kill.step=7",
        ],
        name="resumed",
    )
    assert killed.returncode == -9  # SIGKILL: no cleanup, no final save
    assert not (killed.run_dir / "adapter").exists()
    resumed = train_run([*common, "ckpt_path=last"], name="resumed")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = load_file(full.run_dir / "adapter" / "adapter_model.safetensors")
    b = load_file(resumed.run_dir / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert diff <= 1e-6, diff

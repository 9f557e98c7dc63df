"""The real `python train.py` entry point on the tiny model: fast_dev_run, overfit, resume, multirun."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import torch
from conftest import MATSCI_INSTRUCT, ROOT, TINY, needs_shared


def _metrics(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_fast_dev_run_writes_a_complete_run_folder(train_run):
    r = train_run([*TINY, "debug=fdr"])
    assert r.returncode == 0, r.stderr[-2000:]
    d = r.run_dir
    assert (d / "adapter" / "adapter_model.safetensors").is_file()
    meta = json.loads((d / "adapter" / "honeybee.json").read_text())
    assert meta["prompt_style"] == "alpaca" and meta["base_model"]["name"] == "tiny_llama"
    info = json.loads((d / "run_info.json").read_text())
    assert (
        info["parameters"]["trainable"] > 0 and info["parameters"]["total"] > info["parameters"]["trainable"]
    )
    assert "commit" in info["git"]
    assert "lora:\n  enabled: true\n  r: 8" in (d / "config.yaml").read_text()  # resolved config
    for split in ("train", "val", "test"):
        assert (d / "splits" / f"{split}.jsonl").stat().st_size > 0


def test_overfit_drives_loss_down(train_run):
    r = train_run(
        [
            *TINY,
            "debug=overfit",
            "optim.lr=1e-2",
            "trainer.max_epochs=25",
            "data.batch_size=4",
            "data.val_fraction=0.1",
        ]
    )
    assert r.returncode == 0, r.stderr[-2000:]
    losses = [float(row["train/loss"]) for row in _metrics(r.run_dir) if row.get("train/loss")]
    assert losses[-1] < 0.5 * losses[0], losses


def test_resume_from_last_continues_steps_and_schedule(train_run, tmp_path):
    common = [
        *TINY,
        "trainer.max_steps=12",
        "data.batch_size=8",
        "callbacks.last_checkpoint.every_n_train_steps=3",
        "trainer.log_every_n_steps=1",
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
    assert killed.returncode != 0  # SIGKILLed mid-epoch
    ck = torch.load(killed.run_dir / "checkpoints" / "last.ckpt", weights_only=False, map_location="cpu")
    assert ck["global_step"] == 6
    # Only trainable tensors are checkpointed, never the frozen base.
    assert ck["state_dict"] and all("lora_" in k for k in ck["state_dict"])
    resumed = train_run([*common, "ckpt_path=last"], name="resumed")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    lr_full = {int(r["step"]): float(r["lr"]) for r in _metrics(full.run_dir) if r.get("lr")}
    lr_res = {int(r["step"]): float(r["lr"]) for r in _metrics(resumed.run_dir) if r.get("lr")}
    assert max(lr_res) == max(lr_full) == 11
    for step in range(6, 12):  # the scheduler picks up where it stopped
        assert lr_res[step] == pytest.approx(lr_full[step], rel=1e-6)
    ck2 = torch.load(resumed.run_dir / "checkpoints" / "last.ckpt", weights_only=False, map_location="cpu")
    assert ck2["global_step"] == 12 and ck2["lr_schedulers"][0]["last_epoch"] == 12


def test_resume_without_checkpoint_is_one_line(train_run):
    r = train_run([*TINY, "ckpt_path=last"])
    assert r.returncode != 0
    assert r.last_err_line.startswith("honeybee: error: ckpt_path=last: no ") and "Traceback" not in r.stderr


def test_multirun_each_job_its_own_folder(tmp_path):
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        *TINY,
        "debug=fdr",
        "lora.r=4,8",
        f"hydra.sweep.dir={tmp_path}/sweep",
    ]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    ranks = sorted(
        json.loads((d / "adapter" / "adapter_config.json").read_text())["r"]
        for d in (tmp_path / "sweep").iterdir()
        if d.is_dir() and d.name.isdigit()
    )
    assert ranks == [4, 8]


@needs_shared(MATSCI_INSTRUCT)
def test_real_matsci_instruct_trains(train_run):
    r = train_run(
        [*TINY, "debug=fdr", "data=matsci_instruct", f"data.path={MATSCI_INSTRUCT}", "data.max_seq_len=256"]
    )
    assert r.returncode == 0, r.stderr[-2000:]
    with open(r.run_dir / "splits" / "train.jsonl") as f:
        assert sum(1 for _ in f) > 2000


def test_wandb_offline_and_tensorboard_loggers(train_run):
    r = train_run(
        [
            *TINY,
            "logger=many",
            "trainer.max_steps=2",
            "trainer.log_every_n_steps=1",
            "experiment_name=abl",
            "lora=r16",
        ],
        env={"WANDB_MODE": "offline", "WANDB_SILENT": "true"},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    runs = list((r.run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0
    blob = runs[0].read_bytes()
    # The binary run file carries the run's group, name and the flattened config.
    for needle in (b"abl", b"tiny_llama-r16-materials_facts-s1", b"model:tiny_llama", b"lora:r16"):
        assert needle in blob, needle
    assert list((r.run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert (r.run_dir / "metrics.csv").is_file()

"""experiments/gpu_smoke.sh and its report: shell syntax, the MFU arithmetic, and the whole script on CPU."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))
from smoke_report import main as report_main
from smoke_report import run_row


def test_gpu_smoke_script_is_valid_bash():
    p = subprocess.run(
        ["bash", "-n", str(ROOT / "experiments" / "gpu_smoke.sh")], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr


def _fake_run(d, total, lora, tps, world, mem=None):
    d.mkdir()
    (d / "run_info.json").write_text(json.dumps({"parameters": {"total": total, "trainable": 10}}))
    (d / "summary.json").write_text(
        json.dumps(
            {
                "throughput": {
                    "tokens_per_s": tps,
                    "world_size": world,
                    **({"peak_gpu_mem_gib": mem} if mem else {}),
                }
            }
        )
    )
    cfg = {
        "lora": {"enabled": lora},
        "model": {"name": "m"},
        "trainer": {"precision": "bf16-mixed"},
        "strategy": {"name": "deepspeed", "stage": 3, "offload_optimizer": True},
    }
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    return d


def test_mfu_counts_4n_for_lora_and_6n_for_full_finetunes(tmp_path, capsys):
    # 7e9 params, LoRA: 4 x 7e9 x 3000 tok/s = 84 TFLOP/s over 2 x 312 TFLOP/s peak = 0.1346
    lora = run_row(_fake_run(tmp_path / "a", 7_000_000_000, True, 3000.0, 2, 41.5), 312.0)
    assert lora["mfu"] == pytest.approx(4 * 7e9 * 3000 / (2 * 312e12))
    full = run_row(_fake_run(tmp_path / "b", 7_000_000_000, False, 3000.0, 2), 312.0)
    assert full["mfu"] == pytest.approx(1.5 * lora["mfu"])
    assert lora["strategy"] == "deepspeed ZeRO-3 offload"
    assert report_main([str(tmp_path / "a"), "--peak-tflops", "312"]) == 0
    out = capsys.readouterr().out
    assert "| a | m | deepspeed ZeRO-3 offload | 2 | bf16-mixed | 3,000 | 41.50 | 0.135 |" in out
    assert report_main([str(tmp_path / "missing")]) == 2


@pytest.mark.slow
def test_gpu_smoke_runs_end_to_end_on_cpu(tmp_path):
    env = {
        **os.environ,
        "ONLY": "lora,zero3",
        "STEPS": "4",
        "PEAK_TFLOPS": "0.05",
        "OUT": str(tmp_path / "smoke"),
        "PY": sys.executable,
        "WANDB_MODE": "offline",
    }
    p = subprocess.run(
        ["bash", str(ROOT / "experiments" / "gpu_smoke.sh"), "--cpu"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    rows = [ln for ln in p.stdout.splitlines() if re.match(r"\| (lora|zero3) \|", ln)]
    assert len(rows) == 2, p.stdout
    for ln in rows:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        assert float(cells[5].replace(",", "")) > 0 and 0 < float(cells[7]) < 1, ln  # tokens/s, MFU
    assert "ZeRO-3" in rows[1] and "| 2 |" in rows[1]

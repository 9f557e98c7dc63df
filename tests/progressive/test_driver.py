"""The progressive driver runs stages back to back and stops on a plateau."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, TINY

QUICK = [
    *TINY,
    "trainer.max_steps=3",
    "data.batch_size=8",
    "trainer.val_check_interval=3",
    "trainer.limit_val_batches=2",
]


def _drive(tmp_path, stages, extra):
    cmd = [
        sys.executable,
        str(ROOT / "experiments" / "progressive.py"),
        "--stages",
        str(stages),
        "--",
        *QUICK,
        f"paths.log_dir={tmp_path}",
        "experiment_name=drv",
        *extra,
    ]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_three_stages_back_to_back(tmp_path):
    p = _drive(tmp_path, 3, ["score.min_delta=-1000"])  # every stage counts as an improvement
    assert p.returncode == 0, p.stderr[-2000:]
    for k in (1, 2, 3):
        assert (tmp_path / "drv" / "tiny_llama" / f"stage{k}" / "manifest.json").is_file()
    table = p.stdout[p.stdout.index("stage ") :]
    assert (
        "stage3/adapter" not in table
        and "stage2/adapter" in table
        and "plateau" not in p.stdout.split("\n")[-2]
    )


def test_stops_on_plateau(tmp_path):
    p = _drive(tmp_path, 3, ["score.min_delta=1000"])  # nothing can improve by 1000: stage 2 plateaus
    assert p.returncode == 0, p.stderr[-2000:]
    assert (tmp_path / "drv" / "tiny_llama" / "stage2" / "manifest.json").is_file()
    assert not (tmp_path / "drv" / "tiny_llama" / "stage3").exists()
    assert "stopped: stage 2 did not improve on stage 1 (plateau)" in p.stdout

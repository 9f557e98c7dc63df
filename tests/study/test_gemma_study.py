"""The embedded study on Gemma 3 270M (issue 22): one command, the SmolLM2 study's recipe on another model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from honeybee.study.entry import check_train, compose_study
from honeybee.study.plan import check, estimate, validate

ROOT = Path(__file__).resolve().parents[2]


def study(name: str):
    problem, cfg = compose_study([f"study={name}"])
    assert problem is None, problem
    return cfg.study


def test_gemma_study_is_the_smollm2_recipe_on_gemma():
    gemma, smol = study("progressive_gemma3"), study("progressive_smollm2")
    assert (gemma.name, gemma.model) == ("progressive_gemma3", "gemma3_270m")
    # same stages, data, steps, seeds, control and evaluation: the two tables differ only in the model
    for key in ("stages", "seeds", "one_shot", "train_overrides", "eval"):
        assert OmegaConf.select(gemma, key) == OmegaConf.select(smol, key), key
    assert validate(gemma, check_train) == []  # every cell's overrides compose into train.py's config
    cells = check(gemma)
    assert len(cells) == 10 and cells[0].id == "base"
    est = estimate(gemma, cells)
    one = next(c for c in cells if c.id == "progressive-s1-seed1")
    want = 24 * gemma.cost.tokens_per_step / gemma.cost.train_tokens_per_s_per_gpu / 3600
    assert est["cells"][one.id]["train_gpu_h"] == pytest.approx(want)


def test_gemma_study_dry_runs_as_one_command(tmp_path):
    p = subprocess.run(
        [
            sys.executable,
            "study.py",
            "study=progressive_gemma3",
            "study.dry_run=true",
            f"paths.log_dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert "study progressive_gemma3: 10 cells" in p.stdout and "one-shot-seed3" in p.stdout
    total = float(p.stdout.split("estimated GPU hours:")[1].split("=")[1].split("(")[0])
    s = study("progressive_gemma3")
    assert total == pytest.approx(estimate(s, check(s))["total_gpu_hours"], abs=0.05)
    assert not (tmp_path / "progressive_gemma3" / "cells").exists()  # a dry run trains nothing

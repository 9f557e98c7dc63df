"""A resumed run keeps the precision its first part trained in, whatever the `auto` probe says now."""

from __future__ import annotations

from omegaconf import OmegaConf

from honeybee.training.checkpoints import resumed_precision


def _cfg(precision: str = "auto"):
    return OmegaConf.create({"trainer": {"precision": precision}})


def _run_dir(tmp_path, saved: str | None):
    (tmp_path / "checkpoints").mkdir()
    if saved is not None:
        (tmp_path / "config.yaml").write_text(f"trainer:\n  precision: {saved}\n")
    return str(tmp_path / "checkpoints" / "last.ckpt")


def test_auto_keeps_the_resumed_runs_precision(tmp_path):
    ckpt = _run_dir(tmp_path, "bf16-mixed")
    got = resumed_precision(_cfg(), ckpt)
    assert got is not None
    assert got[0] == "bf16-mixed"
    assert "resumed run" in got[1]["reason"]


def test_fresh_runs_and_explicit_precisions_are_not_overridden(tmp_path):
    ckpt = _run_dir(tmp_path, "bf16-mixed")
    assert resumed_precision(_cfg(), None) is None  # not resuming: the probe decides
    assert resumed_precision(_cfg("32-true"), ckpt) is None  # the user's explicit choice wins


def test_no_saved_config_falls_back_to_the_probe(tmp_path):
    assert resumed_precision(_cfg(), _run_dir(tmp_path, None)) is None

"""What a refused run's cleanup removes (honeybee.utils.rundir): only Hydra's traces, and only for a refusal."""

from __future__ import annotations

from honeybee.utils.rundir import discard_refused_run, snapshot


def _hydra_writes(run):
    (run / ".hydra").mkdir(parents=True, exist_ok=True)
    (run / ".hydra" / "config.yaml").write_text("new: 1\n")
    with open(run / "train.log", "a") as f:
        f.write("[this run's log]\n")


def test_a_fresh_folder_goes_with_the_parents_it_needed(tmp_path):
    (tmp_path / "outputs" / "other").mkdir(parents=True)
    run = tmp_path / "outputs" / "exp" / "model" / "stage1"
    snapshot(run, ".hydra", "train.log")
    _hydra_writes(run)
    assert discard_refused_run()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "outputs",
        "outputs/other",
    ]
    assert not discard_refused_run()  # once


def test_an_existing_folder_gets_hydra_files_and_log_back(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"ckpt")
    (run / ".hydra").mkdir()
    (run / ".hydra" / "config.yaml").write_text("old: 1\n")
    (run / "train.log").write_text("[first run]\n")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    snapshot(run, ".hydra", "train.log")
    _hydra_writes(run)
    (run / ".hydra" / "overrides.yaml").write_text("- x=1\n")
    assert discard_refused_run()
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_a_run_that_wrote_artifacts_is_left_alone(tmp_path):
    run = tmp_path / "run"
    snapshot(run, ".hydra", "train.log")
    _hydra_writes(run)
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"hours of training")
    assert discard_refused_run()
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == b"hours of training"
    assert (run / ".hydra" / "config.yaml").is_file()


def test_the_job_log_is_closed_first(tmp_path):
    import logging

    run = tmp_path / "run"
    snapshot(run, ".hydra", "train.log")
    _hydra_writes(run)
    handler = logging.FileHandler(run / "train.log")
    logging.getLogger("honeybee.test_rundir").addHandler(handler)
    assert discard_refused_run()
    assert handler.stream is None and handler not in logging.getLogger("honeybee.test_rundir").handlers
    assert not run.exists()

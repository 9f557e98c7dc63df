"""The README's lists match the code: every ``conf/model`` option is in the model table, and every file a
run writes is in "What a run writes" (including ``metrics.csv`` for a run shorter than log_every_n_steps)."""

from __future__ import annotations

import csv
import re

from conftest import ONE_THREAD, ROOT, TINY, run_script
from readme import section, table_column

# Listed before its config lands (another change adds conf/model/gemma3_270m.yaml); fine either way.
ANNOUNCED = {"gemma3_270m"}


def test_the_model_table_lists_every_model_config():
    listed = set(table_column("Configuration", "`model`"))
    configs = {p.stem for p in (ROOT / "conf" / "model").glob("*.yaml")}
    assert configs - listed == set(), f"conf/model options missing from the README table: {configs - listed}"
    assert listed - configs <= ANNOUNCED, f"README lists models with no conf/model file: {listed - configs}"


def readme_run_files() -> set[str]:
    """The names the listing gives: the first column (two-space indent) and a second column after a gap."""
    block = section("What a run writes").split("```")[1]
    return set(re.findall(r"^  (\S+)", block, re.M)) | set(re.findall(r"\S {2,}(\.?\w+/)(?= {2,})", block))


def test_what_a_run_writes_lists_every_file_a_run_writes(tmp_path):
    run = tmp_path / "run"
    small_check = [
        "heldout_check.enabled=true",
        "heldout_check.max_records=2",
        "heldout_check.max_new_tokens=2",
    ]
    args = [*TINY, *small_check, "trainer.max_steps=2", "trainer.precision=32-true"]
    r = run_script("train.py", args, run, env=ONE_THREAD)
    assert r.returncode == 0, r.stderr[-2000:]
    listed = readme_run_files()
    written = {p.name + ("/" if p.is_dir() else "") for p in run.iterdir()}
    assert written - listed == set(), f"written but not in README's 'What a run writes': {written - listed}"
    for must in ("hparams.yaml", "plots/", "metrics.csv", "checkpoints/"):
        assert must in written, must
    # 2 steps < trainer.log_every_n_steps (5): the last step's row is still written
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [row["step"] for row in rows if row.get("train/loss")] == ["1"], rows

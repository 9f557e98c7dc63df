"""A refused run leaves nothing behind and says so in the README's words.

Each case runs a real entry point from a scratch working directory (so ``outputs/`` is created there, with
Hydra's default run folder ``outputs/<experiment>/<model>/stage<N>``) and asserts: exit code 2, exactly one
stderr line, the line the README prints for it, and a working directory byte-identical to what it was before:
no run folder, no empty ``outputs/default/<model>/`` parents, an existing run folder with its ``.hydra/`` and
log restored. The README's examples (the error table and the Configuration block) must each be a case here,
so the README cannot drift from what the code prints.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from readme import readme_examples

RUN = Path("outputs/default/tiny_llama/stage1")

FILES = {
    "bad.json": '[{"instruction": "Q", "output": "A"}, {"instruction": null, "output": "A"}]',
    "obj.json": '{\n  "instruction": "Q",\n  "output": "A"\n}\n',
    "line.json": '{"instruction": "Q"}\n',
    "skip.json": '[{"instruction": "Q"}, {"output": "A"}]',
    "long.json": json.dumps([{"instruction": f"Q{i}", "output": "a long answer " * 40} for i in range(40)]),
}


def _torn_checkpoint(root: Path) -> None:
    """A run whose last.ckpt was cut short, with an intact best.ckpt and what Hydra wrote the first time."""
    import torch

    ckpts = root / RUN / "checkpoints"
    ckpts.mkdir(parents=True)
    torch.save({"global_step": 3, "state_dict": {"w": torch.ones(64)}}, ckpts / "best.ckpt")
    torch.save({"global_step": 5, "state_dict": {"w": torch.ones(4096)}}, ckpts / "last.ckpt")
    data = (ckpts / "last.ckpt").read_bytes()
    (ckpts / "last.ckpt").write_bytes(data[: len(data) // 2])
    _hydra_files(root / RUN)


def _hydra_files(run: Path) -> None:
    (run / ".hydra").mkdir(parents=True, exist_ok=True)
    (run / ".hydra" / "overrides.yaml").write_text("- model=tiny_llama\n")
    (run / "train.log").write_text("[the first run's log]\n")


def _finished(root: Path) -> None:
    _hydra_files(root / RUN)
    (root / RUN / "manifest.json").write_text('{"stage": 1}\n')


SETUPS = {"torn": _torn_checkpoint, "finished": _finished}

# (command as the README shows it, the line it prints, setup). "..." in a line stands for any text.
CASES = [
    (
        "python train.py model=llama99b",
        "honeybee: error: unknown option 'llama99b' for model= (choose from: ..., smollm2_135m, tiny_llama)",
        None,
    ),
    (
        "python train.py lora.r=0",
        "honeybee: error: lora.r=0 must be an integer 1..65536; lora=none for a full finetune",
        None,
    ),
    (
        "python train.py data.max_seq_len=abc",
        "honeybee: error: data.max_seq_len='abc' must be an integer 8..1048576",
        None,
    ),
    (
        "python train.py data=matsci_instruct data.path=nope.json",
        "honeybee: error: data.path=nope.json: no such file",
        None,
    ),
    (
        "python train.py data=matsci_instruct data.path=bad.json",
        "honeybee: error: bad.json: record 2: field 'instruction': expected a string, got null",
        None,
    ),
    (
        "python train.py data=matsci_instruct data.path=obj.json",
        "honeybee: error: obj.json: expected a JSON array of records (or JSON Lines, one record per line), "
        "got object",
        None,
    ),
    (
        "python train.py data=matsci_instruct data.path=line.json",
        "honeybee: error: line.json: expected a JSON array of records (or JSON Lines, one record per line), "
        "got object (read as one JSON Lines record: missing field 'output')",
        None,
    ),
    (
        "python train.py data=matsci_instruct data.path=skip.json data.on_bad_record=skip",
        "honeybee: error: skip.json: no usable records (2 skipped)",
        None,
    ),
    (
        "python train.py model.name_or_path=/nonexistent",
        "honeybee: error: model.name_or_path=/nonexistent: no such file or folder",
        None,
    ),
    (
        "python train.py model=tiny_llama data=matsci_instruct data.path=long.json data.max_seq_len=16",
        "honeybee: error: data=matsci_instruct: every train record was dropped (max_seq_len=16 holds no "
        "record's response; raise data.max_seq_len)",
        None,
    ),
    (
        "python train.py model=tiny_llama stage=2",
        "honeybee: error: stage=2 continues stage 1, but .../outputs/default/tiny_llama/stage1/adapter does "
        "not exist: train stage 1 first (same experiment_name and model) or set stage.init_from=<adapter folder>",
        None,
    ),
    (
        "python train.py model=tiny_llama ckpt_path=last",
        "honeybee: error: ckpt_path=last: no .../outputs/default/tiny_llama/stage1/checkpoints/last.ckpt; rerun "
        "with the same experiment_name/model/stage (or hydra.run.dir=<the earlier run folder>), or give "
        "ckpt_path=<file.ckpt>",
        None,
    ),
    (
        "python train.py model=tiny_llama ckpt_path=last",
        "honeybee: error: checkpoint .../stage1/checkpoints/last.ckpt is damaged: truncated or not a checkpoint "
        "(... bytes, no complete archive); the run still has an intact best.ckpt (step 3): resume from it with "
        "ckpt_path=.../stage1/checkpoints/best.ckpt, or start over without ckpt_path",
        "torn",
    ),
    (
        "python train.py model=tiny_llama",
        "honeybee: error: .../outputs/default/tiny_llama/stage1 already holds a finished run; use another "
        "experiment_name, resume with ckpt_path=last, or pass overwrite=true",
        "finished",
    ),
    (
        "python generate.py adapter=nowhere prompts=hi",
        "honeybee: error: nowhere: no such folder (give a run or stage folder ...)",
        None,
    ),
    (
        "python curate.py sources.topics_file=nope.txt",
        "honeybee: error: sources.topics_file: file not found: nope.txt",
        None,
    ),
]


def matches(pattern: str, line: str) -> bool:
    """``line`` is ``pattern`` with each ``...`` standing for any text."""
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("...")), line) is not None


def tree(root: Path) -> dict[str, bytes | None]:
    """Every folder (None) and file (its bytes) under ``root``."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize(
    ("command", "prints", "setup"), CASES, ids=[f"{i}-{c[0].split()[1]}" for i, c in enumerate(CASES)]
)
def test_a_refused_run_leaves_the_tree_as_it_was(tmp_path, command, prints, setup):
    work = tmp_path / "work"
    work.mkdir()
    for name, text in FILES.items():
        (work / name).write_text(text, encoding="utf-8")
    if setup:
        SETUPS[setup](work)
    before = tree(work)
    argv = shlex.split(command)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    env.pop("HYDRA_FULL_ERROR", None)
    r = subprocess.run(
        [sys.executable, str(ROOT / argv[1]), *argv[2:]],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    # Refusals after the model loads also show its loading and tokenizing progress bars (a tqdm line: "%|").
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "%|" not in ln]
    assert r.returncode == 2, r.stderr[-2000:]
    assert len(lines) == 1, r.stderr[-2000:]
    assert matches(prints, lines[0]), (prints, lines[0])
    after = tree(work)
    assert after.keys() == before.keys(), sorted(after.keys() ^ before.keys())
    assert after == before, [k for k in after if after[k] != before[k]]


def test_every_readme_error_example_is_a_case_that_runs():
    examples = readme_examples()
    assert len(examples) >= 10, examples
    cases = {(c, p) for c, p, _ in CASES}
    python = [(c, p) for c, p in examples if c.startswith("python ")]
    missing = [e for e in python if e not in cases]
    assert not missing, f"README examples that no test runs: {missing}"
    # The rest are server requests, checked by tests/generation/test_server_shutdown.py.
    assert all(c.startswith("POST ") for c, _ in examples if not c.startswith("python ")), examples


def test_the_case_table_is_wide_enough():
    assert len(CASES) >= 12
    kinds = " ".join(c for c, _, _ in CASES)
    for needle in ("lora.r=", "data.path=", "model.name_or_path=", "max_seq_len=", "stage=2", "ckpt_path"):
        assert needle in kinds, needle

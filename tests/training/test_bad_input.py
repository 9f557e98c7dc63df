"""Bad input: one clear line naming the option/file/record, non-zero exit, no model loaded, no artifacts."""

from __future__ import annotations

import json

import pytest
from conftest import TINY


def _assert_one_line_error(r, *needles):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert r.last_err_line.startswith("honeybee: error: "), r.stderr[-1500:]
    for n in needles:
        assert n in r.last_err_line, r.last_err_line
    assert "parameters:" not in r.stdout  # failed before the model was loaded
    assert not (r.run_dir / "adapter").exists()


def _bad_file(tmp_path, name, content):
    p = tmp_path / name
    p.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return p


def test_unknown_group_option(train_run):
    _assert_one_line_error(
        train_run(["model=llama99b"]), "unknown option 'llama99b' for model=", "tiny_llama"
    )


def test_unknown_key(train_run):
    _assert_one_line_error(train_run([*TINY, "lora.rank=8"]), "lora.rank")


def test_lora_rank_zero(train_run):
    _assert_one_line_error(train_run([*TINY, "lora.r=0"]), "lora.r=0 must be a positive integer")


def test_missing_data_file(train_run, tmp_path):
    _assert_one_line_error(
        train_run([*TINY, "data=matsci_instruct", f"data.path={tmp_path}/nope.json"]),
        "data file not found",
        "nope.json",
    )


@pytest.mark.parametrize(
    "content,needles",
    [
        ([], ["no usable records"]),
        (
            [{"instruction": "Q", "output": "A"}, {"instruction": "Q2", "input": "x"}],
            ["record 1", "missing field 'output'"],
        ),
        ('[{"instruction": "Q", "output": "A"}', ["malformed JSON at line 1"]),
    ],
    ids=["empty", "no-output", "malformed"],
)
def test_bad_data_files(train_run, tmp_path, content, needles):
    p = _bad_file(tmp_path, "bad.json", content)
    _assert_one_line_error(train_run([*TINY, "data=matsci_instruct", f"data.path={p}"]), str(p), *needles)

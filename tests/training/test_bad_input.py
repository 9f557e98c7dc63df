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
    _assert_one_line_error(train_run([*TINY, "lora.r=0"]), "lora.r=0 must be an integer 1..65536")


def test_missing_data_file(train_run, tmp_path):
    _assert_one_line_error(
        train_run([*TINY, "data=matsci_instruct", f"data.path={tmp_path}/nope.json"]),
        "data.path=",
        "nope.json: no such file",
    )


@pytest.mark.parametrize(
    "content,needles",
    [
        ([], ["no usable records"]),
        (
            [{"instruction": "Q", "output": "A"}, {"instruction": "Q2", "input": "x"}],
            ["record 2", "missing field 'output'"],
        ),
        ('[{"instruction": "Q", "output": "A"}', ["malformed JSON at line 1"]),
    ],
    ids=["empty", "no-output", "malformed"],
)
def test_bad_data_files(train_run, tmp_path, content, needles):
    p = _bad_file(tmp_path, "bad.json", content)
    _assert_one_line_error(train_run([*TINY, "data=matsci_instruct", f"data.path={p}"]), str(p), *needles)


# The cases and one per loader family, through the real entry point: one line naming file, record and
# field, exit 2, no traceback, and nothing left behind: no run folder (Hydra's own .hydra/ and log are removed
# when the task refuses its input) and no tokenization cache entry.
BROKEN = [
    (
        "matsci_instruct",
        "bad.json",
        '[{"instruction": "Q", "output": "A"}, {"instruction": null, "output": "A"}]',
        "bad.json: record 2: field 'instruction': expected a string, got null",
    ),
    (
        "matsci_instruct",
        "obj.json",
        '{\n  "instruction": "Q",\n  "output": "A"\n}\n',
        "obj.json: expected a JSON array of records (or JSON Lines, one record per line), got object",
    ),
    (
        "sciinstruct",
        "train.jsonl",
        '{"content": "Q", "summary": "A", "subject": "math"}\n{"content": "Q", "summary": "A", "subject": 3}\n',
        "train.jsonl: line 2: field 'subject': expected a string, got a number",
    ),
    (
        "mixture",
        "mix.jsonl",
        '{"instruction": "Q", "output": ["A"]}\n',
        "data.components.matsci_instruct: ",
    ),
]


@pytest.mark.parametrize(("data", "name", "content", "needle"), BROKEN, ids=[b[1] for b in BROKEN])
def test_broken_data_leaves_nothing_behind(train_run, tmp_path, data, name, content, needle):
    p = _bad_file(tmp_path, name, content)
    args = [*TINY, f"data={data}", f"data.path={p}"]
    if data == "mixture":
        args = [*TINY, "data=mixture", "data.components.darwin_fair.weight=0"]
        args += ["data.components.matsci_instruct.weight=1", f"data.components.matsci_instruct.path={p}"]
        needle += f"{p}: line 1: field 'output': expected a string, got a list"
    cache = tmp_path / "cache"
    r = train_run(args, env={"HONEYBEE_CACHE": str(cache)})
    assert r.returncode == 2, r.stderr[-1500:]
    _assert_one_line_error(r, str(p) if data != "mixture" else "", needle)
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1, r.stderr
    assert not r.run_dir.exists(), sorted(r.run_dir.rglob("*"))
    assert not (cache / "datasets").exists()

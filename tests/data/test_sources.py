"""Alpaca loading, validation errors that name file and record, splits."""

from __future__ import annotations

import json

import pytest
from conftest import MATSCI_INSTRUCT, needs_shared

from honeybee.data.records import Record
from honeybee.data.sources import load_alpaca
from honeybee.data.splits import load_splits, save_splits, split_records
from honeybee.utils.errors import DataError


def _write(path, obj):
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return path


def test_json_and_jsonl_load(tmp_path):
    recs = [
        {"instruction": "Q1", "input": "", "output": "A1"},
        {"instruction": "Q2", "output": "A2", "accuracy": 97},
    ]
    a = load_alpaca(_write(tmp_path / "a.json", recs))
    b = load_alpaca(_write(tmp_path / "b.jsonl", "\n".join(json.dumps(r) for r in recs) + "\n"))
    for got in (a, b):
        assert [r.output for r in got] == ["A1", "A2"]
        assert got[1].meta["accuracy"] == 97 and got[1].input == ""


@pytest.mark.parametrize(
    "content,match",
    [
        ('[{"instruction": "Q", "output": "A"},', r"bad\.json: malformed JSON at line 1"),
        (
            [{"instruction": "Q", "output": "A"}, {"instruction": "Q"}],
            r"bad\.json: record 2: missing field 'output'",
        ),
        ([{"instruction": "Q", "output": 3}], r"record 1: field 'output': expected a string, got a number"),
        ([{"instruction": "  ", "output": "A"}], r"record 1: field 'instruction': must not be empty"),
        ([], r"bad\.json: no usable records"),
        ("", r"bad\.json: file is empty"),
    ],
)
def test_bad_files_name_file_and_record(tmp_path, content, match):
    with pytest.raises(DataError, match=match):
        load_alpaca(_write(tmp_path / "bad.json", content))


def test_non_utf8_and_missing_file(tmp_path):
    p = tmp_path / "latin.json"
    p.write_bytes('[{"instruction": "caf\xe9", "output": "A"}]'.encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        load_alpaca(p)
    with pytest.raises(DataError, match="data file not found: .*nope.json"):
        load_alpaca(tmp_path / "nope.json")


def test_skip_policy_counts_bad_lines(tmp_path, caplog):
    lines = [
        '{"instruction": "Q", "output": "A"}',
        "{not json",
        '{"instruction": "Q2"}',
        '{"instruction": "Q3", "output": "C"}',
    ]
    with caplog.at_level("WARNING"):
        recs = load_alpaca(_write(tmp_path / "m.jsonl", "\n".join(lines)), on_bad_record="skip")
    assert [r.output for r in recs] == ["A", "C"]
    assert "skipped 2 bad record(s)" in caplog.text


def test_splits_are_seeded_grouped_and_persisted(tmp_path):
    recs = [Record(f"q{i}", "", f"a{i}", {"group": f"g{i // 3}"}) for i in range(60)]
    s1 = split_records(recs, 0.1, 0.2, seed=7)
    s2 = split_records(list(recs), 0.1, 0.2, seed=7)
    s3 = split_records(recs, 0.1, 0.2, seed=8)
    assert [r.instruction for r in s1["test"]] == [r.instruction for r in s2["test"]]
    assert [r.instruction for r in s1["test"]] != [r.instruction for r in s3["test"]]
    groups = {k: {r.meta["group"] for r in v} for k, v in s1.items()}
    assert not (groups["train"] & groups["test"]) and not (groups["train"] & groups["val"])
    assert sum(len(v) for v in s1.values()) == 60 and len(groups["test"]) == 4 and len(groups["val"]) == 2
    save_splits(s1, tmp_path / "splits")
    back = load_splits(tmp_path / "splits")
    assert [r.to_dict() for r in back["val"]] == [r.to_dict() for r in s1["val"]]


@needs_shared(MATSCI_INSTRUCT)
def test_real_matsci_instruct_loads():
    recs = load_alpaca(MATSCI_INSTRUCT, source="matsci_instruct")
    assert len(recs) == 2307
    assert all(r.instruction and r.output for r in recs)
    assert sum(1 for r in recs if len(r.input) > 500) > 1000  # mostly long abstracts

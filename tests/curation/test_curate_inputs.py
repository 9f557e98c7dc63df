"""curate.py's input files (``sources.file``, ``sources.topics_file``, ``feedback.questions_file``) on generated
and broken content: the texts come back as written, and anything broken is one error naming file, record and
field; through the real entry point such a file stops the round before any call, leaving no round folder."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from omegaconf import OmegaConf
from strategies import LAYOUTS, TEXT, check_message, count_of, mutated, write_any, write_records

from honeybee.cli import check_overrides
from honeybee.curation.evaluator import read_questions
from honeybee.curation.inputs import source_texts, topics
from honeybee.utils.errors import HoneybeeError
from tests.conftest import run_script


@functools.cache
def _base():
    problem, cfg = check_overrides([], "curate")
    assert problem is None, problem
    return cfg


def _cfg(*overrides: str):
    """conf/curate.yaml with ``sources.<key>=<value>`` overrides (composed once: examples run by the hundred)."""
    cfg = copy.deepcopy(_base())
    for ov in overrides:
        key, _, value = ov.partition("=")
        OmegaConf.update(cfg, key, int(value) if value.isdigit() else value, merge=False)
    return cfg


ROW = st.fixed_dictionaries({"input": TEXT}, optional={"instruction": TEXT, "id": st.integers()})


@given(rows=st.lists(ROW, min_size=1, max_size=5), layout=LAYOUTS)
def test_source_texts_round_trip(tmp_path, rows, layout):
    path = write_records(tmp_path / "src.jsonl", rows, layout)
    texts = [t for _, t in source_texts(_cfg(f"sources.file={path}", "sources.max_chars=100000"))]
    assert texts == list(dict.fromkeys(r["input"].strip() for r in rows))


@given(rows=st.lists(ROW, min_size=1, max_size=5).flatmap(mutated), layout=LAYOUTS)
@example(rows=[{"input": "GaN"}, {"input": 3}], layout="jsonl")
def test_broken_source_files_name_file_record_and_field(tmp_path, rows, layout):
    path = tmp_path / "src.json"
    write_any(path, rows, layout if isinstance(rows, list) else "pretty")
    try:
        source_texts(_cfg(f"sources.file={path}"))
    except HoneybeeError as e:
        check_message(str(e), path, count_of(rows, layout))


@given(data=st.binary(max_size=60))
def test_any_bytes_as_topics_or_questions(tmp_path, data):
    for name, read in (
        ("topics.txt", lambda p: topics(_cfg(f"sources.topics_file={p}"))),
        ("questions.jsonl", lambda p: read_questions(p, None)),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        try:
            read(path)
        except HoneybeeError as e:
            check_message(str(e), path, data.count(b"\n") + 1)


def test_bad_topics_file_lines_are_named(tmp_path):
    p = tmp_path / "topics.txt"
    p.write_bytes(b"alloys\nzeolites\x00\n")
    with pytest.raises(HoneybeeError, match=r"topics\.txt: line 2: contains a NUL character"):
        topics(_cfg(f"sources.topics_file={p}"))
    p.write_bytes(b"alloys\ncaf\xe9\n")
    with pytest.raises(HoneybeeError, match=r"topics\.txt: line 2: not UTF-8 text"):
        topics(_cfg(f"sources.topics_file={p}"))


def test_curate_stops_on_a_broken_source_file_before_any_call(tmp_path: Path):
    src = tmp_path / "abstracts.jsonl"
    src.write_text('{"input": "GaN is a semiconductor."}\n{"input": {"text": "nested"}}\n', encoding="utf-8")
    r = run_script(
        "curate.py",
        [f"curation_dir={tmp_path / 'curation'}", "experiment_name=t", f"sources.file={src}"],
        tmp_path / "hydra",
    )
    assert r.returncode == 2, r.stderr[-1500:]
    assert r.stderr.strip().splitlines() == [r.last_err_line], r.stderr
    assert f"{src}: line 2: field 'input': expected a string, got an object" in r.last_err_line
    assert not (tmp_path / "curation" / "t" / "round1").exists() and not r.run_dir.exists()

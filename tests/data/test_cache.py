"""Tokenized splits are cached through `datasets`: same inputs skip tokenization, any changed input misses."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import honeybee.data.datamodule as dmod
from honeybee.data.prompts import PromptStyle
from honeybee.data.records import Record

CONF = Path(__file__).resolve().parents[2] / "conf"
ALPACA = PromptStyle.from_name("alpaca")

RECORDS = [
    Record("What is the band gap of the given material?", "silicon (Si)", "1.12 eV"),
    Record(
        "Summarise the abstract.",
        "We present results of magnetic susceptibility measurements. " * 8,
        "Thin films were measured.",
    ),
    Record("Is the given material a metal?", "copper (Cu)", "Yes"),
    Record("Q?", "", "word " * 100),  # dropped at max_seq_len 64: the stats must say so on cached runs too
]


@pytest.fixture
def counted(monkeypatch):
    """Counts calls of the per-record tokenizer inside the map function."""
    calls = []
    real = dmod.tokenize_record

    def spy(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(dmod, "tokenize_record", spy)
    return calls


def _run(tok, cache, max_seq_len=64, records=RECORDS, style=ALPACA, train_on_prompt=False):
    ds, stats = dmod.tokenize_split(records, tok, style, max_seq_len, train_on_prompt, cache)
    return ds, stats, ds.to_dict()


def test_second_run_hits_the_cache(tiny_tokenizer, tmp_path, counted):
    ds1, st1, rows1 = _run(tiny_tokenizer, tmp_path)
    assert len(counted) == len(RECORDS)
    assert st1.dropped_too_long == 1 and st1.input_truncated > 0 and len(ds1) == st1.kept == 3
    arrows = sorted(tmp_path.glob("*.arrow"))
    assert len(arrows) == 1 and arrows[0].with_suffix(".stats.json").is_file()
    mtime = arrows[0].stat().st_mtime_ns

    counted.clear()
    ds2, st2, rows2 = _run(tiny_tokenizer, tmp_path)
    assert counted == []  # no record went through the tokenizer
    assert ds2.cache_files[0]["filename"] == str(arrows[0]) and arrows[0].stat().st_mtime_ns == mtime
    assert rows2 == rows1 and dataclasses.asdict(st2) == dataclasses.asdict(st1)
    assert rows1["length"] == [len(x) for x in rows1["input_ids"]]


@pytest.mark.parametrize(
    "change",
    [
        {"max_seq_len": 80},
        {"train_on_prompt": True},
        {"style": PromptStyle.from_name("plain")},
        {"records": RECORDS[:-1] + [Record("Q?", "", "word " * 99)]},
    ],
)
def test_changed_input_misses_the_cache(tiny_tokenizer, tmp_path, counted, change):
    _run(tiny_tokenizer, tmp_path)
    counted.clear()
    _run(tiny_tokenizer, tmp_path, **change)
    assert len(counted) == len(change.get("records", RECORDS))
    assert len(list(tmp_path.glob("*.arrow"))) == 2


def test_lost_stats_file_means_a_miss(tiny_tokenizer, tmp_path, counted):
    _, st1, rows1 = _run(tiny_tokenizer, tmp_path)
    next(tmp_path.glob("*.stats.json")).unlink()
    counted.clear()
    _, st2, rows2 = _run(tiny_tokenizer, tmp_path)
    assert len(counted) == len(RECORDS) and rows2 == rows1 and st2 == st1
    _run(tiny_tokenizer, tmp_path)
    assert len(counted) == len(RECORDS)  # the rewritten pair is a hit again


def test_no_cache_and_empty_split(tiny_tokenizer, tmp_path):
    ds, stats, _ = _run(tiny_tokenizer, None)
    assert len(ds) == 3 and stats.kept == 3 and ds.cache_files == []
    empty, st, _ = _run(tiny_tokenizer, tmp_path, records=[])
    assert len(empty) == 0 and st.records == 0 and not any(tmp_path.iterdir())


def test_datamodule_uses_the_cache_and_logs_stats(tiny_tokenizer, tmp_path, monkeypatch, caplog, counted):
    monkeypatch.setenv("HONEYBEE_CACHE", str(tmp_path))
    cfg = OmegaConf.load(CONF / "data" / "materials_facts.yaml")
    splits = dmod.prepare_splits(cfg, 0)
    logged, calls = [], []
    for _ in range(2):
        counted.clear()
        caplog.clear()
        dm = dmod.InstructionDataModule(cfg, tiny_tokenizer, splits, seed=0, run_dir=None)
        with caplog.at_level(logging.INFO, logger="honeybee.data.datamodule"):
            dm.setup("fit")
        logged.append([r.getMessage() for r in caplog.records])
        calls.append(len(counted))
    assert calls[0] == len(splits["train"]) + len(splits["val"]) and calls[1] == 0
    assert len(list((tmp_path / "datasets").glob("*.arrow"))) == 2  # train and val
    stats_lines = [[m for m in run if m.startswith("data materials_facts/")] for run in logged]
    assert len(stats_lines[1]) == 2 and stats_lines[0] == stats_lines[1]  # train and val, as first logged
    assert sum("cached as" in m for m in logged[0]) == 2 and sum("reused from" in m for m in logged[1]) == 2

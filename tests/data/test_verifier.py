"""HoneyBee's verifier rule on MatSci-Instruct records with scores."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from honeybee.data.sources import load_records
from honeybee.data.verifier import passes
from honeybee.utils.errors import DataError


def test_rule_edges():
    assert passes({"a": 95, "b": 95, "c": 95, "d": 95}) == (True, [])
    assert passes({"a": 100, "b": 100, "c": 100, "d": 89.9}) == (False, ["d"])  # mean 97.5 but one < 90
    assert passes({"a": 94, "b": 94, "c": 96, "d": 95}) == (False, ["mean"])  # each >= 90, mean 94.75
    assert passes({"a": 80, "b": 100, "c": 100, "d": 100}, min_mean=90, min_each=80) == (True, [])


def _cfg(path, **verifier):
    base = OmegaConf.load("conf/data/matsci_instruct.yaml")
    base.path = str(path)
    for k, v in verifier.items():
        base.verifier[k] = v
    return base


def _scored(i, acc, rel=98, comp=97, reas=96, **extra):
    return {
        "instruction": f"Q{i}",
        "input": "",
        "output": "A",
        "accuracy": acc,
        "relevance": rel,
        "completeness": comp,
        "reasonableness": reas,
        **extra,
    }


def test_filter_counts_and_keeps_unscored(tmp_path, caplog):
    rows = [_scored(0, 99), _scored(1, 85), _scored(2, 92, 93, 94, 95), {"instruction": "Q3", "output": "A"}]
    p = tmp_path / "scored.json"
    p.write_text(json.dumps(rows))
    with caplog.at_level("INFO"):
        recs = load_records(_cfg(p))
    assert [r.instruction for r in recs] == ["Q0", "Q3"]
    assert "kept 2, dropped 2, unscored 1" in caplog.text and "'mean': 2" in caplog.text
    loose = load_records(_cfg(p, min_mean=90, min_each=85))
    assert [r.instruction for r in loose] == ["Q0", "Q1", "Q2", "Q3"]
    off = load_records(_cfg(p, enabled=False))
    assert len(off) == 4


def test_incomplete_scores_and_all_dropped(tmp_path):
    p = tmp_path / "partial.json"
    p.write_text(json.dumps([{"instruction": "Q", "output": "A", "accuracy": 99}]))
    with pytest.raises(DataError, match=r"record 1: verifier scores incomplete, missing \['completeness'"):
        load_records(_cfg(p))
    q = tmp_path / "bad.json"
    q.write_text(json.dumps([_scored(0, 10)]))
    with pytest.raises(DataError, match="dropped every record"):
        load_records(_cfg(q))

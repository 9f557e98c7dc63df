"""Record-level intervals in the study report: a row's interval and the paired progressive-vs-one-shot one.

The cells' replicates are made by the evaluation's own bootstrap on synthetic per-record outcomes, and the
report's intervals are checked against a direct recomputation from those outcomes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from honeybee.evaluation.bootstrap import Bootstrap, bootstrap, draws
from honeybee.study.report import write_report

KEY = "darwin_fair/is_metal.accuracy"
N = 200
SETTINGS = Bootstrap(resamples=1000, seed=0)
rng = np.random.default_rng(7)
TRUTH = rng.random(N)
# Per seed: which records each row gets right. Progressive beats one-shot on ~15 % more records.
OUTCOMES: dict[tuple[str, int], list[int]] = {}
for _s in (1, 2, 3):
    OUTCOMES[("progressive/stage2", _s)] = (np.less(TRUTH, 0.70 + 0.01 * _s)).astype(int).tolist()
    OUTCOMES[("one-shot", _s)] = (np.less(TRUTH, 0.55 + 0.01 * _s)).astype(int).tolist()
OUTCOMES[("base", 0)] = (TRUTH < 0.5).astype(int).tolist()
ROWS = [
    {"row": "base", "label": "base model", "variant": "base", "stage": 0},
    {"row": "progressive/stage2", "label": "progressive, stage 2", "variant": "progressive", "stage": 2},
    {"row": "one-shot", "label": "one-shot", "variant": "one-shot", "stage": 1},
]


def _metrics(rows):
    return {"is_metal.accuracy": sum(r["correct"] for r in rows) / len(rows), "n": len(rows)}


def _write(root: Path, hash_of=lambda row, seed: "h1") -> Path:
    (root / "cells").mkdir(parents=True)
    cells = []
    for (row, seed), outcome in OUTCOMES.items():
        cid = row.replace("/", "-") + ("" if row == "base" else f"-seed{seed}")
        cells.append(cid)
        rows = [{"correct": c} for c in outcome]
        ivs, reps = bootstrap(_metrics, rows, ["all"] * N, SETTINGS)
        meta = next(r for r in ROWS if r["row"] == row)
        body = {
            "cell": cid,
            "row": row,
            "variant": meta["variant"],
            "stage": meta["stage"],
            "seed": seed,
            "status": "done",
            "metrics": {KEY: _metrics(rows)["is_metal.accuracy"]},
            "intervals": {KEY: ivs["is_metal.accuracy"]},
            "replicates": {KEY: reps["is_metal.accuracy"]},
            "records": {"darwin_fair": {"n": N, "hash": hash_of(row, seed), "seconds": 1.5}},
            "per_record": {KEY: outcome},
            "cost": {"wall_s": 1.0},
        }
        (root / "cells" / cid).mkdir()
        (root / "cells" / cid / "result.json").write_text(json.dumps(body))
    study = {
        "name": "iv",
        "tag": "",
        "seeds": [1, 2, 3],
        "swept": {},
        "rows": ROWS,
        "tasks": [
            {"key": KEY, "task": "darwin_fair", "metric": "is_metal.accuracy", "higher_is_better": True}
        ],
        "cells": cells,
    }
    (root / "study.json").write_text(json.dumps(study))
    return root


def _direct(rows_by_seed: list[tuple[list[int], list[int]]] | list[list[int]], paired: bool) -> list[float]:
    """The interval straight from the outcomes: the same draws, the statistic averaged over seeds."""
    vals = []
    for idx in draws(["all"] * N, SETTINGS):
        per_seed = (
            [np.mean(np.array(a)[idx]) - np.mean(np.array(b)[idx]) for a, b in rows_by_seed]
            if paired
            else [np.mean(np.array(a)[idx]) for a in rows_by_seed]
        )
        vals.append(float(np.mean(per_seed)))
    return [float(x) for x in np.quantile(vals, [0.025, 0.975])]


def test_row_interval_is_the_seed_mean_over_the_same_records(tmp_path):
    s = write_report(_write(tmp_path / "s"))
    row = next(r for r in s["rows"] if r["row"] == "progressive/stage2")
    m = row["metrics"][KEY]
    want = _direct([OUTCOMES[("progressive/stage2", k)] for k in (1, 2, 3)], paired=False)
    assert m["interval"] == pytest.approx(want, abs=1e-6)
    assert m["interval"][0] < m["mean"] < m["interval"][1]
    base = next(r for r in s["rows"] if r["row"] == "base")["metrics"][KEY]
    assert base["interval"] == pytest.approx(
        _direct([OUTCOMES[("base", 0)]], paired=False), abs=1e-6
    )  # a single cell: its own interval
    md = (tmp_path / "s" / "report.md").read_text()
    assert f"[{m['interval'][0]:.4g}, {m['interval'][1]:.4g}]" in md
    assert f"{KEY} ±" in md  # the resolution line names the column
    assert "darwin_fair 200 (1.5 s)" in md


def test_paired_difference_interval(tmp_path):
    s = write_report(_write(tmp_path / "s"))
    (c,) = s["progressive_vs_one_shot"]
    pairs = [(OUTCOMES[("progressive/stage2", k)], OUTCOMES[("one-shot", k)]) for k in (1, 2, 3)]
    want = _direct(pairs, paired=True)
    assert c["paired"]["interval"] == pytest.approx(want, abs=1e-6)
    assert c["paired"]["seeds"] == 3 and c["paired"]["diff"] == pytest.approx(0.15, abs=0.03)
    # progressive is right on a superset of one-shot's records: the paired interval excludes 0 and is far
    # narrower than the two rows' own intervals side by side
    lo, hi = c["paired"]["interval"]
    assert 0 < lo < c["paired"]["diff"] < hi
    rows = {r["row"]: r["metrics"][KEY]["interval"] for r in s["rows"]}
    assert hi - lo < (rows["one-shot"][1] - rows["one-shot"][0])
    assert "paired per record" in (tmp_path / "s" / "report.md").read_text()
    assert "excludes 0" in (tmp_path / "s" / "report.md").read_text()


def test_no_paired_interval_across_different_records(tmp_path):
    s = write_report(
        _write(tmp_path / "s", hash_of=lambda row, seed: f"h{seed}" if row == "one-shot" else "h1")
    )
    (c,) = s["progressive_vs_one_shot"]
    assert c["paired"]["interval"] is None and c["diff"] is not None
    row = next(r for r in s["rows"] if r["row"] == "one-shot")
    assert row["metrics"][KEY]["interval"] is None  # seeds scored on other records: no joint interval

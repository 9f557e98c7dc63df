"""A synthetic study folder with known numbers, for the report tests (no training, no model)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

TASKS = [
    {"key": "darwin_fair/mae", "task": "darwin_fair", "metric": "mae", "higher_is_better": False},
    {"key": "matsci_nlp/micro_f1", "task": "matsci_nlp", "metric": "micro_f1", "higher_is_better": True},
    {"key": "darwin_fair/accuracy", "task": "darwin_fair", "metric": "accuracy", "higher_is_better": True},
    {"key": "perplexity/perplexity", "task": "perplexity", "metric": "perplexity", "higher_is_better": False},
]
ROWS = [
    {"row": "base", "label": "base model", "variant": "base", "stage": 0},
    {"row": "progressive/stage1", "label": "progressive, stage 1", "variant": "progressive", "stage": 1},
    {"row": "progressive/stage2", "label": "progressive, stage 2", "variant": "progressive", "stage": 2},
    {"row": "one-shot", "label": "one-shot", "variant": "one-shot", "stage": 1},
]
SEEDS = [1, 2, 3]

# 40 eval records; the base model gets the first 20 right.
BASE_REC = [1] * 20 + [0] * 20
# stage 2 also gets 15 of the base's wrong records right (c=15, b=0 -> McNemar p ~ 6e-5) in every seed.
S2_REC = [1] * 35 + [0] * 5

# (row, seed) -> metrics; None = the cell has no result.json; "failed" = a result.json with status failed.
CELLS: dict[tuple[str, int], Any] = {
    ("base", 0): {
        "darwin_fair/mae": 2.0,
        "matsci_nlp/micro_f1": 0.30,
        "darwin_fair/accuracy": 0.5,
        "perplexity/perplexity": 12.0,
    },
    # stage 1: only seed 1 finished (n=1 row)
    ("progressive/stage1", 1): {
        "darwin_fair/mae": 1.8,
        "matsci_nlp/micro_f1": 0.33,
        "darwin_fair/accuracy": 0.5,
        "perplexity/perplexity": 10.0,
    },
    ("progressive/stage1", 2): None,
    ("progressive/stage1", 3): None,
    # stage 2: far below the base mae (significant), a NaN perplexity in seed 2
    ("progressive/stage2", 1): {
        "darwin_fair/mae": 1.0,
        "matsci_nlp/micro_f1": 0.50,
        "darwin_fair/accuracy": 0.875,
        "perplexity/perplexity": 8.0,
    },
    ("progressive/stage2", 2): {
        "darwin_fair/mae": 1.1,
        "matsci_nlp/micro_f1": 0.52,
        "darwin_fair/accuracy": 0.875,
        "perplexity/perplexity": math.nan,
    },
    ("progressive/stage2", 3): {
        "darwin_fair/mae": 0.9,
        "matsci_nlp/micro_f1": 0.49,
        "darwin_fair/accuracy": 0.875,
        "perplexity/perplexity": 8.4,
    },
    # one-shot: best micro_f1; mae around the base value (not significant); seed 3 failed
    ("one-shot", 1): {
        "darwin_fair/mae": 1.9,
        "matsci_nlp/micro_f1": 0.70,
        "darwin_fair/accuracy": 0.55,
        "perplexity/perplexity": 9.0,
    },
    ("one-shot", 2): {
        "darwin_fair/mae": 2.3,
        "matsci_nlp/micro_f1": 0.72,
        "darwin_fair/accuracy": 0.45,
        "perplexity/perplexity": 9.5,
    },
    ("one-shot", 3): "failed",
}


def cell_id(row: str, seed: int) -> str:
    return row.replace("/", "-") if row == "base" else f"{row.replace('/', '-')}-seed{seed}"


def write_study(root: Path, name: str = "synthetic", tag: str = "-t1") -> Path:
    """Write study.json and the finished cells' result.json under ``root``; returns ``root``."""
    ids = [cell_id(r, s) for r, s in CELLS]
    (root / "cells").mkdir(parents=True, exist_ok=True)
    study = {
        "name": name,
        "tag": tag,
        "seeds": SEEDS,
        "swept": {},
        "rows": ROWS,
        "tasks": TASKS,
        "cells": ids,
    }
    (root / "study.json").write_text(json.dumps(study, indent=2))
    for (row, seed), metrics in CELLS.items():
        if metrics is None:
            continue
        cid = cell_id(row, seed)
        meta = next(r for r in ROWS if r["row"] == row)
        body: dict[str, Any] = {
            "cell": cid,
            "row": row,
            "variant": meta["variant"],
            "stage": meta["stage"],
            "seed": seed,
            "swept": {},
            "status": "failed" if metrics == "failed" else "done",
            "metrics": None if metrics == "failed" else metrics,  # a failed cell may have no metrics
            "cost": {
                "wall_s": 10.0 * (meta["stage"] + 1) + seed,
                "train_tokens": 1000 * meta["stage"] + seed,
                "train_steps": 5 * meta["stage"],
                "eval_wall_s": 2.0,
            },
            "curves": {}
            if row == "base"
            else {
                "train_loss": [[i, 3.0 - 0.1 * i - 0.01 * seed] for i in range(10)],
                "val_loss": [[i, 3.1 - 0.08 * i] for i in range(0, 10, 3)],
            },
            "run_dir": f"/runs/{cid}",
            "config": {"seed": seed},
        }
        if row == "base":
            body["per_record"] = {"darwin_fair/accuracy": BASE_REC}
        elif row == "progressive/stage2":
            body["per_record"] = {"darwin_fair/accuracy": S2_REC}
        (root / "cells" / cid).mkdir()
        (root / "cells" / cid / "result.json").write_text(json.dumps(body))
    return root


def finished_values(root: Path, row: str, key: str) -> list[float]:
    """The finite values of ``key`` over ``row``'s finished cells, read back from the result.json files."""
    out = []
    for p in sorted((root / "cells").glob("*/result.json")):
        r = json.loads(p.read_text())
        if r["row"] != row or r["status"] != "done":
            continue
        v = r["metrics"].get(key)
        if v is not None and math.isfinite(v):
            out.append(float(v))
    return out

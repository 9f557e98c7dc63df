"""Seeded, deterministic train/val/test splits, kept together by record group and persisted per run."""

from __future__ import annotations

import random
from pathlib import Path

from honeybee.data.records import Record
from honeybee.utils.errors import ConfigError, DataError
from honeybee.utils.io import atomic_write_jsonl

SPLITS = ("train", "val", "test")


def split_records(
    records: list[Record], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[Record]]:
    """Split by ``meta['group']`` (falling back to the record itself) so related records never straddle splits.

    The split depends only on the records, the fractions and the seed: groups are shuffled from their sorted
    order with ``random.Random(seed)``.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(
            f"data.val_fraction={val_fraction} and data.test_fraction={test_fraction} must be in [0, 1) and sum < 1"
        )
    groups: dict[str, list[Record]] = {}
    for i, r in enumerate(records):
        key = str(r.meta.get("group", f"#{i}"))
        groups.setdefault(key, []).append(r)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    n_val = round(len(keys) * val_fraction) if val_fraction else 0
    n_test = round(len(keys) * test_fraction) if test_fraction else 0
    if (val_fraction and not n_val) or (test_fraction and not n_test) or len(keys) - n_val - n_test < 1:
        raise DataError(f"{len(records)} records in {len(keys)} groups are too few for the requested splits")
    parts = {"test": keys[:n_test], "val": keys[n_test : n_test + n_val], "train": keys[n_test + n_val :]}
    return {name: [r for k in parts[name] for r in groups[k]] for name in SPLITS}


def save_splits(splits: dict[str, list[Record]], folder: str | Path) -> None:
    """Write ``<folder>/{train,val,test}.jsonl`` atomically (one record per line, with metadata)."""
    for name, recs in splits.items():
        atomic_write_jsonl(Path(folder) / f"{name}.jsonl", [r.to_dict() for r in recs])


def load_splits(folder: str | Path) -> dict[str, list[Record]]:
    """Read back what ``save_splits`` wrote (so later stages and evaluation use the same held-out records)."""
    import json

    out = {}
    for name in SPLITS:
        p = Path(folder) / f"{name}.jsonl"
        if not p.is_file():
            raise DataError(f"split file not found: {p}")
        out[name] = [
            Record.from_dict(json.loads(line)) for line in p.read_text(encoding="utf-8").splitlines() if line
        ]
    return out

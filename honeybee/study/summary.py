"""Read a study folder (``study.json`` + ``cells/<id>/result.json``) and reduce it to one summary dict.

The summary holds every number the report shows (and more): per cell, per row and metric aggregated over
seeds, p-values against the base model, the best row per column, cost per row, and progressive vs one-shot.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from honeybee.study import stats
from honeybee.utils.errors import DataError

log = logging.getLogger(__name__)

COST_KEYS = ("wall_s", "train_wall_s", "eval_wall_s", "train_tokens", "train_steps")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not readable JSON ({e})") from None


def _need(cond: bool, path: Path, what: str) -> None:
    if not cond:
        raise DataError(f"{path}: {what}")


def load_study(study_dir: Path) -> dict[str, Any]:
    """``study.json``, checked: name, rows (each with ``row``), tasks (each with ``key``), cells."""
    path = Path(study_dir) / "study.json"
    s = _read_json(path)
    _need(isinstance(s, dict), path, "expected a JSON object")
    _need(isinstance(s.get("name"), str) and s["name"] != "", path, "'name' must be a non-empty string")
    for key in ("rows", "tasks", "cells"):
        _need(isinstance(s.get(key), list), path, f"'{key}' must be a list")
    for i, r in enumerate(s["rows"]):
        _need(isinstance(r, dict) and isinstance(r.get("row"), str), path, f"rows[{i}] needs a string 'row'")
    for i, t in enumerate(s["tasks"]):
        _need(isinstance(t, dict) and isinstance(t.get("key"), str), path, f"tasks[{i}] needs a string 'key'")
        _need(
            isinstance(t.get("higher_is_better"), bool), path, f"tasks[{i}] needs a bool 'higher_is_better'"
        )
    _need(all(isinstance(c, str) for c in s["cells"]), path, "'cells' must be a list of cell ids")
    _need(isinstance(s.get("seeds", []), list), path, "'seeds' must be a list")
    _need(isinstance(s.get("swept", {}), dict), path, "'swept' must be an object")
    return s


def load_results(study_dir: Path, cell_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Every ``cells/*/result.json`` (planned cells first, then any others found), checked; keyed by cell id."""
    cells_dir = Path(study_dir) / "cells"
    found = sorted(p.parent.name for p in cells_dir.glob("*/result.json")) if cells_dir.is_dir() else []
    out: dict[str, dict[str, Any]] = {}
    for cid in list(dict.fromkeys(cell_ids + found)):
        path = cells_dir / cid / "result.json"
        if not path.is_file():
            continue
        r = _read_json(path)
        _need(isinstance(r, dict), path, "expected a JSON object")
        _need(isinstance(r.get("row"), str), path, "'row' must be a string")
        # a cell that did not finish (status other than done) is counted as missing; its metrics may be absent
        if r.get("status", "done") == "done":
            _need(isinstance(r.get("metrics"), dict), path, "'metrics' must be an object")
        for key in ("cost", "curves", "per_record", "swept", "intervals", "replicates", "records"):
            _need(isinstance(r.get(key, {}), dict), path, f"'{key}' must be an object")
        out[cid] = {**r, "cell": str(r.get("cell") or cid)}
    return out


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        return None
    return float(v)


def setting_of(row: dict[str, Any]) -> str:
    """The swept setting a row belongs to (``lora.r=8``), '' when the study sweeps nothing.

    From the row's ``swept`` object when present, else the part of the row id after the first space.
    """
    if isinstance(row.get("swept"), dict):
        return " ".join(f"{k}={v}" for k, v in row["swept"].items())
    return str(row["row"]).partition(" ")[2]


def summarize(study: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Reduce the study and its finished cells to the report's numbers (see the module docstring)."""
    tasks = study["tasks"]
    done = {cid: r for cid, r in results.items() if r.get("status", "done") == "done"}
    planned = list(dict.fromkeys(study["cells"] + list(results)))
    rows = [dict(r) for r in study["rows"]]
    known = {r["row"] for r in rows}
    for r in done.values():  # a cell of a row the plan does not list still shows up, at the end
        if r["row"] not in known:
            log.warning("cell %s: row %r is not in study.json; shown last", r["cell"], r["row"])
            rows.append(
                {"row": r["row"], "label": r["row"], "variant": r.get("variant"), "stage": r.get("stage")}
            )
            known.add(r["row"])
    by_row: dict[str, list[dict[str, Any]]] = {r["row"]: [] for r in rows}
    for r in done.values():
        by_row[r["row"]].append(r)
    for cells in by_row.values():
        cells.sort(key=lambda c: (c.get("seed") is None, c.get("seed") or 0, c["cell"]))

    base_row = next((r["row"] for r in rows if r.get("variant") == "base"), None)
    base_cells = by_row.get(base_row, []) if base_row else []
    n_seeds = len(study.get("seeds") or [])
    out_rows = []
    for row in rows:
        cells = by_row[row["row"]]
        is_base = row["row"] == base_row
        metrics = {}
        for t in tasks:
            key = t["key"]
            values = [_num(c["metrics"].get(key)) for c in cells]
            m: dict[str, Any] = {**stats.aggregate(values), "values": values}
            m["seeds"] = [c.get("seed") for c in cells]
            if not is_base and base_row is not None:
                m["seed_test"] = stats.seed_test(values, [_num(c["metrics"].get(key)) for c in base_cells])
                base_rec = (base_cells[0].get("per_record") or {}).get(key) if len(base_cells) == 1 else None
                m["paired_test"] = stats.paired_test(
                    base_rec, [(c.get("per_record") or {}).get(key) for c in cells]
                )
            else:
                m["seed_test"], m["paired_test"] = None, None
            m["interval"] = _row_interval(cells, key)
            m["dagger"] = stats.significant((m["seed_test"] or {}).get("p"))
            m["double_dagger"] = stats.significant((m["paired_test"] or {}).get("p"))
            metrics[key] = m
        cost = {k: stats.aggregate([_num((c.get("cost") or {}).get(k)) for c in cells]) for k in COST_KEYS}
        out_rows.append(
            {
                **row,
                "setting": setting_of(row),
                "is_base": is_base,
                "cells": [c["cell"] for c in cells],
                "expected_n": 1 if is_base else n_seeds,
                "metrics": metrics,
                "cost": cost,
            }
        )
    for t in tasks:
        best = stats.best_rows(
            {r["row"]: r["metrics"][t["key"]]["mean"] for r in out_rows}, t["higher_is_better"]
        )
        for r in out_rows:
            r["metrics"][t["key"]]["best"] = r["row"] in best

    finished_cost = [(r.get("cost") or {}) for r in done.values()]
    return {
        "name": study["name"],
        "tag": study.get("tag") or "",
        "seeds": study.get("seeds") or [],
        "swept": study.get("swept") or {},
        "tasks": tasks,
        "base_row": base_row,
        "cells_total": len(planned),
        "cells_finished": len(done),
        "cells_missing": [c for c in planned if c not in done],
        "total_wall_s": sum(_num(c.get("wall_s")) or 0.0 for c in finished_cost),
        "total_train_tokens": int(sum(_num(c.get("train_tokens")) or 0 for c in finished_cost)),
        "rows": out_rows,
        "progressive_vs_one_shot": progressive_vs_one_shot(out_rows, tasks, done),
        "records": _records(done),
        "resolution": {t["key"]: _resolution(done, t["key"]) for t in tasks},
        "cells": {cid: _cell_record(r) for cid, r in done.items()},
        "tests": {
            "dagger": f"{stats.DAGGER} p < {stats.ALPHA}: {stats.SEED_TEST_ONE_SAMPLE} when the base row has one "
            f"cell, else {stats.SEED_TEST_WELCH}; over the seed values of the row",
            "double_dagger": f"{stats.DOUBLE_DAGGER} p < {stats.ALPHA}: {stats.PAIRED_TEST}, where 0/1 "
            "per-record outcomes exist for the base and the row",
            "progressive_vs_one_shot": "Welch t-test over seeds: final progressive stage vs one-shot; the "
            "paired interval is the 95 % bootstrap interval of the per-record difference (records resampled "
            "alike in both cells of a seed, differences averaged over seeds)",
            "interval": "[low, high]: 95 % bootstrap interval over evaluation records of the row's value (of the "
            "seed mean for several seeds: replicate-wise means, so it is the record noise, not the seed spread)",
        },
    }


def _same_records(cells: list[dict[str, Any]], key: str) -> bool:
    task = key.partition("/")[0]
    hashes = {((c.get("records") or {}).get(task) or {}).get("hash") for c in cells}
    return len(hashes) == 1 and None not in hashes


def _row_interval(cells: list[dict[str, Any]], key: str) -> list[float] | None:
    """The row's 95 % interval over records: of the seed mean when every cell has replicates drawn on the
    same records, else a single cell's own interval."""
    reps = [(c.get("replicates") or {}).get(key) for c in cells]
    if cells and all(reps) and _same_records(cells, key):
        return stats.interval(stats.replicate_mean(reps))  # type: ignore[arg-type]
    if len(cells) == 1:
        iv = (cells[0].get("intervals") or {}).get(key)
        return [float(iv[0]), float(iv[1])] if isinstance(iv, list) and len(iv) == 2 else None
    return None


def _records(done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Records scored per eval task (the same for every cell) and the median evaluation seconds per cell."""
    out: dict[str, Any] = {}
    for r in done.values():
        for task, rec in (r.get("records") or {}).items():
            d = out.setdefault(task, {"n": rec.get("n"), "seconds": []})
            if _num(rec.get("seconds")) is not None:
                d["seconds"].append(float(rec["seconds"]))
    for d in out.values():
        secs = sorted(d.pop("seconds"))
        d["median_seconds"] = secs[len(secs) // 2] if secs else None
    return out


def _resolution(done: dict[str, dict[str, Any]], key: str) -> float | None:
    """The median half-width of the cells' 95 % intervals of ``key``: differences smaller than this are within
    the evaluation's record noise."""
    widths = sorted(
        (float(iv[1]) - float(iv[0])) / 2
        for r in done.values()
        if isinstance(iv := (r.get("intervals") or {}).get(key), list) and len(iv) == 2
    )
    return widths[len(widths) // 2] if widths else None


def _paired(prog: dict[str, Any], one: dict[str, Any], done: dict[str, dict[str, Any]], key: str) -> dict:
    """Progressive minus one-shot record by record, within each seed both have, averaged over seeds."""
    by_seed = {}
    for cid in prog["cells"]:
        for oid in one["cells"]:
            if done[cid].get("seed") == done[oid].get("seed"):
                by_seed[done[cid].get("seed")] = (done[cid], done[oid])
    pairs = [by_seed[s] for s in sorted(by_seed, key=str)]
    diffs = [(_num(a["metrics"].get(key)), _num(b["metrics"].get(key))) for a, b in pairs]
    ok = [x - y for x, y in diffs if x is not None and y is not None]
    out: dict[str, Any] = {"diff": sum(ok) / len(ok) if ok else None, "interval": None, "seeds": len(ok)}
    reps = [((a.get("replicates") or {}).get(key), (b.get("replicates") or {}).get(key)) for a, b in pairs]
    ra = [x for x, _ in reps if x]
    rb = [y for _, y in reps if y]
    if pairs and len(ra) == len(rb) == len(pairs) and _same_records([c for p in pairs for c in p], key):
        out["interval"] = stats.paired_difference(ra, rb)["interval"]
    return out


def progressive_vs_one_shot(
    rows: list[dict[str, Any]], tasks: list[dict[str, Any]], done: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Per swept setting and task: the final progressive stage minus one-shot, with a Welch p over seeds and,
    where the cells carry bootstrap replicates, the paired per-record difference with its interval."""
    out = []
    for setting in dict.fromkeys(r["setting"] for r in rows):
        prog = [
            r for r in rows if r["setting"] == setting and r.get("variant") == "progressive" and r["cells"]
        ]
        one = [r for r in rows if r["setting"] == setting and r.get("variant") == "one-shot" and r["cells"]]
        if not prog or not one:
            continue
        final = max(prog, key=lambda r: r.get("stage") or 0)
        for t in tasks:
            a, b = final["metrics"][t["key"]]["values"], one[0]["metrics"][t["key"]]["values"]
            out.append(
                {
                    "setting": setting,
                    "task": t["key"],
                    "progressive_row": final["row"],
                    "one_shot_row": one[0]["row"],
                    "higher_is_better": t["higher_is_better"],
                    **stats.welch(a, b),
                    "paired": _paired(final, one[0], done or {}, t["key"]),
                }
            )
    return out


def _cell_record(r: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "cell",
        "row",
        "variant",
        "stage",
        "seed",
        "swept",
        "status",
        "metrics",
        "cost",
        "curves",
        "run_dir",
        "intervals",
        "records",
    )
    out = {k: r.get(k) for k in keep}
    out["per_record_n"] = {k: len(v) for k, v in (r.get("per_record") or {}).items() if isinstance(v, list)}
    return out


def json_safe(obj: Any) -> Any:
    """NaN and inf become None so that the JSON is standard (``allow_nan=False``)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj

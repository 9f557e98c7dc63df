"""Recompute a finished evaluation's metrics from its predictions files, without a model.

Every metric evaluate.py reports is a function of the per-record rows it writes to
``predictions/<task>.jsonl`` (see :mod:`honeybee.evaluation.base`). This reads those rows back and runs the
task's own ``metrics`` on them, so a reader can check any reported number, and an evaluation made before a
metric existed (Cohen's ``kappa``, say) gets it without loading the model again. Nothing is written.

    python -m honeybee.evaluation.rescore outputs/<...>/eval/<run> [more eval dirs] [--metrics kappa,accuracy]

Each line printed is ``<eval dir>\t<task>/<metric>\t<value>`` (metrics a task could not compute, such as a
MatSci-NLP sub-task with no records, are left out).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from honeybee.evaluation.base import EvalTask
from honeybee.utils.errors import DataError


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The prediction rows of one ``<task>.jsonl`` file.

    Raises:
        DataError: a line is not a JSON object (named by file and line number), or the file has no rows.
    """
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {n}: not JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {n}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no prediction rows")
    return rows


def rescore(eval_dir: Path) -> dict[str, float | None]:
    """``<task>/<metric>`` -> value, recomputed from every ``predictions/<task>.jsonl`` of ``eval_dir``.

    Raises:
        DataError: the folder has no predictions, a task's name is not a honeybee task, or a file's rows lack
            what its task's metrics read (named by file).
    """
    pred_dir = eval_dir / "predictions"
    files = sorted(pred_dir.glob("*.jsonl")) if pred_dir.is_dir() else []
    if not files:
        raise DataError(
            f"{eval_dir}: no predictions/<task>.jsonl files (is it an evaluate.py output folder?)"
        )
    settings: dict[str, Any] = {}
    results = eval_dir / "results.json"
    if results.is_file():  # the tasks' settings as evaluated; metrics read only their rows today
        try:
            settings = json.loads(results.read_text(encoding="utf-8")).get("settings", {}).get("tasks", {})
        except (json.JSONDecodeError, AttributeError):
            raise DataError(f"{results}: not the JSON object evaluate.py writes") from None
    out: dict[str, float | None] = {}
    for f in files:
        if f.stem not in EvalTask.registry:
            known = ", ".join(sorted(EvalTask.registry))
            raise DataError(f"{f}: {f.stem!r} is not a honeybee task (choose from: {known})")
        task = EvalTask.create(f.stem, OmegaConf.create(settings.get(f.stem) or {}))
        try:
            metrics = task.metrics(read_rows(f))
        except (KeyError, TypeError) as e:
            raise DataError(
                f"{f}: rows lack what {f.stem}'s metrics read ({type(e).__name__}: {e})"
            ) from None
        out.update({f"{f.stem}/{k}": v for k, v in metrics.items()})
    return out


def main(argv: list[str] | None = None) -> int:
    import honeybee.evaluation.tasks  # noqa: F401  (registers every task)

    p = argparse.ArgumentParser(
        prog="python -m honeybee.evaluation.rescore", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "eval_dirs", nargs="+", type=Path, help="evaluate.py output folders (holding predictions/)"
    )
    p.add_argument("--metrics", default="", help="comma-separated metric names to print (default: all)")
    args = p.parse_args(argv)
    wanted = {m for m in args.metrics.split(",") if m}
    try:
        results = [(d, rescore(d)) for d in args.eval_dirs]  # every folder read before anything is printed
    except DataError as e:
        print(f"honeybee: error: {e}", file=sys.stderr)
        return 2
    for d, metrics in results:
        for key, value in metrics.items():
            if value is not None and (not wanted or key.split("/", 1)[1].rsplit(".", 1)[-1] in wanted):
                print(f"{d}\t{key}\t{value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

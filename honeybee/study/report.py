"""The study report: report.md, report.json, report.html and plots/ in the study folder; and its W&B table.

``python -m honeybee.study.report <study_dir> [--wandb]`` re-renders it from ``study.json`` and
``cells/*/result.json`` (e.g. while a study is still running: missing cells are counted and shown as an en dash).
A missing or malformed ``study.json`` or ``result.json`` stops it with one line naming the file (exit 2) before
anything is written. Every file is written atomically and report.md last, so a report.md always belongs to a
complete report.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from honeybee.study import plots, render
from honeybee.study.summary import json_safe, load_results, load_study, summarize
from honeybee.utils.errors import HoneybeeError
from honeybee.utils.io import atomic_dir, atomic_write_text

log = logging.getLogger(__name__)


def build_summary(study_dir: Path) -> dict[str, Any]:
    """Read and check the study folder, and reduce it to the summary dict (nothing is written)."""
    study = load_study(Path(study_dir))
    return summarize(study, load_results(Path(study_dir), study["cells"]))


def write_report(study_dir: Path) -> dict[str, Any]:
    """Write ``plots/``, ``report.json``, ``report.html`` and ``report.md`` into ``study_dir``.

    Returns:
        The summary (JSON-safe: NaN as None), as written to report.json.

    Raises:
        DataError: study.json or a result.json is missing or malformed (named in the message).
    """
    study_dir = Path(study_dir)
    s = build_summary(study_dir)
    with atomic_dir(study_dir / "plots") as tmp:
        names = plots.write_plots(s, tmp)
    s = json_safe(s)
    atomic_write_text(study_dir / "report.json", json.dumps(s, indent=2, allow_nan=False) + "\n")
    atomic_write_text(study_dir / "report.html", render.html_page(s, names))
    atomic_write_text(study_dir / "report.md", render.markdown(s, names))
    return s


def study_group(s: dict[str, Any]) -> str:
    """The W&B group of a study's runs, as the runner names it: ``<name><tag>`` (the study folder's name)."""
    return f"{s['name']}{s.get('tag') or ''}"


def log_wandb_table(study_dir: Path, wandb_cfg: dict[str, Any] | None = None) -> None:
    """Log the results table (the rows and columns of report.md) to W&B in a ``job_type="report"`` run.

    Also logs ``results_long`` (one numeric row per table cell: mean, std, n, p-values) and the plots when
    ``write_report`` has written them. ``wandb_cfg`` may give ``project``, ``entity`` and ``mode``.
    """
    import wandb

    cfg = dict(wandb_cfg or {})
    study_dir = Path(study_dir)
    s = json_safe(build_summary(study_dir))
    cols, data = render.results_table(s)
    run = wandb.init(
        project=str(cfg.get("project") or "honeybee"),
        entity=cfg.get("entity"),
        mode=cfg.get("mode"),
        group=study_group(s),
        job_type="report",
        name=f"{study_group(s)}-report",
        dir=str(study_dir),
        config={"study": s["name"], "tag": s["tag"], "seeds": s["seeds"], "swept": s["swept"]},
        reinit="finish_previous",
    )
    try:
        long_rows = [
            [
                r["row"],
                t["key"],
                m["mean"],
                m["std"],
                m["n"],
                (m["seed_test"] or {}).get("p"),
                (m["paired_test"] or {}).get("p"),
                m["best"],
            ]
            for r in s["rows"]
            for t in s["tasks"]
            for m in [r["metrics"][t["key"]]]
        ]
        run.log(
            {
                "results": wandb.Table(columns=cols, data=data),
                "results_long": wandb.Table(
                    columns=["row", "task", "mean", "std", "n", "p_seed", "p_paired", "best"], data=long_rows
                ),
            }
        )
        run.summary.update(
            {
                "cells_finished": s["cells_finished"],
                "cells_total": s["cells_total"],
                "total_wall_s": s["total_wall_s"],
            }
        )
        images = {
            f"plots/{p[:-4]}": wandb.Image(str(study_dir / "plots" / p))
            for p in render.PLOTS
            if (study_dir / "plots" / p).is_file()
        }
        if images:
            run.log(images)
    finally:
        run.finish()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m honeybee.study.report", description=__doc__.splitlines()[0])
    ap.add_argument("study_dir", type=Path, help="the study folder (holds study.json and cells/)")
    ap.add_argument(
        "--wandb", action="store_true", help="also log the results table to W&B (job_type=report)"
    )
    ap.add_argument("--project", default=None, help="W&B project (default: honeybee)")
    ap.add_argument("--entity", default=None, help="W&B entity")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        s = write_report(args.study_dir)
        if args.wandb:
            log_wandb_table(args.study_dir, {"project": args.project, "entity": args.entity})
    except HoneybeeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"{args.study_dir / 'report.md'}: {s['cells_finished']} of {s['cells_total']} cells finished",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

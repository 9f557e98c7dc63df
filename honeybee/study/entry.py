"""``python study.py study=<name> [key=value ...]``: check the study, then run it (or one cell of it) under Hydra.

Bad study configs (an unknown task, a stage gap, an empty grid, a swept key or stage override that does not
compose into a train config) stop before Hydra starts, with one ``honeybee: error:`` line naming each key and
exit code 2. ``-m`` runs the study through the ``study`` sweeper (``hydra_plugins/honeybee_study``): cells go
to ``hydra/launcher`` (basic, slurm, slurm_local) in waves that respect stage order.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from honeybee.cli import check_overrides, fail, run_task
from honeybee.study.plan import Cell, estimate, validate
from honeybee.utils.overrides import quote_numeric_groups
from honeybee.utils.paths import CONF_DIR

log = logging.getLogger("honeybee")


def check_train(overrides: list[str]) -> str | None:
    """The one-line problem composing train.py's config with ``overrides`` (None when it composes)."""
    return check_overrides(quote_numeric_groups(overrides), "train")[0]


def ensure_sweeper_plugin() -> None:
    """Make the ``study`` sweeper (``hydra_plugins/honeybee_study``) findable by Hydra's plugin scan.

    A wheel installs ``hydra_plugins`` beside ``honeybee``; a checkout (or an editable install made before the
    plugin existed) has it only at the checkout's root, which is on ``sys.path`` only for ``python study.py``.
    """
    import importlib.util

    from honeybee.utils.paths import checkout_root

    try:
        found = importlib.util.find_spec("hydra_plugins.honeybee_study") is not None
    except ModuleNotFoundError:
        found = False
    root = checkout_root()
    if not found and root is not None and (root / "hydra_plugins" / "honeybee_study").is_dir():
        sys.path.append(str(root))
        import hydra_plugins

        hydra_plugins.__path__.append(str(root / "hydra_plugins"))  # a namespace package already imported


def compose_study(argv: list[str]) -> tuple[str | None, Any]:
    """``(problem, config)`` of ``conf/study.yaml`` with the command line's overrides (deletions included)."""
    ensure_sweeper_plugin()
    plain = [a for a in argv if a not in ("-m", "--multirun")]
    problem, _ = check_overrides(plain, "study")  # group options and keys, with honeybee's one-line messages
    if problem:
        return problem, None
    from hydra import compose, initialize_config_dir

    # check_overrides composes only key=value overrides; `~study.stages.2` (a deletion) must count too.
    kept = [a for a in plain if not a.startswith("-") and not a.lstrip("+~").startswith("hydra")]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return None, compose("study", overrides=kept)


def precheck(argv: list[str]) -> None:
    """Validate the study named on the command line (every problem at once); exit 2 with one line if bad."""
    if any(a.startswith("--") and a != "--multirun" for a in argv):
        return  # --help, --cfg job, ...: Hydra's own
    problem, cfg = compose_study(argv)
    if problem:
        fail(problem)
    problems = validate(cfg.study, check_train)
    if problems and os.environ.get("HYDRA_FULL_ERROR") != "1":
        fail("; ".join(problems))


def print_dry_run(study: Any, cells: list[Cell]) -> dict[str, Any]:
    """Print the planned cells and their estimated GPU hours; returns the estimate."""
    est = estimate(study, cells)
    print(f"study {study.name}{study.get('tag') or ''}: {len(cells)} cells (dry run: nothing is run)")
    print(f"{'cell':<40} {'kind':<9} {'stage':>5} {'seed':>5} {'steps':>7} {'after':<30} {'GPU h':>8}")
    for c in cells:
        e = est["cells"][c.id]
        h = e["train_gpu_h"] + e["eval_gpu_h"]
        steps = "-" if e["steps"] is None else str(e["steps"])
        seed = "-" if c.seed is None else str(c.seed)
        print(f"{c.id:<40} {c.kind:<9} {c.stage:>5} {seed:>5} {steps:>7} {c.depends_on or '-':<30} {h:>8.2f}")
    print(
        f"estimated GPU hours: train {est['train_gpu_hours']:.1f} + eval {est['eval_gpu_hours']:.1f} = "
        f"{est['total_gpu_hours']:.1f} ({est['gpus']} GPU(s) per run; {est['wall_hours']:.1f} h one run at a time)"
    )
    return est


def write_study_report(root: Path, cfg: Any = None) -> dict[str, Any]:
    """Write the study's report; with ``logger=wandb`` (or ``many``) also log its results table to W&B.

    The table run joins the training runs' group (``<study><tag>``) as ``job_type="report"``, so the W&B
    dashboard shows the same table as ``report.md``.
    """
    from honeybee.study.report import log_wandb_table, write_report

    summary = write_report(root)
    log.info("study report: %s", root / "report.md")
    wandb_cfg = ((cfg.get("logger") or {}).get("wandb") if cfg is not None else None) or None
    if wandb_cfg is not None:
        log_wandb_table(
            root,
            {
                "project": wandb_cfg.get("project"),
                "entity": wandb_cfg.get("entity"),
                # offline: true in the logger config keeps the table run offline too (WANDB_MODE also works)
                "mode": "offline" if wandb_cfg.get("offline") else None,
            },
        )
        log.info("study report: results table logged to W&B (group %s, job_type report)", root.name)
    return summary


def run_study(cfg: Any) -> float:
    """The study task: dry run, one cell (``study.cell``, a multirun job) or every unfinished cell + report."""
    from honeybee.study.plan import check
    from honeybee.study.runner import prepare, run_cells

    if cfg.study.dry_run:
        print_dry_run(cfg.study, check(cfg.study))
        return 0.0
    root, cells = prepare(cfg)
    ran = run_cells(root, cfg, cells, cfg.study.get("cell"))
    log.info("study %s: %d cell(s) run now, %d in all: %s", root.name, len(ran), len(cells), root)
    if cfg.study.get("cell") is None and cfg.study.get("report", True):
        write_study_report(root, cfg)
    return 0.0


def _study(cfg: Any) -> Any:
    return run_task(run_study, cfg)


def main() -> None:
    """``python study.py`` / ``python -m honeybee.study.entry``."""
    import hydra

    sys.argv[1:] = quote_numeric_groups(sys.argv[1:])
    precheck(sys.argv[1:])
    hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="study")(_study)()


if __name__ == "__main__":
    main()

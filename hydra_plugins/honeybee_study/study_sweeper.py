"""``hydra/sweeper=study``: a study's cells as Hydra multirun jobs, launched in dependency waves.

``python study.py -m study=<name> [hydra/launcher=slurm ...]`` plans the study (``honeybee.study.plan``), then
hands the launcher one job per unfinished cell (``study.cell=<id>``), wave by wave: the base model, every stage 1
and the one-shot controls first, then every stage 2 (each continues its own stage 1), and so on. Any launcher
works unchanged: Hydra's basic one (in this process, one job after another), submitit's local or SLURM ones.
After the last wave the sweeper writes the study's report. Finished cells are skipped, so rerunning the same
command resumes a study; a failed cell's later stages fail with a line naming the missing stage.
"""

# No `from __future__ import annotations`: Hydra scans plugins outside sys.modules, where dataclasses need real types.

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


@dataclass
class StudySweeperConf:
    _target_: str = "hydra_plugins.honeybee_study.study_sweeper.StudySweeper"
    report: bool = True  # write the study's report after the last wave


ConfigStore.instance().store(group="hydra/sweeper", name="study", node=StudySweeperConf, provider="honeybee")


class StudySweeper(Sweeper):
    """Launch a study's cells through the configured launcher, in waves that respect stage order."""

    def __init__(self, report: bool = True) -> None:
        self.report = report
        self.config: DictConfig | None = None
        self.launcher: Any = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from honeybee.study.entry import write_study_report
        from honeybee.study.plan import check, waves
        from honeybee.study.runner import is_done, prepare

        assert self.config is not None and self.launcher is not None
        cfg = self.config
        sweep_dir = Path(str(cfg.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, sweep_dir / "multirun.yaml")
        if cfg.study.get("dry_run"):
            from honeybee.study.entry import print_dry_run

            print_dry_run(cfg.study, check(cfg.study))
            return []
        root, cells = prepare(cfg)
        fixed = [a for a in arguments if not a.startswith("study.cell=")]
        returns, idx = [], 0
        for n, wave in enumerate(waves(cells), start=1):
            todo = [c for c in wave if not is_done(root, c.id)]
            log.info("study %s: wave %d: %d cell(s) to run, %d finished earlier", root.name, n, len(todo),
                     len(wave) - len(todo))  # fmt: skip
            if not todo:
                continue
            jobs = [[*fixed, f"study.cell={c.id}", "study.report=false"] for c in todo]
            returns.append(self.launcher.launch(jobs, initial_job_idx=idx))
            idx += len(jobs)
        missing = [c.id for c in cells if not is_done(root, c.id)]
        if missing:
            log.error("study %s: %d cell(s) did not finish: %s", root.name, len(missing), ", ".join(missing))
        elif self.report and cfg.study.get("report", True):
            write_study_report(root, cfg)
        return returns

"""A refused run leaves the output tree as it found it.

Hydra makes a run's folder (and any missing parents, e.g. ``outputs/<experiment>/<model>/``) and writes
``.hydra/`` and the job log into it before the task runs, so a task that refuses its input has already left
a trace. :class:`RunDirGuard` is a Hydra callback (``hydra.callbacks`` in ``conf/hydra/default.yaml``) that
notes, just before Hydra touches the disk, what existed; :func:`discard_refused_run` (called by the entry
points when a task raises a ``HoneybeeError``) puts it back: a folder the run created is removed with the
parents it created, and an existing folder (a resume, a re-run) loses only what the run added, with
``.hydra/`` and the job log restored byte for byte. Tasks refuse bad input before they write anything, so a
refused run has added nothing but Hydra's own files; a folder holding anything else the run wrote (an error
late in a run) is left alone.

Only a single run is guarded: a multirun job that fails is a result of its sweep, and keeps its folder.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

log = logging.getLogger(__name__)


@dataclass
class Before:
    """What the run folder looked like before Hydra ran the job.

    Attributes:
        run_dir: The run folder (absolute).
        kept: The deepest folder on the way to ``run_dir`` that existed already (``run_dir`` itself if so).
        entries: Names in ``run_dir`` before (None: it did not exist).
        saved: ``relative path -> bytes`` of the small files Hydra rewrites (``.hydra/*``), as they were.
        log_sizes: ``job log -> size`` of the logs Hydra appends to.
    """

    run_dir: Path
    kept: Path
    entries: set[str] | None = None
    saved: dict[str, bytes] = field(default_factory=dict)
    log_sizes: dict[str, int] = field(default_factory=dict)
    hydra_own: set[str] = field(default_factory=set)


_before: Before | None = None


def snapshot(
    run_dir: str | os.PathLike, subdir: str | None = ".hydra", log_name: str | None = None
) -> Before:
    """Record (and remember, for :func:`discard_refused_run`) what ``run_dir`` holds now."""
    global _before
    run_dir = Path(run_dir).absolute()
    kept = run_dir
    while not kept.exists() and kept != kept.parent:
        kept = kept.parent
    before = Before(run_dir, kept, hydra_own={n for n in (subdir, log_name) if n})
    if run_dir.is_dir():
        before.entries = {p.name for p in run_dir.iterdir()}
        if subdir and (run_dir / subdir).is_dir():
            for f in (run_dir / subdir).iterdir():
                if f.is_file():
                    before.saved[f"{subdir}/{f.name}"] = f.read_bytes()
        if log_name and (run_dir / log_name).is_file():
            before.log_sizes[log_name] = (run_dir / log_name).stat().st_size
    _before = before
    return before


def discard_refused_run() -> bool:
    """Undo the refused run's traces (see the module docstring); False when nothing was recorded."""
    global _before
    before, _before = _before, None
    if before is None:
        return False
    run_dir = before.run_dir
    added = {p.name for p in run_dir.iterdir()} - (before.entries or set()) if run_dir.is_dir() else set()
    if not added <= before.hydra_own:
        # The task wrote artifacts of its own before failing: not a refusal, and not ours to delete.
        return True
    _close_logs_in(run_dir)  # the job log must be closed before its folder goes (or it is truncated)
    if before.entries is None:
        shutil.rmtree(run_dir, ignore_errors=True)
        for parent in run_dir.parents:  # the parents Hydra made for it, while they are empty
            if parent == before.kept or not parent.is_dir() or any(parent.iterdir()):
                break
            parent.rmdir()
        return True
    if not run_dir.is_dir():
        return True
    for name in added:
        p = run_dir / name
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    subdirs = {rel.split("/")[0] for rel in before.saved}
    for sub in subdirs:
        for f in (run_dir / sub).iterdir():
            if f"{sub}/{f.name}" not in before.saved and f.is_file():
                f.unlink()
    for rel, data in before.saved.items():
        (run_dir / rel).write_bytes(data)
    for name, size in before.log_sizes.items():
        with open(run_dir / name, "r+b") as log_file:
            log_file.truncate(size)
    return True


def _close_logs_in(folder: Path) -> None:
    """Close and detach every logging file handler writing inside ``folder`` (Hydra's job log)."""
    loggers = [logging.getLogger()]
    loggers += [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for h in list(lg.handlers):
            if isinstance(h, logging.FileHandler) and Path(h.baseFilename).is_relative_to(folder):
                lg.removeHandler(h)
                h.close()


class RunDirGuard(Callback):
    """Hydra callback: snapshot the run folder before a single run's job starts (see the module docstring)."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        from hydra.core.hydra_config import HydraConfig
        from omegaconf import OmegaConf

        # ``hydra.run.dir`` interpolates ${hydra:runtime.cwd}, read through HydraConfig; run_job sets the same
        # config right after this, and ${now:...} is cached on the config object, so this is the folder it makes.
        HydraConfig.instance().set_config(config)
        run_dir = OmegaConf.select(config, "hydra.run.dir")
        if run_dir is None:
            return
        log_name = f"{OmegaConf.select(config, 'hydra.job.name')}.log"
        snapshot(str(run_dir), OmegaConf.select(config, "hydra.output_subdir"), log_name)

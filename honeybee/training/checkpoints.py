"""Checkpoints: written atomically, checked before a resume, and the resume point a run continues from.

A checkpoint is written to a temporary file beside its target, flushed to disk and renamed over it
(:class:`AtomicCheckpointIO`), so a process killed mid-save leaves the previous checkpoint whole. A checkpoint
that is damaged anyway (a copy cut short, a full disk, bit rot) is found before training starts
(:func:`checkpoint_problem`) and refused in one line that names it and offers the intact checkpoints the run
still has (:func:`resolve_ckpt_path`).
"""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig, OmegaConf

from honeybee.utils.errors import ConfigError

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` that writes ``<dir>/.<name>.<random>.tmp``, fsyncs it and renames it over
    ``<name>``: a reader (or a resume) only ever sees a complete checkpoint.

    Lightning's own save goes through an fsspec transaction, which also renames, but does not fsync and
    leaves uuid-named partial files behind when killed; a killed save here leaves a ``.tmp`` that the next
    save of the same checkpoint removes.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        import torch

        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by a save that was killed
            stale.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600 files; a checkpoint gets a plain file's mode
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def checkpoint_problem(path: Path) -> str | None:
    """What is wrong with checkpoint ``path`` (a file, or a DeepSpeed folder of ``*.pt`` shards), or None.

    Every member's CRC is verified (``torch.save`` writes a zip archive), which finds a truncated or
    corrupted file without unpickling it.
    """
    if path.is_dir():
        shards = sorted(path.rglob("*.pt"))
        if not shards:
            return "a checkpoint folder with no *.pt shards"
        return next((f"{s.relative_to(path)}: {p}" for s in shards if (p := checkpoint_problem(s))), None)
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except zipfile.BadZipFile:
        size = path.stat().st_size
        return f"truncated or not a checkpoint ({size:,} bytes, no complete archive)"
    except OSError as e:
        return f"unreadable ({e.strerror})"
    return None if bad is None else f"corrupt (member {bad} fails its checksum)"


def _step_of(path: Path) -> int | None:
    if path.is_dir():
        return None
    import torch

    try:
        return int(torch.load(path, map_location="cpu", weights_only=False, mmap=True).get("global_step"))
    except Exception:  # an unreadable checkpoint has no step to show; it is listed without one
        return None


def intact_checkpoints(run_dir: Path, exclude: Path | None = None) -> list[tuple[Path, int | None]]:
    """The run's intact checkpoints (``checkpoints/*.ckpt``, SLURM's ``hpc_ckpt_*.ckpt``), newest step first."""
    found = sorted(
        {*run_dir.glob("checkpoints/*.ckpt"), *run_dir.glob("hpc_ckpt_*.ckpt")}
        - ({exclude} if exclude is not None else set())
    )
    ok = [(p, _step_of(p)) for p in found if checkpoint_problem(p) is None]
    return sorted(ok, key=lambda t: -1 if t[1] is None else t[1], reverse=True)


def check_resume_point(ckpt: Path, run_dir: Path) -> None:
    """Refuse a damaged checkpoint in one line that names it and says what to do instead.

    Raises:
        ConfigError: ``ckpt`` is truncated or corrupt.
    """
    problem = checkpoint_problem(ckpt)
    if problem is None:
        return
    others = intact_checkpoints(run_dir, exclude=ckpt)
    if others:
        path, step = others[0]
        offer = (
            f"the run still has an intact {path.name}{f' (step {step})' if step is not None else ''}: "
            f"resume from it with ckpt_path={path}, or start over without ckpt_path"
        )
    else:
        offer = "no intact checkpoint is left in the run: start over without ckpt_path"
    raise ConfigError(f"checkpoint {ckpt} is damaged: {problem}; {offer}")


def slurm_resume_point(run_dir: Path) -> Path | None:
    """Under SLURM, where a requeued job continues: the newest of the ``hpc_ckpt_<n>.ckpt`` that Lightning's
    SLURM environment writes on the requeue signal and, in a job SLURM itself requeued (after preemption:
    ``SLURM_RESTART_COUNT`` > 0), ``checkpoints/last.ckpt``. None outside SLURM or for a finished run."""
    import os

    from lightning.fabric.plugins.environments import SLURMEnvironment

    if not SLURMEnvironment.detect() or (run_dir / "manifest.json").is_file():
        return None  # not under SLURM, or the run finished (its resume points are stale)
    found = [p for p in run_dir.glob("hpc_ckpt_*.ckpt") if p.stem[9:].isdigit()]
    if (
        int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0
        and (run_dir / "checkpoints" / "last.ckpt").exists()
    ):
        found.append(run_dir / "checkpoints" / "last.ckpt")
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """The checkpoint this run resumes from (None: a fresh start), checked to be whole.

    ``ckpt_path=last`` is ``<run>/checkpoints/last.ckpt``; a path is taken as given. A requeued SLURM job
    (no ``ckpt_path``) continues from the checkpoint it saved before it was requeued
    (:func:`slurm_resume_point`).

    Raises:
        ConfigError: the checkpoint is missing, truncated or corrupt.
    """
    run_dir = Path(cfg.paths.output_dir)
    ck = cfg.get("ckpt_path")
    if ck is None:
        hpc = slurm_resume_point(run_dir)
        if hpc is None:
            return None
        log.info("requeued SLURM job: resuming from %s", hpc)
        check_resume_point(hpc, run_dir)
        return str(hpc)
    if ck == "last":
        last = run_dir / "checkpoints" / "last.ckpt"
        if not last.exists():  # a file, or a folder under DeepSpeed
            raise ConfigError(
                f"ckpt_path=last: no {last}; rerun with the same experiment_name/model/stage (or "
                "hydra.run.dir=<the earlier run folder>), or give ckpt_path=<file.ckpt>"
            )
        check_resume_point(last, run_dir)
        return str(last)
    given = Path(str(ck)).expanduser()
    if given.exists():
        # A checkpoint of another run is checked against its own folder's other checkpoints.
        check_resume_point(given, given.parent.parent if given.parent.name == "checkpoints" else given.parent)
    return str(ck)


def resumed_precision(cfg: DictConfig, ckpt_path: str | None) -> tuple[str, dict[str, Any]] | None:
    """The precision the run being resumed trained in, when ``trainer.precision=auto``.

    ``auto`` is decided by a short timing probe, which can tip the other way on a busy machine; a resumed run
    that switched between bf16 and fp32 halfway would no longer match the uninterrupted run, so it keeps the
    precision recorded in the original run's ``config.yaml`` (beside ``checkpoints/``).
    """
    if ckpt_path is None or str(cfg.trainer.precision) != "auto":
        return None
    ckpt = Path(ckpt_path).resolve()
    saved = (ckpt.parent if ckpt.name.startswith("hpc_ckpt_") else ckpt.parent.parent) / "config.yaml"
    if not saved.is_file():
        return None
    precision = OmegaConf.select(OmegaConf.load(saved), "trainer.precision")
    if precision is None or str(precision) == "auto":
        return None
    log.info("trainer.precision=auto -> %s, as in the run being resumed (%s)", precision, saved)
    return str(precision), {"requested": "auto", "reason": f"kept from the resumed run ({saved})"}


def check_not_finished(cfg: DictConfig, ckpt_path: str | None) -> None:
    """Refuse to silently overwrite a finished stage folder."""
    out = Path(cfg.paths.output_dir)
    if (out / "manifest.json").is_file() and ckpt_path is None and not cfg.get("overwrite", False):
        raise ConfigError(
            f"{out} already holds a finished run; use another experiment_name, resume with ckpt_path=last, "
            "or pass overwrite=true"
        )


def restore_best(module: Any, trainer: Any) -> str | None:
    """Load the best checkpoint's trainable weights into ``module`` (the export should be the best model)."""
    import torch

    best = best_checkpoint(trainer)
    if not best or not Path(best).is_file():
        return None
    state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
    missing = module.load_state_dict(state, strict=False)
    if missing.unexpected_keys:
        raise ConfigError(f"best checkpoint {best} does not match the model ({missing.unexpected_keys[:2]})")
    return best


def best_checkpoint(trainer: Any) -> str | None:
    """The best checkpoint of the callbacks that monitor a score ("" / None when there is none yet)."""
    return next(
        (
            cb.best_model_path
            for cb in trainer.checkpoint_callbacks
            if getattr(cb, "monitor", None) and cb.best_model_path
        ),
        None,
    )


def best_trainable_state(module: Any, trainer: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The weights to export: ``(consolidated trainable tensors on global rank 0 (None elsewhere), best ckpt)``.

    A DeepSpeed checkpoint is a folder of shards; rank 0 consolidates it from the files. Otherwise the best
    checkpoint (if any) is loaded into ``module`` on every rank and the live weights are gathered, which under
    ZeRO-3 is a collective every rank must join (so this runs on all ranks).
    """
    from honeybee.training.strategies import gathered_trainable_state, read_zero_checkpoint

    best = best_checkpoint(trainer)
    if best and Path(best).is_dir():
        state = read_zero_checkpoint(best) if trainer.is_global_zero else None
        trainer.strategy.barrier()
        return state, best
    return gathered_trainable_state(module, trainer), restore_best(module, trainer)

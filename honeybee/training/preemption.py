"""The step-boundary half of a graceful stop (see ``honeybee.training.signals`` for the whole story): a
Lightning callback that, once a stop signal has been caught, saves the resume point at the end of the
optimizer step and ends the process."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L

from honeybee.training.signals import REQUEUE, RunInterrupted, StopSignals, _name


class GracefulStop(L.Callback):
    """Acts on :class:`StopSignals` at optimizer-step boundaries (see the module docstring)."""

    def __init__(self, signals: StopSignals) -> None:
        self.signals = signals

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.signals.install()
        self.signals.phase = "training"

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.signals.phase = "after"

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        progress = trainer.fit_loop.epoch_loop.batch_progress
        if progress.current.ready % trainer.accumulate_grad_batches and not progress.is_last_batch:
            return  # mid-accumulation: the optimizer has not stepped, so this is no step boundary
        stop = self.signals.received is not None
        if trainer.world_size > 1:  # every rank stops at the same step (any rank may have been signalled)
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            self.stop(trainer, self.signals.received or signal.SIGTERM)

    def stop(self, trainer: L.Trainer, signum: int) -> None:
        """Save the resume point, requeue when asked to under SLURM, and end the process."""
        from lightning.fabric.plugins.environments import SLURMEnvironment

        # What Lightning's own signal connector reads (a single-device strategy has no cluster environment).
        env = getattr(trainer._accelerator_connector, "cluster_environment", None)
        step = trainer.global_step
        if signum == REQUEUE and isinstance(env, SLURMEnvironment) and env.auto_requeue:
            # Lightning's SLURM handler: saves hpc_ckpt_<n>.ckpt (resumed automatically) and requeues the job.
            trainer._signal_connector._slurm_sigusr_handler_fn(signum, None)
            saved = max(
                Path(trainer.default_root_dir).glob("hpc_ckpt_*.ckpt"), key=lambda p: p.stat().st_mtime
            )
            where = f"checkpoint {saved}; job {env.job_id()} requeued, and resumes from it"
        else:
            path = last_checkpoint_path(trainer)
            trainer.save_checkpoint(path)
            where = f"checkpoint {path}; resume with ckpt_path=last"
        from honeybee.training.callbacks import log_last_step

        log_last_step(trainer)  # metrics.csv gets the steps since the last logged one
        waited = time.monotonic() - (self.signals.at or time.monotonic())
        message = f"{_name(signum)}: stopped after step {step} ({waited:.1f} s after the signal); {where}"
        if trainer.is_global_zero:
            print(f"honeybee: {message}", file=sys.stderr, flush=True)
        stopped = RunInterrupted(signum, message)
        stopped.printed = True
        raise stopped


def last_checkpoint_path(trainer: L.Trainer) -> Path:
    """``last.ckpt`` of the callback that keeps it (``callbacks.last_checkpoint``), else in ``checkpoints/``."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    for cb in trainer.checkpoint_callbacks:
        if isinstance(cb, ModelCheckpoint) and cb.save_last and cb.dirpath:
            return Path(cb.dirpath) / f"{cb.CHECKPOINT_NAME_LAST}{cb.FILE_EXTENSION}"
    return Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"

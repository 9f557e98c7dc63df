"""Callbacks: throughput and learning rate in the progress bar, the last step's metrics, fault injection."""

from __future__ import annotations

import time
from typing import Any

import lightning as L


class TrainingStats(L.Callback):
    """Logs ``tok/s`` (real, non-pad tokens per second over the last logging window) and ``lr``.

    Counting attention-mask tokens rather than padded positions keeps the figure comparable across batching
    strategies (padding, length grouping, packing).
    """

    def __init__(self, warmup_batches: int = 2) -> None:
        self._tokens = 0
        self._t0: float | None = None
        self.total_tokens = 0
        # Run totals after the first ``warmup_batches`` (allocator, autotuning and lazy init skew the first ones).
        self.warmup_batches = int(warmup_batches)
        self._seen = 0
        self._steady_tokens = 0
        self._steady_t0: float | None = None
        self._steady_t1: float | None = None

    def summary(self, world_size: int = 1) -> dict[str, Any]:
        """Steady-state throughput of this run (all ranks: this rank's figure x ``world_size``) and peak memory."""
        import torch

        dt = (self._steady_t1 or 0.0) - (self._steady_t0 or 0.0)
        per_rank = self._steady_tokens / dt if dt > 0 else None
        out: dict[str, Any] = {
            "tokens": self.total_tokens * world_size,
            "steady_seconds": round(dt, 3),
            "tokens_per_s": per_rank * world_size if per_rank else None,
            "world_size": world_size,
        }
        if torch.cuda.is_available():
            out["peak_gpu_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
        return out

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._t0 is None:
            self._t0 = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        mask = batch.get("attention_mask")
        n = int(mask.sum()) if mask is not None else int(batch["input_ids"].numel())
        self._tokens += n
        self.total_tokens += n
        self._seen += 1
        now = time.perf_counter()
        if self._seen == self.warmup_batches:
            self._steady_t0 = now
        elif self._seen > self.warmup_batches:
            self._steady_tokens += n
            self._steady_t1 = now
        dt = time.perf_counter() - (self._t0 or time.perf_counter())
        if dt > 0:
            pl_module.log(
                "tok/s", self._tokens / dt, prog_bar=True, on_step=True, on_epoch=False, batch_size=1
            )
        if trainer.optimizers:
            pl_module.log(
                "lr",
                trainer.optimizers[0].param_groups[0]["lr"],
                prog_bar=True,
                on_step=True,
                on_epoch=False,
                batch_size=1,
            )
        # A sliding window: reset every ~20 batches so the figure tracks the current speed.
        if batch_idx % 20 == 19:
            self._tokens, self._t0 = 0, time.perf_counter()


def log_last_step(trainer: L.Trainer) -> None:
    """Send the last optimizer step's train metrics to the loggers if ``log_every_n_steps`` skipped it.

    Lightning logs every n-th step only, so a run shorter than ``trainer.log_every_n_steps`` (or one stopped
    by a signal) would otherwise end with no train row in ``metrics.csv`` at all.
    """
    step = trainer.global_step
    if step == 0 or not trainer.loggers or step % max(int(trainer.log_every_n_steps), 1) == 0:
        return
    metrics = {
        k: float(v)
        for k, v in trainer.callback_metrics.items()
        if not k.startswith(("val/", "test/")) and getattr(v, "numel", lambda: 1)() == 1
    }
    if not metrics:
        return
    for logger in trainer.loggers:
        logger.log_metrics(metrics, step=step - 1)  # Lightning's step index of the n-th step is n - 1


class LastStepMetrics(L.Callback):
    """Calls :func:`log_last_step` when training ends."""

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        log_last_step(trainer)


class KillAfterSteps(L.Callback):
    """Fault injection for resume tests: signal this process (SIGKILL by default) once, after ``step``
    optimizer steps.

    SIGKILL gives the process no chance to clean up, exactly like an OOM kill, so a resume test that survives
    it proves the checkpoints alone carry the state; SIGINT/SIGTERM/SIGUSR1 test the graceful stop
    (``honeybee.training.preemption``). ``sleep_s`` slows every step down, so that a signal sent from outside
    lands mid-run.
    """

    def __init__(self, step: int, signal: str = "SIGKILL", sleep_s: float = 0.0) -> None:
        self.step = int(step)
        self.signal = signal
        self.sleep_s = float(sleep_s)
        self.sent = False

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.sleep_s:
            time.sleep(self.sleep_s)
        if trainer.global_step >= self.step and not self.sent:
            import os
            import signal as sig

            self.sent = True
            os.kill(os.getpid(), getattr(sig, self.signal))


class ValTaskScore(L.Callback):
    """Logs ``val/task_score``: the fraction of validation records answered correctly by greedy generation.

    Used as the stage score ``S_val`` when ``score.metric=val/task_score`` (see
    :func:`honeybee.evaluation.heldout.record_correct` for what counts as correct). Costs one generation pass
    over ``max_records`` validation records per validation run.
    """

    def __init__(self, max_records: int = 64, max_new_tokens: int = 16) -> None:
        self.max_records = max_records
        self.max_new_tokens = max_new_tokens

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        from honeybee.evaluation.heldout import task_score
        from honeybee.training.strategies import zero3_generation

        dm = trainer.datamodule
        # Every rank generates (the same records): under ZeRO-3 each forward gathers shards from all ranks.
        with zero3_generation(trainer):
            score = task_score(
                pl_module.model,
                dm.tokenizer,
                dm.style,
                dm.splits["val"],
                self.max_records,
                self.max_new_tokens,
            )
        pl_module.log("val/task_score", score, prog_bar=True, sync_dist=True)

"""Signals that stop a training run: it saves a resumable checkpoint at the next step boundary and exits.

What stops a run, and how it ends:

============  =========================================================  =========
signal        from                                                       exit code
============  =========================================================  =========
SIGINT        Ctrl-C                                                     130
SIGTERM       ``kill``, a scheduler's preemption or time limit           143
SIGUSR1       SLURM before a time limit / preemption (``--signal=USR1``)  0
============  =========================================================  =========

While the optimizer is stepping, a signal only sets a flag (:class:`StopSignals`); at the next optimizer-step
boundary :class:`GracefulStop` writes the checkpoint and raises :class:`RunInterrupted`, so the checkpoint holds
a whole step (weights, optimizer, scheduler, loop and data-order state) and resuming it gives the same weights
as a run that was never stopped. SIGINT/SIGTERM save ``checkpoints/last.ckpt`` (resume: ``ckpt_path=last``).
SIGUSR1 under SLURM hands over to Lightning's SLURM environment, which saves ``hpc_ckpt_<n>.ckpt`` in the run
folder and requeues the job (``scontrol requeue``); the requeued job resumes from that file by itself. Outside
SLURM, SIGUSR1 saves ``last.ckpt`` like the others and exits 0.

A second SIGINT/SIGTERM while the step finishes, or one that arrives before training starts or after it ended
(model loading, export), stops the run at once with the same code; nothing half-written is left, as every
artifact is written atomically.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

REQUEUE = signal.SIGUSR1
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, REQUEUE: 0}


class RunInterrupted(SystemExit):
    """Ends the process with the signal's exit code (a SystemExit: Hydra and Lightning let it through)."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(EXIT_CODES.get(signal.Signals(signum), 1))
        self.signum = signum
        self.message = message
        self.printed = False


def _name(signum: int) -> str:
    return signal.Signals(signum).name


class StopSignals:
    """Catches SIGINT, SIGTERM and SIGUSR1 for the length of a run (a context manager, main thread only).

    ``phase`` says what a signal does: ``before`` training (SIGINT/SIGTERM stop at once, SIGUSR1 waits for the
    first step), ``training`` (every signal waits for the step boundary; a repeated SIGINT/SIGTERM stops at
    once) and ``after`` (SIGINT/SIGTERM stop at once; SIGUSR1 is logged and the run finishes).
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.at: float | None = None
        self.phase = "before"
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._saved = {s: signal.getsignal(s) for s in EXIT_CODES}
            self.install()
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, handler in self._saved.items():
            signal.signal(s, handler)
        self._saved = {}

    def install(self) -> None:
        """(Re-)register the handler: Lightning registers its own SIGTERM handler when ``fit`` starts."""
        if self._saved and threading.current_thread() is threading.main_thread():
            for s in EXIT_CODES:
                signal.signal(s, self.handle)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        requeue = signum == REQUEUE
        if self.phase == "after" and requeue:
            log.info("%s: the run is finishing, so it is not requeued", _name(signum))
            return
        if self.phase == "after" or (self.phase == "before" and not requeue) or self.received is not None:
            if not requeue:
                raise RunInterrupted(signum, f"{_name(signum)}: stopped before a checkpoint could be saved")
            return
        self.received, self.at = signum, time.monotonic()
        # Logged, not printed: this runs inside the signal handler, between two bytecodes of the training step.
        log.warning("%s: saving a checkpoint at the end of this step, then stopping", _name(signum))


def finish_pending(signals: StopSignals) -> None:
    """After ``fit``: a SIGINT/SIGTERM that arrived during the last validation stops the run now (the final
    ``last.ckpt`` is saved; ``ckpt_path=last`` finishes the export). A pending SIGUSR1 lets the run finish."""
    if signals.received is not None and signals.received != REQUEUE:
        raise RunInterrupted(signals.received, f"{_name(signals.received)}: stopped after training")

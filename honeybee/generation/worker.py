"""The model's worker: it batches queued jobs and resolves their futures (the server's half that owns the model).

Request handlers put jobs on a queue and await them; the worker takes the oldest job, waits until no new job
has arrived for ``batch_wait_ms`` (or the batch is full), and answers every waiting job with the same sampling
settings in one batch. Jobs with other settings wait for the next round, in arrival order, so no client starves.
``shutdown`` cancels the batch in generation at its next decoding step and fails every job left with
:class:`ShuttingDown`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Literal

from honeybee.generation.engine import GenerationCancelled, Request, Sampling
from honeybee.generation.generator import Generator

log = logging.getLogger(__name__)


class ShuttingDown(Exception):
    """A job the worker will not answer because the server is stopping (a 503 for its client)."""


@dataclass
class Job:
    requests: list[Request]
    sampling: Sampling
    future: Future = field(default_factory=Future)


class BatchWorker:
    """Owns the model: batches queued jobs and resolves their futures, on its own thread (``start``) or on
    the caller's (``run``)."""

    def __init__(self, generator: Generator, max_batch_size: int = 16, batch_wait_ms: float = 50.0) -> None:
        self.generator = generator
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_ms / 1000
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self.waiting: deque[Job] = deque()
        # Set by ``shutdown``: generation in progress stops at its next decoding step; no new job runs.
        self.cancel = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="honeybee-generator", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def run(self) -> None:
        """Work on the calling thread until ``close``."""
        self._loop()

    def shutdown(self) -> None:
        """Cancel the batch in generation and every job not yet answered (each fails with ``ShuttingDown``).

        Only sets a flag, so it is safe in a signal handler; the worker acts on it at the next decoding step.
        """
        self.cancel.set()

    def close(self) -> None:
        """Stop after the batch in progress (jobs still waiting fail); joins the worker's own thread."""
        self.queue.put(None)
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout=30)

    def submit(self, requests: list[Request], sampling: Sampling) -> Future:
        job = Job(requests, sampling)
        if self.cancel.is_set():
            job.future.set_exception(ShuttingDown())
        else:
            self.queue.put(job)
        return job.future

    def _take(self, timeout: float) -> Job | Literal[False] | None:
        """The next job (waiting ones first); False when none arrived in time, None on shutdown."""
        if self.waiting:
            return self.waiting.popleft()
        try:
            return self.queue.get(timeout=timeout) if timeout > 0 else self.queue.get_nowait()
        except queue.Empty:
            return False

    def _collect(self, first: Job) -> tuple[list[Job], bool]:
        """``first`` plus jobs with the same sampling that arrive within the wait, up to the batch size."""
        batch, size, stop = [first], len(first.requests), False
        deadline = time.monotonic() + self.batch_wait_s
        others: list[Job] = []
        while size < self.max_batch_size and len(others) <= 4 * self.max_batch_size:
            job = self._take(deadline - time.monotonic())
            if job is False:
                break
            if job is None:
                stop = True
                break
            if job.sampling == first.sampling and size + len(job.requests) <= self.max_batch_size:
                batch.append(job)
                size += len(job.requests)
                # Clients of one burst arrive over several milliseconds: keep waiting while they still come.
                deadline = time.monotonic() + self.batch_wait_s
            else:
                others.append(job)
        self.waiting.extendleft(reversed(others))
        return batch, stop

    def _loop(self) -> None:
        while True:
            first = self.waiting.popleft() if self.waiting else self.queue.get()
            if first is None:
                break
            if self.cancel.is_set():
                first.future.set_exception(ShuttingDown())
                continue
            batch, stop = self._collect(first)
            self._run(batch)
            if stop:
                break
        while True:  # whatever is left is answered too: no client waits for a worker that has gone
            try:
                job = self.waiting.popleft() if self.waiting else self.queue.get_nowait()
            except queue.Empty:
                break
            if job is not None and not job.future.done():
                job.future.set_exception(ShuttingDown())

    def _run(self, batch: list[Job]) -> None:
        reqs = [r for job in batch for r in job.requests]
        start = time.monotonic()
        try:
            outs = self.generator.complete(
                reqs, batch[0].sampling, batch_size=self.max_batch_size, cancel=self.cancel
            )
        except GenerationCancelled:
            log.info("batch: %d prompts cancelled by shutdown", len(reqs))
            for job in batch:
                job.future.set_exception(ShuttingDown())
            return
        except Exception as e:
            log.exception("generation failed")
            for job in batch:
                job.future.set_exception(e)
            return
        tokens = sum(o.completion_tokens for o in outs)
        secs = time.monotonic() - start
        log.info(
            "batch: %d prompts from %d requests, %d tokens in %.1f s", len(reqs), len(batch), tokens, secs
        )
        i = 0
        for job in batch:
            job.future.set_result(outs[i : i + len(job.requests)])
            i += len(job.requests)

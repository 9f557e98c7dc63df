"""Concurrent single-prompt calls gathered into engine batches, for the in-process (``local``) backend.

The curation loop calls a role's backend from ``concurrency`` threads, one prompt per call. A model in this
process answers a batch of prompts in little more time than one (the engine decodes every row in the same
forward pass), so :class:`PromptBatcher` puts each call's prompt on a queue; one worker thread takes the oldest,
waits up to ``batch_wait_s`` for more with the same sampling settings (up to ``batch_size``), runs one engine
batch and resolves each caller's future with its own answer.

Greedy answers equal the one-at-a-time path's (the engine's left padding and shared-prefix cache keep every
row's positions and visible tokens; tests/curation/test_local_backend.py). Seeded *sampled* calls run alone:
a seed only reproduces an answer when the random stream is not shared with other rows.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Literal

from honeybee.generation.engine import Completion, Request, Sampling

log = logging.getLogger(__name__)

# The engine call a batch runs: requests sharing one Sampling -> one Completion each, in order.
RunBatch = Callable[[list[Request], Sampling], list[Completion]]


@dataclass
class _Item:
    request: Request
    sampling: Sampling
    future: Future[Completion] = field(default_factory=Future)


def _alone(sampling: Sampling) -> bool:
    """Seeded sampling must not share its random stream with other rows (the answer would depend on them)."""
    return sampling.do_sample and sampling.seed is not None


class PromptBatcher:
    """Collects prompts from concurrent callers into batches of up to ``batch_size`` and runs them on one thread.

    Args:
        run: Runs one batch (e.g. ``Generator.complete``); called on the batcher's thread only.
        batch_size: Most prompts per engine batch.
        batch_wait_s: How long to wait for more prompts after the last one arrived (the callers of one burst
            arrive over a few milliseconds); a full batch runs at once.
        name: The worker thread's name.
    """

    def __init__(
        self, run: RunBatch, batch_size: int = 8, batch_wait_s: float = 0.02, name: str = "hb-batcher"
    ) -> None:
        self.run = run
        self.batch_size = max(1, int(batch_size))
        self.batch_wait_s = max(0.0, float(batch_wait_s))
        self.batches = 0  # engine batches run (for tests and logs)
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._waiting: deque[_Item] = deque()  # taken off the queue but not fitting the batch being built
        self._closed = False
        self._start_lock = threading.Lock()
        # A daemon thread: an interpreter exiting without close() is not held up by an idle worker.
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def submit(self, request: Request, sampling: Sampling) -> Future[Completion]:
        """Queue one prompt; the future resolves to its Completion or raises its own generation error."""
        with self._start_lock:
            if self._closed:
                raise RuntimeError("the prompt batcher is closed")
            if not self._thread.is_alive():
                self._thread.start()
            item = _Item(request, sampling)
            self._queue.put(item)
        return item.future

    def complete(self, request: Request, sampling: Sampling) -> Completion:
        """``submit`` and wait for the answer."""
        return self.submit(request, sampling).result()

    def close(self, timeout: float = 30.0) -> None:
        """Stop after the batch in progress; prompts still waiting fail with RuntimeError. Idempotent."""
        with self._start_lock:
            if self._closed:
                return
            self._closed = True
            started = self._thread.is_alive()
            self._queue.put(None)
        if started and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # The worker thread.

    def _take(self, timeout: float) -> _Item | Literal[False] | None:
        """The next item (set-aside ones first); False when none came in time, None on shutdown."""
        if self._waiting:
            return self._waiting.popleft()
        try:
            return self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return False

    def _collect(self, first: _Item) -> tuple[list[_Item], bool]:
        """``first`` plus items with the same sampling that arrive within the wait, up to the batch size."""
        batch, stop, others = [first], False, []
        if _alone(first.sampling):
            return batch, stop
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.batch_size:
            item = self._take(deadline - time.monotonic())
            if item is False:
                break
            if item is None or self._closed:
                stop = True
                if item is not None:
                    others.append(item)
                break
            if item.sampling == first.sampling and not _alone(item.sampling):
                batch.append(item)
                deadline = time.monotonic() + self.batch_wait_s
            else:  # another role's settings: its own batch next, in arrival order
                others.append(item)
        self._waiting.extendleft(reversed(others))
        return batch, stop

    def _loop(self) -> None:
        try:
            while True:
                first = self._waiting.popleft() if self._waiting else self._queue.get()
                if first is None or self._closed:  # closed: what is still queued fails, it does not run
                    if first is not None:
                        self._waiting.appendleft(first)
                    break
                batch, stop = self._collect(first)
                self._run(batch)
                if stop:
                    break
        finally:
            leftovers = list(self._waiting)
            self._waiting.clear()
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    leftovers.append(item)
            for item in leftovers:
                if not item.future.done():
                    item.future.set_exception(RuntimeError("the prompt batcher was closed"))

    def _run(self, batch: list[_Item]) -> None:
        """One engine batch; if it fails, each prompt alone, so an error reaches only the caller it belongs to."""
        try:
            outs = self.run([i.request for i in batch], batch[0].sampling)
            if len(outs) != len(batch):
                raise RuntimeError(f"the engine answered {len(outs)} of {len(batch)} prompts")
        except BaseException as e:
            if len(batch) == 1 or not isinstance(e, Exception):
                for item in batch:
                    item.future.set_exception(e)
                if not isinstance(e, Exception):
                    raise
                return
            log.warning("a batch of %d prompts failed (%s); running them one at a time", len(batch), e)
            for item in batch:
                self._run([item])
            return
        self.batches += 1
        for item, out in zip(batch, outs):
            item.future.set_result(out)

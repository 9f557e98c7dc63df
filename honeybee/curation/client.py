"""One role's LLM access: cache first, then budget, a concurrency limit and retries with exponential backoff.

The retry loop lives here rather than in the SDKs (which are built with ``max_retries=0``) because it must also
retry what the SDKs return as success or do not retry (a 200 with a truncated or non-JSON body), treat every
backend alike, and count each retry by kind for the curation report.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, TypeVar

from honeybee.curation.backends import Backend, Reply, TransientError
from honeybee.curation.budget import Budget, count_messages, count_tokens
from honeybee.curation.cache import CallCache, call_key

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class CallFailed(Exception):
    """A call still failing after every retry; the item it was for is skipped and counted."""


def chat(prompts: Any, user: str) -> list[dict[str, str]]:
    """A chat ``messages`` list: the prompt set's ``system`` text (if any), then ``user``."""
    system = str(prompts.get("system") or "")
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter: attempt k waits ``min(max_delay_s, base_delay_s * 2**k)`` x [0.5, 1]."""

    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.max_delay_s, retry_after)
        return min(self.max_delay_s, self.base_delay_s * 2**attempt) * (0.5 + random.random() / 2)


class LLMClient:
    """Calls one backend for one role.

    Args:
        role: ``instructor``, ``verifier`` or ``evaluator`` (used in counts and messages).
        backend: Where the model is.
        cache: Shared call cache.
        budget: Shared budget (all roles draw on it).
        retry: Backoff policy.
        concurrency: Most calls in flight at once for this role.
        price: USD per million tokens (``input_per_mtok``, ``output_per_mtok``) for the cost budget.
    """

    def __init__(
        self,
        role: str,
        backend: Backend,
        cache: CallCache,
        budget: Budget,
        retry: RetryPolicy,
        concurrency: int = 4,
        price: Any = None,
    ) -> None:
        self.role, self.backend, self.cache, self.budget, self.retry = role, backend, cache, budget, retry
        self.concurrency = max(1, int(concurrency))
        self.price = price
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._lock = threading.Lock()
        self.stats: Counter[str] = Counter()

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.stats[key] += n

    def call(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float = 0.0, sample: int = 0
    ) -> str:
        """The reply text for ``messages``; ``sample`` tells apart repeated samples of one sampled prompt.

        Raises:
            BudgetExhausted: the call does not fit the budget (nothing was sent).
            CallFailed: every attempt failed with a transient error.
            BackendError: the backend refused the request for good (bad key, unknown model).
        """
        request = {
            **self.backend.describe(),
            "messages": messages,
            "max_tokens": int(max_tokens),
            "temperature": float(temperature),
            "sample": int(sample),
        }
        key = call_key(request)
        hit = self.cache.get(key)
        if hit is not None:
            self._count("cache_hits")
            return str(hit["text"])
        prompt_tokens = count_messages(messages)
        held = self.budget.reserve(prompt_tokens, int(max_tokens), self.price)
        seed = int(sample) if temperature > 0 else None
        reply: Reply | None = None
        try:
            with self._slots:
                for attempt in range(self.retry.max_attempts):
                    try:
                        reply = self.backend.complete(messages, int(max_tokens), float(temperature), seed)
                        break
                    except TransientError as e:
                        self._count(f"error_{e.kind}")
                        if attempt + 1 >= self.retry.max_attempts:
                            self._count("failed_calls")
                            raise CallFailed(
                                f"{self.role}: {e.kind} after {attempt + 1} attempts: {e}"
                            ) from None
                        self._count("retries")
                        wait = self.retry.delay(attempt, e.retry_after)
                        log.debug("%s: %s (%s); retry %d in %.2fs", self.role, e.kind, e, attempt + 1, wait)
                        time.sleep(wait)
        finally:
            if reply is None:
                self.budget.settle(held, 0, 0, self.price)
        assert reply is not None  # every attempt either breaks with a reply or raises
        completion_tokens = count_tokens(reply.text)
        self.budget.settle(held, prompt_tokens, completion_tokens, self.price)
        self._count("paid_calls")
        self._count("prompt_tokens", prompt_tokens)
        self._count("completion_tokens", completion_tokens)
        if reply.prompt_tokens is not None:
            self._count("server_prompt_tokens", int(reply.prompt_tokens))
        if reply.completion_tokens is not None:
            self._count("server_completion_tokens", int(reply.completion_tokens))
        self.cache.put(
            key,
            request,
            {
                "text": reply.text,
                "finish_reason": reply.finish_reason,
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
            },
        )
        return reply.text

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``fn`` over ``items`` with up to ``concurrency`` in flight, results in input order.

        A progress bar (one per role) shows on a terminal; a round of hundreds of paid calls takes a while.
        """
        from tqdm.auto import tqdm

        items = list(items)
        with tqdm(total=len(items), desc=self.role, unit="item", disable=None, leave=False) as bar:
            if self.concurrency == 1 or len(items) <= 1:
                out = []
                for x in items:
                    out.append(fn(x))
                    bar.update()
                return out
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"hb-{self.role}") as pool:
                futures = [pool.submit(fn, x) for x in items]
                for f in as_completed(futures):
                    error = f.exception()
                    if error is not None:  # fatal (e.g. a refused key): send nothing more
                        for g in futures:
                            g.cancel()
                        raise error
                    bar.update()
                return [f.result() for f in futures]

    def summary(self) -> dict[str, Any]:
        return {
            **self.backend.describe(),
            "concurrency": self.concurrency,
            **dict(sorted(self.stats.items())),
        }

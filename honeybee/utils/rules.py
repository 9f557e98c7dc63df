"""Declarative rules for numeric config values, and the check that reports every broken one as ``key=value``.

Each entry point keeps a table ``{dotted key: rule}`` next to its config checks (``config/validate.py``,
``generation/task.py``, ``evaluation/task.py``, ``curation/loop.py``); ``tests/config/test_config_values.py``
walks every numeric leaf of the composed configs and fails when one has no rule. A key may hold ``*`` for one
level of any name (``eval_task.*.limit``, ``data.components.*.weight``).

Values must have the right type as written: ``true``, ``"8"`` and ``""`` are not numbers, a float is not an
integer, and NaN/infinity are refused. Every integer has an upper bound, so "huge" values (an overflowing
10**30, a seed Lightning would silently replace) are refused before any work.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

INT_MAX = 2**31 - 1  # a count, size or step number beyond this is a typo, and overflows int32 buffers
SEED_MAX = 2**32 - 1  # numpy / Lightning seeds; Lightning replaces an out-of-range seed with a random one
_ABSENT = object()


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


@dataclass(frozen=True)
class Num:
    """A numeric value's rule.

    Attributes:
        lo: Lower bound (None: none); ``above`` makes it exclusive.
        hi: Upper bound (integers default to ``INT_MAX``; ``math.inf`` for none); ``below`` makes it exclusive.
        integer: Only integers (a float such as 8.0 is refused).
        nullable: null (unset) is allowed.
        also: Special values allowed outside the range (e.g. -1 = unlimited).
        strings: Strings allowed besides numbers (e.g. "auto").
        required: An absent key is a problem (False for keys that only some group options define).
        fraction_or_count: Lightning style: a float in (0, 1] is a fraction, an integer >= 1 a count.
        int_lists: A non-empty list of integers >= 0 is allowed too (device indices).
        note: Appended to the message (a hint).
    """

    lo: float | None = None
    hi: float | None = None
    integer: bool = False
    nullable: bool = False
    above: bool = False
    below: bool = False
    also: tuple[Any, ...] = ()
    strings: tuple[str, ...] = ()
    required: bool = True
    fraction_or_count: bool = False
    int_lists: bool = False
    note: str = ""

    def expected(self) -> str:
        if self.fraction_or_count:
            what = f"a fraction in (0, 1] or an integer 1..{_fmt(self.upper() or INT_MAX)}"
        else:
            kind = "an integer" if self.integer else "a number"
            lo, hi = self.lo, self.upper()
            if lo is not None and hi is not None:
                left, right = "(" if self.above else "[", ")" if self.below else "]"
                what = (
                    f"{kind} {_fmt(lo)}..{_fmt(hi)}"
                    if self.integer and not (self.above or self.below)
                    else f"{kind} in {left}{_fmt(lo)}, {_fmt(hi)}{right}"
                )
            elif lo is not None:
                what = f"{kind} {'>' if self.above else '>='} {_fmt(lo)}"
            elif hi is not None:
                what = f"{kind} {'<' if self.below else '<='} {_fmt(hi)}"
            else:
                what = kind
        extra = (
            [repr(s) for s in self.strings]
            + [str(a) for a in self.also]
            + (["null"] if self.nullable else [])
        )
        return what + (f" (or {', '.join(extra)})" if extra else "") + (f"; {self.note}" if self.note else "")

    def upper(self) -> float | None:
        if self.hi == math.inf:  # explicitly unbounded
            return None
        return INT_MAX if self.hi is None and (self.integer or self.fraction_or_count) else self.hi

    def ok(self, v: Any) -> bool:
        if v is None:
            return self.nullable
        if isinstance(v, str):
            return v in self.strings
        if self.int_lists and isinstance(v, Sequence):
            return bool(v) and all(type(x) is int and 0 <= x <= INT_MAX for x in v)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        if isinstance(v, int) and v in self.also:
            return True
        if self.fraction_or_count:
            return (isinstance(v, float) and 0 < v <= 1) or (
                isinstance(v, int) and 1 <= v <= (self.upper() or INT_MAX)
            )
        if self.integer and not isinstance(v, int):
            return False
        lo, hi = self.lo, self.upper()
        if lo is not None and (v <= lo if self.above else v < lo):
            return False
        return not (hi is not None and (v >= hi if self.below else v > hi))

    def problem(self, key: str, value: Any) -> str | None:
        """``None`` when ``value`` obeys the rule, else ``"<key>=<value> must be <what>"``."""
        if self.ok(value):
            return None
        if value is None:
            return f"{key} is required: {self.expected()}"
        shown = (
            repr(value)
            if isinstance(value, str)
            else str(value).lower()
            if isinstance(value, bool)
            else value
        )
        if isinstance(shown, int) and abs(shown) >= 10**12:
            shown = f"{shown:.3g}"
        return f"{key}={shown} must be {self.expected()}"


def lookup(node: Any, key: str) -> Any:
    """``node[key]`` for a dotted key (DictConfig or plain mapping); ``_ABSENT`` when a part is missing."""
    for part in key.split("."):
        if not hasattr(node, "keys") or part not in node:
            return _ABSENT
        node = node[part]
    return node


def expand(node: Any, key: str) -> list[str]:
    """The concrete keys a pattern names (``*`` matches every child present at that level)."""
    if "*" not in key:
        return [key]
    head, _, tail = key.partition("*")
    parent = lookup(node, head.rstrip(".")) if head else node
    if parent is _ABSENT or parent is None or not hasattr(parent, "keys"):
        return []
    return [k for name in parent for k in expand(node, f"{head}{name}{tail}")]


def number_problems(cfg: Any, rules: Mapping[str, Num], prefix: str = "") -> list[str]:
    """Every key of ``rules`` whose value in ``cfg`` breaks its rule, as one message each.

    Args:
        cfg: A config node (DictConfig or mapping).
        rules: Dotted key (``*`` allowed) -> rule.
        prefix: Prepended to the keys in messages (e.g. ``data.`` for a source's own node).
    """
    out = []
    for pattern, rule in rules.items():
        for key in expand(cfg, pattern):
            value = lookup(cfg, key)
            if value is _ABSENT:
                if rule.required and "*" not in pattern:
                    out.append(f"{prefix}{key} is missing: {rule.expected()}")
                continue
            problem = rule.problem(prefix + key, value)
            if problem:
                out.append(problem)
    return out


def is_absent(value: Any) -> bool:
    return value is _ABSENT

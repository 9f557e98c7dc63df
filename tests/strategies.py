"""Hypothesis strategies shared by the property tests: JSON values, text, valid source records, and one
generic mutation that breaks a valid document at a random place (a value of another type, a missing key, text
that is not text).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

# Text a user's file may hold: any Unicode except surrogates and NUL; at least one visible character.
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=30
).filter(lambda s: s.strip())
# ... already stripped and on one line (loaders that strip or split lines give it back unchanged)
LINE = (
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=30)
    .map(str.strip)
    .filter(bool)
)
# Strings that are not usable text in a text field
BAD_TEXT = st.sampled_from(["", "   ", "\n\t", "a\x00b", "\x00", "\ud800", "x\udfffy", "\udc80"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def json_kind(v: Any) -> str:
    return (
        "null"
        if v is None
        else "bool"
        if isinstance(v, bool)
        else "number"
        if isinstance(v, (int, float))
        else type(v).__name__
    )


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replace(value: Any, path: tuple, new: Any, delete: bool = False) -> Any:
    """A copy of ``value`` with the node at ``path`` replaced by ``new`` (or removed)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    out = dict(value) if isinstance(value, dict) else list(value)
    if delete and not rest:
        out.pop(head)
    else:
        out[head] = _replace(value[head], rest, new, delete)
    return out


@st.composite
def mutated(draw: Any, value: Any, times: int = 3) -> Any:
    """``value`` broken in 1..``times`` random places: a node replaced by a value of another JSON type or by
    bad text, or removed (a missing key / a shorter list)."""
    for _ in range(draw(st.integers(1, times))):
        path = draw(st.sampled_from(_paths(value)))
        op = draw(st.sampled_from(["retype", "bad_text", "delete"]))
        if op == "delete" and path:
            value = _replace(value, path, None, delete=True)
            continue
        kind = json_kind(_get(value, path))
        new = draw(BAD_TEXT if op == "bad_text" else JSON.filter(lambda v, k=kind: json_kind(v) != k))
        value = _replace(value, path, new)
    return value


def _get(value: Any, path: tuple) -> Any:
    for p in path:
        value = value[p]
    return value


def dumps(obj: Any, indent: int | None = None) -> str:
    """JSON text; lone surrogates are written as escapes (they cannot be encoded as UTF-8 bytes)."""
    return json.dumps(obj, ensure_ascii=False, indent=indent).encode("utf-8", "backslashreplace").decode()


def write_records(path: Path, records: list[Any], layout: str) -> Path:
    """``records`` as a JSON array (``array``, ``pretty``) or JSON Lines (``jsonl``)."""
    if layout == "jsonl":
        text = "".join(dumps(r) + "\n" for r in records)
    else:
        text = dumps(records, indent=2 if layout == "pretty" else None)
    path.write_text(text, encoding="utf-8")
    return path


def write_any(path: Path, obj: Any, layout: str) -> Path:
    """A (possibly mutated) list of records as ``write_records`` writes it; anything else as one document."""
    if isinstance(obj, list):
        return write_records(path, obj, layout)
    path.write_text(dumps(obj, indent=2 if layout == "pretty" else None), encoding="utf-8")
    return path


LAYOUTS = st.sampled_from(["array", "pretty", "jsonl"])
_WHERE = re.compile(r": (record|line) (\d+)")


def check_message(message: str, path: Path, count: int) -> None:
    """A loader's error: one line, naming the file, and any record/line number within 1..``count``."""
    assert "\n" not in message, message
    assert str(path) in message, message
    for _, n in _WHERE.findall(message):
        assert 1 <= int(n) <= max(count, 1), message


def count_of(obj: Any, layout: str = "array") -> int:
    """Records in a file written by ``write_records``: one JSONL line holding a list is a JSON array."""
    if layout == "jsonl" and isinstance(obj, list) and len(obj) == 1 and isinstance(obj[0], list):
        return len(obj[0])
    return len(obj) if isinstance(obj, list) else 1

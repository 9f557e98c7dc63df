"""Declarative record schemas: one pydantic model per source record shape, and one way to report a misfit.

Every loader validates each record against its source's model (strict types: a number, ``null``, a list or an
object where a string belongs is refused, and the reverse) and turns pydantic's ``ValidationError`` into the
project's one-line message with :func:`describe`::

    <file>: record 3: field 'instruction': expected a string, got null
    <file>: line 7: field 'scores.accuracy': expected a number within 0-100, got a string

Text fields also refuse NUL characters and lone UTF-16 surrogates (``"\\ud800"`` is legal JSON, but such a
string cannot be written back as UTF-8, so it would break the run's ``splits/*.jsonl`` later). ``extra`` is
chosen per source: Alpaca-shaped files keep unknown fields as ``meta`` (Verifier scores, topics, provenance);
sources with a fixed published layout ignore them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StrictStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

_SURROGATE = re.compile("[\ud800-\udfff]")
M = TypeVar("M", bound=BaseModel)


def lone_surrogate(value: str) -> str | None:
    """Describes a lone surrogate in ``value`` (legal as a JSON escape, but not text), or None."""
    m = _SURROGATE.search(value)
    return f"contains a lone surrogate ({ascii(m.group())[1:-1]}): not valid Unicode text" if m else None


def text_problem(value: str) -> str | None:
    """Why ``value`` is not usable text (a NUL character, a lone surrogate), or None."""
    return "contains a NUL character" if "\x00" in value else lone_surrogate(value)


def _text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise PydanticCustomError("text", problem)
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("empty", "must not be empty")
    return value


def _unicode(value: str) -> str:
    problem = lone_surrogate(value)
    if problem:
        raise PydanticCustomError("text", problem)
    return value


Text = Annotated[StrictStr, AfterValidator(_text)]
# Any string that can be written back as UTF-8 (NUL allowed): request fields, metadata.
Unicode = Annotated[StrictStr, AfterValidator(_unicode)]
NonEmptyText = Annotated[Text, AfterValidator(_non_empty)]


class Strict(BaseModel):
    """Base: strict types (no "3" -> 3, no 1 -> "1"), no NaN/Infinity, unknown fields ignored."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore")


# ------------------------------------------------------------------------------------------ messages


def json_type(value: Any) -> str:
    """The JSON name of a value's type, as the messages say it ("null", "a number", "an object", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "finite_number": "a finite number",
}


def field_name(loc: Sequence[Any]) -> str:
    """``('relationMentions', 0, 'arg1Text')`` -> ``relationMentions[0].arg1Text``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe(error: ValidationError) -> str:
    """The first problem of a ``ValidationError`` as one clause: ``field 'x': expected a string, got null``."""
    return describe_error(error.errors(include_url=False)[0])


def describe_error(e: Any) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) as one clause (see :func:`describe`)."""
    name = field_name(e["loc"])
    kind = e["type"]
    if kind == "missing":
        return f"missing field {name!r}"
    if kind == "extra_forbidden":
        return f"unknown field {name!r}"
    where = f"field {name!r}: " if name else ""
    if kind in ("too_short", "too_long"):
        ctx = e.get("ctx") or {}
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        n = ctx.get("actual_length")
        return f"{where}expected {'at least' if kind == 'too_short' else 'at most'} {bound} item(s), got {n}"
    if kind in EXPECTED:
        return f"{where}expected {EXPECTED[kind]}, got {json_type(e.get('input'))}"
    msg = str(e["msg"])
    msg = msg.removeprefix("Value error, ").removeprefix("Input should be ")
    if kind == "literal_error":  # one of a fixed set: say which value was given
        given = e.get("input")
        return (
            f"{where}expected {msg}, got {json.dumps(given) if isinstance(given, str) else json_type(given)}"
        )
    if msg.startswith(("a ", "an ", "greater", "less", "at ")) or msg[:1].isdigit():
        msg = f"expected {msg}, got {json_type(e.get('input'))}"
    return where + msg


def check(model: type[M], obj: Any, context: dict[str, Any] | None = None) -> M | str:
    """``obj`` validated as ``model``, or the one-clause problem (see :func:`describe`)."""
    if not isinstance(obj, dict):
        return f"expected an object, got {json_type(obj)}"
    try:
        return model.model_validate(obj, context=context)
    except ValidationError as e:
        return describe(e)


def validated(
    model: type[M], obj: Any, where: str, bad: Callable[[str], None], context: Any = None
) -> M | None:
    """``obj`` as ``model``; on a misfit report ``<where>: <problem>`` to ``bad`` (raise or count) and return
    None."""
    out = check(model, obj, context)
    if isinstance(out, str):
        bad(f"{where}: {out}")
        return None
    return out


# ------------------------------------------------------------------------------------ record schemas


def _score(value: Any, name: str) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or not 0 <= value <= 100:
        got = value if ok else json_type(value)
        raise PydanticCustomError(
            "score", "field '{name}': expected a number within 0-100, got {got}", {"name": name, "got": got}
        )


class AlpacaRecord(Strict):
    """An Alpaca / MatSci-Instruct record: ``instruction``, optional ``input``, ``output``.

    Any other field is kept as ``meta``. Verifier scores (the criteria passed as validation context under
    ``criteria``, top level or in a ``scores`` object) must then be complete numbers within 0-100, since the
    keep rule reads them.
    """

    model_config = ConfigDict(extra="allow")

    instruction: NonEmptyText
    input: Text | None = None
    output: NonEmptyText

    @model_validator(mode="after")
    def _scores(self, info: ValidationInfo) -> AlpacaRecord:
        criteria = (info.context or {}).get("criteria") or ()
        extra = self.model_extra or {}
        nested = isinstance(extra.get("scores"), dict)
        src = extra["scores"] if nested else extra
        present = [c for c in criteria if c in src]
        if present and len(present) != len(criteria):
            missing = sorted(set(criteria) - set(present))
            raise PydanticCustomError(
                "scores", "verifier scores incomplete, missing {missing}", {"missing": missing}
            )
        for c in present:
            _score(src[c], f"scores.{c}" if nested else c)
        return self

    def meta(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SciInstructRecord(Strict):
    """A SciInstruct line: question, worked answer and subject (the published files have nothing else)."""

    content: NonEmptyText
    summary: NonEmptyText
    subject: NonEmptyText


class DarwinRecord(Strict):
    """A DARWIN FAIR instruction record (its separators are removed after validation)."""

    instruction: NonEmptyText
    input: Text | None = None
    output: NonEmptyText


class SavedRecord(Strict):
    """A record as honeybee writes it (a run's ``splits/*.jsonl``, generation and evaluation inputs)."""

    instruction: NonEmptyText
    input: Text | None = None
    output: Text | None = None
    meta: dict[str, Any] | None = None

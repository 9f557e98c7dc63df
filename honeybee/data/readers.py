"""Readers shared by the data sources: the bad-record policy and JSON / JSON Lines record files.

The per-source loaders import these; they live apart from the registry in ``sources`` so that no loader has to
import the module that dispatches to it. Records are numbered from 1 everywhere: ``record <n>`` in a JSON
array, ``line <n>`` in a JSON Lines file.

Encoding: files must be UTF-8. A leading byte-order mark (as Windows editors write) is dropped; UTF-16 files
and bytes that are not UTF-8 are refused with the line they are on (in JSON Lines a bad line is a bad record,
so ``on_bad_record=skip`` can skip it). Strings holding lone surrogates (legal JSON escapes such as
``"\\ud800"``, but not text) are bad records too, wherever they sit in the record.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from honeybee.data.schema import field_name, json_type, lone_surrogate
from honeybee.utils.errors import ConfigError, DataError

log = logging.getLogger(__name__)

# A \uD800-\uDFFF escape: only then can a parsed string hold a lone surrogate (pairs decode to one character).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
WRAPPER_KEYS = ("data", "records")
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
_LINES = object()
T = TypeVar("T")


class BadRecords:
    """Applies ``on_bad_record`` (error | skip) and counts what was skipped, so nothing is lost silently."""

    def __init__(self, policy: str = "error") -> None:
        if policy not in ("error", "skip"):
            raise ConfigError(f"data.on_bad_record={policy!r} is not one of: error, skip")
        self.policy = policy
        self.skipped: list[str] = []
        # ``where`` -> what to say instead of ``<where>: <problem>`` (see ``read_json_records``).
        self.reworded: dict[str, str] = {}

    def __call__(self, message: str) -> None:
        for where, lead in self.reworded.items():
            if message.startswith(f"{where}: "):
                # The file's only value: a file-level problem, which no policy skips.
                raise DataError(
                    f"{lead} (read as one JSON Lines record: {message.removeprefix(where + ': ')})"
                )
        if self.policy == "error":
            raise DataError(message)
        self.skipped.append(message)

    def report(self, path: Path | str) -> None:
        if self.skipped:
            log.warning("%s: skipped %d bad record(s); first: %s", path, len(self.skipped), self.skipped[0])


def read_bytes(path: Any) -> bytes:
    """The file's bytes without a UTF-8 byte-order mark.

    Raises:
        DataError: a missing or unreadable file, or UTF-16 text.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"data file not found: {path}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{path}: UTF-16 text; save it as UTF-8")
    return data.removeprefix(b"\xef\xbb\xbf")


def decode(data: bytes, path: Path | str) -> str:
    """UTF-8 text of ``data``; a DataError names the line and byte of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{path}: line {line}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})"
        ) from None


def read_text(path: Any) -> str:
    """A whole UTF-8 text file (see :func:`read_bytes` and :func:`decode`)."""
    return decode(read_bytes(path), path)


def csv_text(path: Any) -> io.StringIO:
    """A CSV file's checked UTF-8 text, ready for ``csv.reader`` (see :func:`read_text`)."""
    return io.StringIO(read_text(path), newline="")


def csv_rows(reader: Iterator[T], path: Any) -> Iterator[T]:
    """``reader``'s rows; a ``csv.Error`` (e.g. a field over the size limit) becomes a DataError with the line."""
    try:
        yield from reader
    except csv.Error as e:
        raise DataError(f"{path}:{getattr(reader, 'line_num', '?')}: malformed CSV ({e})") from None


def bad_strings(obj: Any, loc: tuple[Any, ...] = ()) -> str | None:
    """The first string (key or value) anywhere in ``obj`` that is not text, as ``field 'a.b': <why>``;
    None if all are. NUL characters are left to the text fields' schemas (they are harmless in metadata)."""
    if isinstance(obj, str):
        problem = lone_surrogate(obj)
        return problem and (f"field {field_name(loc)!r}: {problem}" if loc else problem)
    if isinstance(obj, dict):
        for k, v in obj.items():
            if problem := lone_surrogate(str(k)):
                return f"a key in {f'field {field_name(loc)!r}' if loc else 'the record'} {problem}"
            if problem := bad_strings(v, (*loc, k)):
                return problem
    elif isinstance(obj, list):
        return next((p for i, x in enumerate(obj) if (p := bad_strings(x, (*loc, i)))), None)
    return None


def _checked(where: str, obj: Any, scan: bool, bad: BadRecords) -> tuple[str, Any] | None:
    if scan and (problem := bad_strings(obj)):
        bad(f"{where}: {problem}")
        return None
    return where, obj


def _json_lines(path: Path, data: bytes, bad: BadRecords) -> list[tuple[str, Any]]:
    out = []
    for i, raw in enumerate(data.split(b"\n")):
        where = f"{path}: line {i + 1}"
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            bad(f"{where}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})")
            continue
        except json.JSONDecodeError as e:
            bad(f"{where}: malformed JSON ({e.msg} at column {e.colno})")
            continue
        if (item := _checked(where, obj, bool(_SURROGATE_ESCAPE.search(raw)), bad)) is not None:
            out.append(item)
    return out


def parse_json(text: str, path: Path | str) -> Any:
    """One JSON document; a DataError names line and column of a syntax error."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None


def read_json_document(path: Path) -> Any:
    """One whole JSON document (a table, an annotated corpus); every error is a DataError naming the file."""
    data = read_bytes(path)
    obj = parse_json(decode(data, path), path)
    if _SURROGATE_ESCAPE.search(data) and (problem := bad_strings(obj)):
        raise DataError(f"{path}: {problem}")
    return obj


def _not_records(obj: Any, path: Path) -> str:
    return (
        f"{path}: expected a JSON array of records (or JSON Lines, one record per line), "
        f"got {json_type(obj).removeprefix('a ').removeprefix('an ')}"
    )


def _wrapped(obj: Any) -> list[Any] | None:
    """The list under ``data`` / ``records`` of ``{"data": [...]}`` (a list under one key, as exports do)."""
    if isinstance(obj, dict):
        for key in WRAPPER_KEYS:
            if isinstance(obj.get(key), list):
                return obj[key]
    return None


def _top_level(obj: Any, path: Path) -> list[Any]:
    if isinstance(obj, list):
        return obj
    wrapped = _wrapped(obj)
    if wrapped is None:
        raise DataError(_not_records(obj, path))
    return wrapped


def read_json_records(path: Path, bad: BadRecords) -> list[tuple[str, Any]]:
    """Read a JSON array or JSON Lines file into ``(where, object)`` pairs.

    ``where`` is ``"<path>: record <n>"`` (JSON array) or ``"<path>: line <n>"`` (JSON Lines), counted from 1.
    A file whose whole text is one JSON value must be an array (or an object holding one under ``data`` /
    ``records``); a ``.jsonl`` file is always JSON Lines. A lone value on one line is ambiguous (a one-record
    JSON Lines file, or a misplaced document): it is read as one record, and if that record is bad the
    message leads with the top-level problem (``expected a JSON array of records ..., got object``), as it
    does for the same object over several lines.

    Raises:
        DataError: an empty, unreadable or non-UTF-8 file, malformed JSON in an array, a top level that is not
            a list of records; a bad line under ``on_bad_record=error``.
    """
    data = read_bytes(path)
    if not data.strip():
        raise DataError(f"{path}: file is empty")
    if data.lstrip()[:1] == b"[":
        whole = parse_json(decode(data, path), path)
    else:
        try:  # one JSON document (a pretty-printed object, a number, ...)? Else JSON Lines.
            whole = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            whole = _LINES
        if whole is _LINES or path.suffix in JSON_LINES_SUFFIXES:
            return _json_lines(path, data, bad)
        if _wrapped(whole) is None and data.strip().count(b"\n") == 0:
            bad.reworded[f"{path}: line 1"] = _not_records(whole, path)
            return _json_lines(path, data, bad)
    items = _top_level(whole, path)
    scan = bool(_SURROGATE_ESCAPE.search(data))
    out = []
    for i, obj in enumerate(items):
        if (item := _checked(f"{path}: record {i + 1}", obj, scan, bad)) is not None:
            out.append(item)
    return out


def read_saved_records(path: Path, prompts: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """``(where, object)`` for each record of a file honeybee wrote or takes as input (a run's
    ``splits/*.jsonl``, a generation prompts file, an evaluation data file), validated as
    ``schema.SavedRecord``; with ``prompts`` a line may also be a string or ``{"prompt": ...}``.

    Raises:
        DataError: a missing, empty or unreadable file, or the first bad record (file, line and field).
    """
    from honeybee.data.schema import SavedRecord, check

    bad = BadRecords("error")
    out = []
    for where, obj in read_json_records(path, bad):
        if prompts and isinstance(obj, str):
            obj = {"instruction": obj}
        elif prompts and isinstance(obj, dict) and "prompt" in obj and "instruction" not in obj:
            obj = {**obj, "instruction": obj["prompt"]}
            del obj["prompt"]
        checked = check(SavedRecord, obj)
        if isinstance(checked, str):
            if prompts and not isinstance(obj, dict):
                checked = (
                    f'expected a string, {{"prompt": ...}} or {{"instruction": ...}}, got {json_type(obj)}'
                )
            elif prompts and obj.get("instruction") is None and "instruction" not in obj:
                checked = "missing field 'instruction' (or \"prompt\")"
            bad(f"{where}: {checked}")
        out.append((where, obj))
    return out

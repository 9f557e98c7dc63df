"""Readers shared by the data sources: the bad-record policy and JSON / JSON Lines record files.

The per-source loaders (sciinstruct, darwin_fair, matsci_nlp) and the registry in ``sources`` import these;
they live apart from the registry so that no loader has to import the module that dispatches to it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from honeybee.utils.errors import ConfigError, DataError

log = logging.getLogger(__name__)


class BadRecords:
    """Applies ``on_bad_record`` (error | skip) and counts what was skipped, so nothing is lost silently."""

    def __init__(self, policy: str = "error") -> None:
        if policy not in ("error", "skip"):
            raise ConfigError(f"data.on_bad_record={policy!r} is not one of: error, skip")
        self.policy = policy
        self.skipped: list[str] = []

    def __call__(self, message: str) -> None:
        if self.policy == "error":
            raise DataError(message)
        self.skipped.append(message)

    def report(self, path: Path | str) -> None:
        if self.skipped:
            log.warning("%s: skipped %d bad record(s); first: %s", path, len(self.skipped), self.skipped[0])


def read_json_records(path: Path, bad: BadRecords) -> list[tuple[int, Any]]:
    """Read a JSON array or JSON Lines file into ``(index, object)`` pairs; errors name file and line/record."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start})") from None
    stripped = text.lstrip()
    if not stripped:
        raise DataError(f"{path}: file is empty")
    if stripped[0] == "[" or (path.suffix == ".json" and stripped[0] == "{" and "\n{" not in stripped):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
        if isinstance(obj, dict):
            obj = obj.get("data", obj.get("records", [obj]))
        if not isinstance(obj, list):
            raise DataError(f"{path}: expected a JSON array of records")
        return list(enumerate(obj))
    out = []
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            out.append((i, json.loads(line)))
        except json.JSONDecodeError as e:
            bad(f"{path}: line {i + 1}: malformed JSON ({e.msg})")
    return out

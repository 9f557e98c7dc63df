"""An on-disk, content-addressed cache of LLM calls: a re-run or a killed run never pays for a call twice.

The key is the SHA-256 of the canonical JSON of (backend type, model, messages, generation parameters, sample
index). The endpoint URL is left out on purpose: the same model id answers the same request wherever it is
served, and a local server restarted on another port must still hit the cache. Each entry is one small JSON
file written atomically (temp + rename), so a crash mid-write leaves no entry rather than a broken one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from honeybee.utils.io import atomic_write_text

log = logging.getLogger(__name__)


def call_key(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class CallCache:
    """``get``/``put`` replies by request; ``root=None`` disables caching (every call is paid)."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(root) if root else None

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if self.root is None:
            return None
        p = self._path(key)
        if not p.is_file():
            return None
        try:
            entry = json.loads(p.read_text(encoding="utf-8"))
            return entry["reply"]
        except (OSError, ValueError, KeyError, TypeError):
            # Cannot happen with atomic writes; a hand-edited entry is simply paid for again.
            log.warning("cache entry %s is unreadable; calling again", p)
            return None

    def put(self, key: str, request: dict[str, Any], reply: dict[str, Any]) -> None:
        if self.root is None:
            return
        atomic_write_text(
            self._path(key),
            json.dumps({"key": key, "request": request, "reply": reply}, ensure_ascii=False) + "\n",
        )

    def __len__(self) -> int:
        return (
            0 if self.root is None or not self.root.is_dir() else sum(1 for _ in self.root.glob("*/*.json"))
        )

"""The one record model every data source is converted into."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Record:
    """An instruction record (Alpaca shape) plus free-form metadata.

    Attributes:
        instruction: The task or question.
        input: Optional context (an abstract, a composition, a table row); may be empty.
        output: The reference response.
        meta: Provenance and task information, e.g. ``source``, ``task_type`` ("regression" |
            "classification" | "generation" | "qa"), ``property``, ``unit``, ``target`` (a number for
            regression), ``label`` (for classification), ``labels`` (the label set), ``group`` (the key
            that keeps related records in the same split).
    """

    instruction: str
    input: str = ""
    output: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Record:
        return cls(d["instruction"], d.get("input") or "", d.get("output") or "", dict(d.get("meta") or {}))

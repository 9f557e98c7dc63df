"""The Instructor: writes instruction/input/output records from seed topics, source texts or feedback.

It asks for a JSON list. Answers are read in three tries, each counted: strict JSON (objects anywhere in the
reply, fences and prose around them ignored), then a lenient reading of ``Instruction:/Input:/Output:``
sections (small local models rarely manage JSON), then up to ``max_repairs`` follow-up requests that show the
model its answer and ask again for JSON only.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from honeybee.curation.budget import BudgetExhausted
from honeybee.curation.client import CallFailed, LLMClient, chat
from honeybee.evaluation.judge import _json_objects, render

log = logging.getLogger(__name__)

_ALIASES = {
    "instruction": ("instruction", "question", "task", "prompt"),
    "input": ("input", "context"),
    "output": ("output", "answer", "response"),
}
_SECTION = re.compile(
    r"^\W{0,4}(instruction|question|input|context|output|answer|response)\W{0,4}\s*:[\s*_]*",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass
class WorkItem:
    """One Instructor request: ``kind`` is ``topic``, ``source`` or ``targeted``."""

    kind: str
    topic: str
    text: str = ""  # the source text (kind=source) or the failed examples (kind=targeted)
    source_id: str | None = None
    sample: int = 0  # tells apart repeated requests for the same topic (cache key, sampling seed)


@dataclass
class Generated:
    records: list[dict[str, Any]] = field(default_factory=list)
    how: str = "failed"  # json | lenient | repaired | failed | budget | error


def _field(obj: dict[str, Any], name: str) -> str | None:
    low = {str(k).strip().lower(): v for k, v in obj.items()}
    for alias in _ALIASES[name]:
        v = low.get(alias)
        if isinstance(v, str):
            return v.strip()
        if v is not None and not isinstance(v, (dict, list)):
            return str(v).strip()
    return None


def records_from_json(text: str) -> list[dict[str, str]]:
    """Every usable ``{instruction, input, output}`` object in ``text`` (aliases such as question/answer too)."""
    out = []
    for obj in _json_objects(text):
        if not isinstance(obj, dict):
            continue
        ins, outp = _field(obj, "instruction"), _field(obj, "output")
        if ins and outp:
            out.append({"instruction": ins, "input": _field(obj, "input") or "", "output": outp})
    return out


def records_from_sections(text: str) -> list[dict[str, str]]:
    """One record from ``Instruction: ... Input: ... Output: ...`` sections, when both ends are present."""
    marks = list(_SECTION.finditer(text))
    found: dict[str, str] = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        key = next(k for k, al in _ALIASES.items() if m.group(1).lower() in al)
        found.setdefault(key, text[m.end() : end].strip().strip('"').strip())
    if found.get("instruction") and found.get("output"):
        return [
            {"instruction": found["instruction"], "input": found.get("input", ""), "output": found["output"]}
        ]
    return []


class Instructor:
    """Generates records with one ``LLMClient`` and the ``instructor`` prompts."""

    def __init__(
        self,
        client: LLMClient,
        prompts: Any,
        records_per_call: int = 3,
        max_tokens: int = 1024,
        temperature: float = 0.7,
        max_repairs: int = 1,
        lenient: bool = True,
    ) -> None:
        self.client, self.prompts = client, prompts
        self.n, self.max_tokens, self.temperature = int(records_per_call), int(max_tokens), float(temperature)
        self.max_repairs, self.lenient = int(max_repairs), bool(lenient)
        self.counts: Counter[str] = Counter()

    def messages(self, item: WorkItem) -> list[dict[str, str]]:
        template = str(self.prompts[item.kind])
        user = render(template, n=str(self.n), topic=item.topic, source=item.text, examples=item.text)
        return chat(self.prompts, user)

    def _read(self, text: str) -> tuple[list[dict[str, str]], str]:
        recs = records_from_json(text)
        if recs:
            return recs, "json"
        if self.lenient:
            recs = records_from_sections(text)
            if recs:
                return recs, "lenient"
        return [], "failed"

    def generate(self, item: WorkItem) -> Generated:
        """Records for one work item (never raises for a bad answer: it is counted instead)."""
        msgs = self.messages(item)
        try:
            reply = self.client.call(msgs, self.max_tokens, self.temperature, item.sample)
            recs, how = self._read(reply)
            for _ in range(self.max_repairs):
                if recs:
                    break
                self.counts["repair_requests"] += 1
                error = (
                    "it was not a JSON list of objects with instruction/input/output"
                    if reply.strip()
                    else "it was empty"
                )
                msgs = msgs + [
                    {"role": "assistant", "content": reply},
                    {"role": "user", "content": render(str(self.prompts.repair), error=error)},
                ]
                reply = self.client.call(msgs, self.max_tokens, self.temperature, item.sample)
                recs, how = self._read(reply)
                how = "repaired" if recs else "failed"
        except BudgetExhausted:
            self.counts["calls_budget"] += 1
            return Generated([], "budget")
        except CallFailed as e:
            log.warning("instructor: %s", e)
            self.counts["calls_error"] += 1
            return Generated([], "error")
        self.counts[f"answers_{how}"] += 1
        out = []
        for r in recs[: max(self.n, 1)]:
            out.append(
                {
                    **r,
                    "topic": item.topic,
                    "source": {
                        "kind": item.kind,
                        "topic": item.topic,
                        "id": item.source_id,
                        "sample": item.sample,
                    },
                }
            )
        self.counts["records"] += len(out)
        return Generated(out, how)

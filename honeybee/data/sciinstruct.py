"""SciInstruct (SciGLM, arXiv 2401.07950): chain-of-thought science Q&A as instruction records.

The published files (``train_en_phy_chem.json``, ``train_cn_math.json``, ``train_lean.json`` on the HF
dataset ``zd21/SciInstruct``) are JSON Lines despite the ``.json`` suffix, one ``{content, summary, subject}``
object per line: ``content`` is the question, ``summary`` a step-by-step answer (or a Lean proof) and
``subject`` names the part of the corpus. The Chinese math answers end in ``【解析】…【答案】…``; English
ones usually state the result as "The answer is X", "Final answer: X" or ``\\boxed{X}``. That final answer
is kept in ``meta['answer']`` so evaluation can compare it without parsing the whole chain of thought.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from honeybee.data.readers import BadRecords, read_json_records
from honeybee.data.records import Record
from honeybee.data.schema import SciInstructRecord, validated
from honeybee.utils.errors import DataError

log = logging.getLogger(__name__)

SUFFIXES = (".json", ".jsonl")

# The Chinese exam format: the answer section runs until the next 【…】 heading (e.g. 【点睛】) or the end.
_CN_ANSWER = re.compile(r"【答案】(.*?)(?=【|\Z)", re.DOTALL)
# "The answer is X", "the final answer is: X", "Final answer: X"; X runs to the end of its line.
_EN_ANSWER = re.compile(r"(?:final\s+answer(?:\s+is)?|answer\s+is)\s*[:：]?\s*(.+)", re.IGNORECASE)
_BOXED = "\\boxed{"


def _boxed(text: str) -> list[tuple[int, str]]:
    """``(position, contents)`` of every ``\\boxed{...}``, with nested braces (``\\boxed{\\frac{1}{2}}``)."""
    out = []
    start = text.find(_BOXED)
    while start != -1:
        i, depth = start + len(_BOXED), 1
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            out.append((start, text[start + len(_BOXED) : i - 1]))
        start = text.find(_BOXED, i)
    return out


def _tidy(answer: str) -> str | None:
    """Drop the sentence's full stop and the emphasis or math delimiters around a bare answer."""
    a = answer.strip().rstrip("。.").strip()
    for left, right in (("**", "**"), ("$$", "$$"), ("$", "$"), ("\\(", "\\)")):
        if len(a) > len(left) + len(right) and a.startswith(left) and a.endswith(right):
            a = a[len(left) : len(a) - len(right)].strip()
    return a or None


def extract_final_answer(text: str) -> str | None:
    """The final answer stated in a solution, or None when it states none.

    Three forms are recognised: the text after ``【答案】`` (up to the next ``【`` heading), "answer is X" /
    "final answer: X" (up to the end of that line), and ``\\boxed{X}``. The one stated last wins, because
    solutions often mention "the answer is ..." mid-derivation; so "The answer is $\\boxed{5}$." gives "5".

    Args:
        text: A generated or reference solution.

    Returns:
        The answer without surrounding whitespace, full stop and ``$``/``**`` delimiters; None if absent.
    """
    found = [(m.start(), m.group(1)) for pattern in (_CN_ANSWER, _EN_ANSWER) for m in pattern.finditer(text)]
    found += _boxed(text)
    return _tidy(max(found)[1]) if found else None


def _group(content: str) -> str:
    # Questions carry no id; hashing the text keeps repeated questions (several answers) in one split.
    return "sciinstruct:" + hashlib.sha1(content.encode("utf-8")).hexdigest()[:16]


def to_record(obj: Any, where: str, bad: BadRecords) -> Record | None:
    """Validate one ``{content, summary, subject}`` object (``schema.SciInstructRecord``); None (after
    counting) when it is skipped."""
    rec = validated(SciInstructRecord, obj, where, bad)
    if rec is None:
        return None
    content, summary, subject = rec.content.strip(), rec.summary.strip(), rec.subject.strip()
    meta = {
        "source": "sciinstruct",
        "subject": subject,
        "task_type": "cot",
        "group": _group(content),
        "answer": extract_final_answer(summary),
    }
    return Record(content, "", summary, meta)


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
        if not files:
            raise DataError(f"{path}: no *.json / *.jsonl files")
        return files
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    return [path]


def load_sciinstruct(
    path: str | Path, subjects: Iterable[str] | None = None, on_bad_record: str = "error"
) -> list[Record]:
    """Load SciInstruct records from a JSONL file or a folder of them.

    Args:
        path: A ``.json``/``.jsonl`` file or a folder (every such file in it, sorted by name).
        subjects: Keep only these ``subject`` values; None keeps all.
        on_bad_record: "error" raises on the first bad line; "skip" skips, counts and logs it.

    Returns:
        One record per kept line: ``instruction`` = content, ``output`` = summary, ``meta`` with ``source``,
        ``subject``, ``task_type`` ("cot"), ``group`` and ``answer`` (None when the summary states none).

    Raises:
        DataError: A missing file, a bad line (under "error"), or no record left after the subject filter.
    """
    wanted: Sequence[str] | None = None if subjects is None else [str(s) for s in subjects]
    records: list[Record] = []
    seen: Counter[str] = Counter()
    for file in _files(Path(path)):
        bad = BadRecords(on_bad_record)
        kept = 0
        for where, obj in read_json_records(file, bad):
            rec = to_record(obj, where, bad)
            if rec is None:
                continue
            seen[rec.meta["subject"]] += 1
            if wanted is None or rec.meta["subject"] in wanted:
                records.append(rec)
                kept += 1
        bad.report(file)
        log.info("sciinstruct %s: %d record(s) kept, %d skipped", file.name, kept, len(bad.skipped))
    if not records:
        found = ", ".join(f"{s} ({n})" for s, n in sorted(seen.items())) or "none"
        raise DataError(f"{path}: no usable records with subject in {wanted}; subjects found: {found}")
    return records

"""Pure answer-extraction functions: generated text -> a number or a label."""

from __future__ import annotations

import re

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def extract_number(text: str) -> float | None:
    """The first number in ``text`` ("about 1.12 eV" -> 1.12); None when there is none.

    Thousands separators ("1,687 K") are joined first so they do not split a number.
    """
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    m = _NUMBER.search(text)
    return float(m.group()) if m else None


def snap_label(text: str, labels: list[str]) -> str | None:
    """Map free text onto one label of ``labels``; None when nothing matches.

    Rules, in order: the text starts with a label (longest first, so "hcp" beats "h"); then the label that
    occurs earliest anywhere in the text, as a whole word. Case-insensitive.
    """
    t = " ".join(text.strip().lower().split())
    ordered = sorted(labels, key=len, reverse=True)
    for lab in ordered:
        if t.startswith(lab.lower()) and (len(t) == len(lab) or not t[len(lab)].isalnum()):
            return lab
    best, pos = None, None
    for lab in ordered:
        m = re.search(rf"(?<![\w-]){re.escape(lab.lower())}(?![\w-])", t)
        if m and (pos is None or m.start() < pos):
            best, pos = lab, m.start()
    return best

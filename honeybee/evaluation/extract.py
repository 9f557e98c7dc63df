"""Pure answer-extraction functions: generated text -> a number or a label.

(Multiplication signs, minus signs and dashes below are the characters models write; they are meant.)

How a number is read (``read_number``), in the order the rules apply:

1. **Candidates.** Every number in the text: ``3.2``, ``.5``, ``3,400`` (thousands groups), ``1,2345`` and ``2,5``
   (a decimal comma: what follows the comma is not a group of three), ``1.2e-3``, ``1×10^5``, ``1.2 x 10^-3``,
   ``4.5×10−4`` and ``10⁻³`` (scientific notation, ASCII or Unicode), ``10^-3``; the word ``zero``.
2. **Signs.** ``-``, ``+`` and every dash a model or a paper uses for minus (U+2212 minus, en/em dash, figure
   dash, hyphen, small/full-width hyphen-minus) make a number negative, unless the dash joins two numbers.
3. **Ranges.** ``2–3``, ``2-3 eV``, ``2 to 3``, ``from 2 to 3``, ``between 2 and 3``, ``2 ~ 3`` are read as their
   midpoint, flagged ``is_range``.
4. **Not values.** Numbers inside a chemical formula (``TiO2``, ``Na15Sn4``, ``Ag2Mo(I2O7)2``, ``Ti-6Al-4V``: a
   digit glued to a letter or closing bracket, or anywhere in a word that starts like a formula) and the
   uncertainty after ``±``/``+/-`` are skipped. A year (a four-digit integer 1900-2100 with no unit after it) is
   skipped when another candidate exists or a year cue ("in", "since", "(") precedes it.
5. **Units.** Given the property's unit, a number followed by another known unit measures something else
   (``2.5% Na`` is not a band gap in eV) and is skipped.
6. **Choice.** Of the candidates left, the first one followed by the property's unit (``3.2 eV``, ``3.2eV``),
   else the first one. None when nothing is left: a text that only echoes a formula states no value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Characters read as a minus sign before a digit: ASCII, U+2212 minus, the dashes, hyphens, small/full-width.
MINUS = "-\u2212\u2010\u2011\u2012\u2013\u2014\u2015\ufe58\ufe63\uff0d"
_SIGN = "[+" + re.escape(MINUS) + "]"
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
# A bare number: thousands groups first (3,400 / 1,234,567.5), then a decimal point or comma, then .5
_BARE = r"(?:\d{1,3}(?:,\d{3})+(?![\d,])(?:\.\d+)?|\d+(?:[.,]\d+)?|\.\d+)"
_EXP = (
    r"(?:[eE][+\-\u2212]?\d+(?![\d.])"  # 1.2e-3
    r"|\s*[×xX*·∙]\s*10\s*(?:\^|\*\*)\s*[({]?\s*" + _SIGN + r"?\s*\d+\s*[)}]?"  # 1×10^5, 1 x 10^(-3)
    r"|\s*[×xX*·∙]\s*10(?:" + _SIGN + r"?\d+|[⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+))"  # 4.5×10−4 (lost superscript), 1×10⁵
)
_POW10 = r"(?:10\s*(?:\^|\*\*)\s*[({]?\s*" + _SIGN + r"?\s*\d+\s*[)}]?|10[⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)"  # 10^-3, 10⁻³
_NUMBER = re.compile(rf"(?P<sign>{_SIGN})?\s?(?P<num>{_POW10}|{_BARE}(?:{_EXP})?)")
_ZERO = re.compile(r"\bzero\b", re.IGNORECASE)
_PLUS_MINUS = re.compile(r"(?:±|\+/-|\+/−|\+-)\s*$")
_RANGE_JOIN = re.compile(r"^\s*(?:[" + re.escape(MINUS) + r"~～]|to|and)\s*$", re.IGNORECASE)
_YEAR_CUE = re.compile(r"(?:\b(?:in|since|by|until|till|year|years|circa|c\.|from|during|of)\s+|[(©])$", re.I)
_FORMULA_WORD = re.compile(r"^[(\[]*(?:[A-Z][a-z]?|[()\[\]])(?:[A-Za-z0-9().\[\]{}+\-−·]|\$|\^|_)*$")
_ELEMENT_DIGIT = re.compile(r"[A-Z][a-z]?\d|\d[A-Z]")  # TiO2, Ti-6Al
_UNITLIKE_AFTER = re.compile(r"^\s?(?:[A-Za-zµμ°Å%Ω]|/)")
_UNIT_AFTER = re.compile(r"^\s?([%‰]|[A-Za-zµμ°Å℃Ω][A-Za-z0-9/^·µμ°Å℃Ω%]*)")
# Units a model names after a number; a number followed by one that is not the property's own measures
# something else ("2.5% Na" is not a band gap in eV).
KNOWN_UNITS = {
    "%",
    "‰",
    "wt%",
    "at%",
    "K",
    "°C",
    "℃",
    "°F",
    "eV",
    "meV",
    "keV",
    "Pa",
    "kPa",
    "MPa",
    "GPa",
    "nm",
    "µm",
    "μm",
    "um",
    "mm",
    "cm",
    "Å",
    "g",
    "kg",
    "mg",
    "g/cm3",
    "g/cm^3",
    "g/mL",
    "mol/L",
    "mol",
    "mM",
    "S/cm",
    "S/m",
    "mS/cm",
    "mAh/g",
    "Ah",
    "V",
    "mV",
    "A",
    "mA",
    "W",
    "kW",
    "J",
    "kJ",
    "kJ/mol",
    "J/mol",
    "h",
    "min",
    "s",
    "Hz",
    "GHz",
    "T",
    "Ω",
    "ohm",
}


@dataclass(frozen=True)
class NumberReading:
    """A number read from text.

    Attributes:
        value: The value (a range's midpoint).
        text: The characters it was read from.
        start: Where they start in the text.
        is_range: Read from a range (``2-3``): the value is the midpoint.
    """

    value: float
    text: str
    start: int
    is_range: bool = False


@dataclass(frozen=True)
class _Cand:
    value: float
    start: int
    end: int  # after the number (and its exponent), before any unit
    num_start: int  # where the digits start (after the sign)
    signed: bool


def _to_float(num: str) -> float | None:
    s = num.translate(_SUPERSCRIPT).replace("\u2212", "-")
    for d in MINUS:
        s = s.replace(d, "-")
    s = re.sub(r"\s+", "", s)
    m = re.fullmatch(r"10(?:\^|\*\*)?[({]?([+\-]?\d+)[)}]?", s)
    if m and ("^" in s or "*" in s or num.strip().translate(_SUPERSCRIPT) != num.strip()):
        return 10.0 ** int(m.group(1))
    m = re.fullmatch(r"(.+?)[×xX*·∙]10(?:\^|\*\*)?[({]?([+\-]?\d+)[)}]?", s)
    mantissa, exp = (m.group(1), int(m.group(2))) if m else (s, 0)
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", mantissa):
        mantissa = mantissa.replace(",", "")
    else:
        mantissa = mantissa.replace(",", ".")  # a decimal comma (1,2345 / 2,5)
    try:
        value = float(mantissa) * 10.0**exp
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def _word_at(text: str, i: int) -> str:
    a = i
    while a > 0 and not text[a - 1].isspace():
        a -= 1
    b = i
    while b < len(text) and not text[b].isspace():
        b += 1
    return text[a:b].strip(".,;:!?\"'")


def _in_formula(text: str, num_start: int) -> bool:
    before = text[num_start - 1] if num_start > 0 else " "
    if before.isalpha() or before in ")]}":
        return True
    word = _word_at(text, num_start)
    return bool(_FORMULA_WORD.match(word) and _ELEMENT_DIGIT.search(word))


def _candidates(text: str) -> list[_Cand]:
    out: list[_Cand] = []
    for m in _NUMBER.finditer(text):
        num_start = m.start("num")
        value = _to_float(m.group("num"))
        if value is None or _in_formula(text, num_start):
            continue
        sign = m.group("sign")
        # A sign only counts when nothing word-like is glued to its left (2-3 is a range, x-1 a formula).
        signed = sign is not None and (m.start() == 0 or not text[m.start() - 1].isalnum())
        if signed and sign != "+":
            value = -value
        start = m.start() if signed else num_start
        out.append(_Cand(value, start, m.end(), num_start, signed))
    for m in _ZERO.finditer(text):
        out.append(_Cand(0.0, m.start(), m.end(), m.start(), False))
    return sorted(out, key=lambda c: c.start)


def _is_year(text: str, c: _Cand) -> bool:
    digits = text[c.num_start : c.end]
    if c.signed or not re.fullmatch(r"\d{4}", digits) or not 1900 <= int(digits) <= 2100:
        return False
    return not _UNITLIKE_AFTER.match(text[c.end :])


def _unit_follows(text: str, end: int, unit: str) -> bool:
    if not unit:
        return False
    tail = text[end:].lstrip()
    if not tail.lower().startswith(unit.lower()):
        return False
    rest = tail[len(unit) :]
    return not (unit[-1].isalpha() and rest[:1].isalpha())


def read_number(text: str, unit: str = "") -> NumberReading | None:
    """The value a free-text answer states (see the module docstring for the rules); None when it states none.

    Args:
        text: The answer.
        unit: The property's unit (``eV``); a number followed by it is preferred over earlier numbers.
    """
    cands = _candidates(text)
    readings: list[tuple[NumberReading, int]] = []  # (reading, end)
    i = 0
    while i < len(cands):
        c = cands[i]
        if _PLUS_MINUS.search(text[: c.num_start]) and readings:
            i += 1  # the uncertainty of the value before it
            continue
        nxt = cands[i + 1] if i + 1 < len(cands) else None
        if nxt is not None:
            # 2-3 is read by the regex as 2 and -3: a dash right before the second number joins the two.
            sep = text[c.end : nxt.start]
            joined_by_dash = nxt.signed and text[nxt.start] in MINUS and not sep.strip()
            if joined_by_dash or (_RANGE_JOIN.match(sep) and _range_words_ok(text, c, sep)):
                lo, hi = c.value, (abs(nxt.value) if joined_by_dash else nxt.value)
                reading = NumberReading((lo + hi) / 2, text[c.start : nxt.end], c.start, is_range=True)
                readings.append((reading, nxt.end))
                i += 2
                continue
        readings.append((NumberReading(c.value, text[c.start : c.end], c.start), c.end))
        i += 1
    if unit:
        readings = [x for x in readings if not _other_unit(text, x[1], unit)]
    years = {r.start for r, _ in readings if _is_year(text, _cand_at(cands, r.start))}
    if years:
        others = [x for x in readings if x[0].start not in years]
        readings = others or [x for x in readings if not _YEAR_CUE.search(text[: x[0].start])]
    if not readings:
        return None
    with_unit = [r for r, end in readings if _unit_follows(text, end, unit)]
    return with_unit[0] if with_unit else readings[0][0]


def _other_unit(text: str, end: int, unit: str) -> bool:
    m = _UNIT_AFTER.match(text[end:])
    if m is None or m.group(1).rstrip(".,;:") not in KNOWN_UNITS:
        return False
    return not m.group(1).lower().startswith(unit.lower())


def _cand_at(cands: list[_Cand], start: int) -> _Cand:
    return next(c for c in cands if c.start == start)


def _range_words_ok(text: str, c: _Cand, join: str) -> bool:
    """``and`` makes a range only after ``between``; ``to``/``~``/a dash always do."""
    if join.strip().lower() != "and":
        return True
    return bool(re.search(r"\bbetween\s*$", text[: c.start], re.IGNORECASE))


def extract_number(text: str, unit: str = "") -> float | None:
    """The value ``text`` states (``read_number``), or None when it states none."""
    r = read_number(text, unit)
    return None if r is None else r.value


# A negation in the few words before a label cancels it: "not yes", "is not a metal", "isn't metallic".
_NEGATORS = {"not", "no", "never", "neither", "nor", "non", "without", "cannot", "isn't", "isnt", "aren't"}
_NEGATION_WINDOW = 3  # words; a clause boundary (.,;:!?) ends it


def _negated(text: str, start: int) -> bool:
    clause = re.split(r"[.,;:!?]", text[:start])[-1]
    words = re.findall(r"[\w']+", clause.lower())[-_NEGATION_WINDOW:]
    return any(w in _NEGATORS or w.endswith("n't") for w in words)


def snap_label(text: str, labels: list[str]) -> str | None:
    """Map free text onto one label of ``labels``; None when nothing matches.

    Rules, in order: the text starts with a label (longest first, so "hcp" beats "h"); then the label that
    occurs earliest anywhere in the text, as a whole word, and is not negated (a "not", "no", "never", ... in the
    three words before it in the same clause: "not yes" and "is not a metal" name no label). Case-insensitive.
    """
    t = " ".join(text.strip().lower().split())
    ordered = sorted(labels, key=len, reverse=True)
    for lab in ordered:
        if t.startswith(lab.lower()) and (len(t) == len(lab) or not t[len(lab)].isalnum()):
            return lab
    best, pos = None, None
    for lab in ordered:
        for m in re.finditer(rf"(?<![\w-]){re.escape(lab.lower())}(?![\w-])", t):
            if _negated(t, m.start()):
                continue
            if pos is None or m.start() < pos:
                best, pos = lab, m.start()
            break
    return best

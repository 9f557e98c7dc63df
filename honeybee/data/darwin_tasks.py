"""The DARWIN FAIR task table: how each instruction file (by stem) is typed, with its property and unit.

A task's type decides which metric reads its records: regression targets are parsed from the output, a
classification label is checked against the label set, "mixed" files are typed record by record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

SOURCE = "darwin_fair"
YES_NO = ("Yes", "No")
WATER_STABILITY = ("high", "low")

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER = re.compile(_NUM)
_SOLUBILITY = re.compile(rf"({_NUM})(\s*mol/L)?")
_PCE_LINE = re.compile(rf"^(.*\bPCE:\s*({_NUM}))\s*$", re.MULTILINE)
_YES_NO = re.compile(r"(yes|no)\b", re.IGNORECASE)
_WATER = re.compile(
    r"It has (high|low) water stability with (?:low|medium|high) confidence\.?", re.IGNORECASE
)


class Typed(NamedTuple):
    """The task-dependent part of a record's ``meta``."""

    task_type: str
    property: str
    unit: str = ""
    target: float | None = None
    label: str | None = None
    labels: tuple[str, ...] | None = None


def _number(output: str) -> float | None:
    return float(output) if _NUMBER.fullmatch(output) else None


def _yes_no(output: str) -> str | None:
    # The answer is a sentence (" No, Cr11(Fe12B)3 does not have glass formation ability."); its first word
    # is the label.
    m = _YES_NO.match(output)
    return m.group(1).capitalize() if m else None


def _sii_pce(output: str) -> float | None:
    m = _PCE_LINE.search(output)
    return float(m.group(2)) if m else None


def _pce_first(output: str) -> str:
    """Move the ``JV default PCE`` line first: the question asks for it, and metrics read the first number."""
    m = _PCE_LINE.search(output)
    if m is None:
        return output
    rest = [line for line in output.splitlines() if line != m.group(1)]
    return "\n".join([m.group(1), *rest])


def _esol(instruction: str, output: str) -> Typed | None:
    """ESOL mixes solubility regression with name <-> SMILES/SELFIES/InChI translation.

    A bare number is log10 solubility ("expressed as a logarithm in mol/L"); a number with "mol/L" is the
    solubility itself. They are separate properties so one metric never averages the two scales.
    """
    if "solubility" not in instruction:
        return Typed("generation", "translation")
    m = _SOLUBILITY.fullmatch(output)
    if m is None:
        return None
    if m.group(2):
        return Typed("regression", "solubility", "mol/L", float(m.group(1)))
    return Typed("regression", "log_solubility", "log10(mol/L)", float(m.group(1)))


def _water_stability(instruction: str, output: str) -> Typed | None:
    """waterStability mixes MOF water-stability classification with name -> formula-unit translation."""
    if "formula unit" in instruction:
        return Typed("generation", "activated_formula_unit")
    m = _WATER.fullmatch(output)
    if m is None:
        return None
    return Typed("classification", "water_stability", label=m.group(1).lower(), labels=WATER_STABILITY)


@dataclass(frozen=True)
class Task:
    """How one DARWIN file is typed.

    Attributes:
        task_type: "regression", "classification", "generation", or "mixed" (typed per record by
            ``per_record``).
        property: The property name in ``meta`` (snake case, shared with other sources where it means the
            same thing).
        unit: The unit of a regression target.
        labels: The classification label set; None: the labels found in the file.
        parse: Output -> target (regression; default: the output is a number) or label (classification;
            default: the output is the label). Returns None when the output cannot be read.
        per_record: For "mixed" tasks: ``(instruction, output) -> Typed``, None when unreadable.
        rewrite_output: Applied to the cleaned output before it is stored.
    """

    task_type: str
    property: str
    unit: str = ""
    labels: tuple[str, ...] | None = None
    parse: Callable[[str], Any] | None = None
    per_record: Callable[[str, str], Typed | None] | None = None
    rewrite_output: Callable[[str], str] | None = None

    def type_of(self, instruction: str, output: str) -> Typed | None:
        """Type one (non-negative) record; None when its output does not fit the task."""
        if self.per_record is not None:
            return self.per_record(instruction, output)
        if self.task_type == "regression":
            value = (self.parse or _number)(output)
            return None if value is None else Typed("regression", self.property, self.unit, target=value)
        if self.task_type == "classification":
            label = (self.parse or str)(output)
            if label is None or (self.labels is not None and label not in self.labels):
                return None
            return Typed("classification", self.property, label=label, labels=self.labels)
        return Typed("generation", self.property)


_OPV_PCE = Task("regression", "opv_pce", "%")
_OPV_DESIGN = Task("generation", "opv_donor_design")
_PEROVSKITE_PCE = Task("regression", "perovskite_pce", "%", parse=_sii_pce, rewrite_output=_pce_first)

TASKS: dict[str, Task] = {
    "matbench_expt_gap": Task("regression", "band_gap", "eV"),
    "matbench_steels": Task("regression", "yield_strength", "MPa"),
    "chembl": Task("regression", "lipophilicity"),  # logD at pH 7.4: a log ratio, no unit
    "ESOL": Task("mixed", "solubility", per_record=_esol),
    "opv_regression_train": _OPV_PCE,
    "opv_regression_test": _OPV_PCE,
    "opv_inverse_design_train": _OPV_DESIGN,
    "opv_inverse_design_test": _OPV_DESIGN,
    "sii_mdp_regression360": _PEROVSKITE_PCE,
    "sii_mdp_regression40": _PEROVSKITE_PCE,
    "matbench_glass": Task("classification", "glass_forming_ability", labels=YES_NO, parse=_yes_no),
    "matbench_is_metal": Task("classification", "is_metal", labels=YES_NO, parse=_yes_no),
    "pei": Task("classification", "phase"),
    "waterStability": Task("mixed", "water_stability", per_record=_water_stability),
}

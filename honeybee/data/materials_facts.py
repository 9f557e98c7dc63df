"""The embedded default dataset: a table of materials properties rendered as instruction records.

``assets/materials_facts.csv`` was written for this project from well-known, handbook-level facts
(CRC Handbook of Chemistry and Physics, standard solid-state and semiconductor textbooks such as
Kittel and Sze): room-temperature crystal structure, experimental room-temperature band gap, density
and melting point of about 200 elements, compounds, oxides, ceramics and common alloys. A cell is
left empty wherever the value is not textbook-standard (e.g. materials that decompose or sublime
have no melting point, alloys melt over a range and have none either).

Each present cell becomes one or more DARWIN-style records: a fixed question as ``instruction``, the
material as ``input`` (e.g. ``"silicon (Si)"``) and a short, parseable ``output`` (``"1.12 eV"``,
``"semiconductor"``, ``"Yes"``).
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from honeybee.data.readers import csv_rows, csv_text
from honeybee.data.records import Record
from honeybee.utils.errors import ConfigError, DataError

TABLE_PATH: Traversable = files("honeybee") / "assets" / "materials_facts.csv"

COLUMNS = (
    "material",
    "formula",
    "category",
    "crystal_structure",
    "band_gap_eV",
    "density_g_cm3",
    "melting_point_K",
    "electrical_class",
)
NUMERIC_COLUMNS = ("band_gap_eV", "density_g_cm3", "melting_point_K")
ELECTRICAL_CLASSES = ("metal", "semiconductor", "insulator")
# The only structure names the table may use, so a typo cannot silently become a new label.
CRYSTAL_STRUCTURES = (
    "fcc",
    "bcc",
    "hcp",
    "diamond cubic",
    "zinc blende",
    "wurtzite",
    "rock salt",
    "perovskite",
    "fluorite",
    "rutile",
    "corundum",
    "spinel",
    "cesium chloride",
    "hexagonal",
    "orthorhombic",
    "tetragonal",
    "monoclinic",
    "rhombohedral",
    "trigonal",
    "cubic",
    "amorphous",
)


def _yes_if_metal(electrical_class: str) -> str:
    return "Yes" if electrical_class == "metal" else "No"


@dataclass(frozen=True)
class Property:
    """How one table column is asked about and answered.

    Attributes:
        column: The table column the answer comes from.
        name: Human-readable property name.
        unit: Unit appended to regression answers ("" for classification).
        task_type: "regression" or "classification".
        labels: The label set for classification; ``None`` for regression, and for crystal structure,
            whose labels are the structures present in the rendered rows.
        templates: The instructions, one of which is picked per record.
        transform: Maps the cell to the answer when they differ (``is_metal``); ``None`` otherwise.
    """

    column: str
    name: str
    unit: str
    task_type: str
    labels: tuple[str, ...] | None
    templates: tuple[str, ...]
    transform: Callable[[Any], Any] | None = None


PROPERTIES: dict[str, Property] = {
    "band_gap": Property(
        column="band_gap_eV",
        name="band gap",
        unit="eV",
        task_type="regression",
        labels=None,
        templates=(
            "What is the band gap of the given material?",
            "Tell me the band gap of the given material.",
            "Given the material, what is its band gap in eV?",
            "Report the experimental room-temperature band gap of the given material.",
            "How large is the electronic band gap of the given material?",
        ),
    ),
    "density": Property(
        column="density_g_cm3",
        name="density",
        unit="g/cm^3",
        task_type="regression",
        labels=None,
        templates=(
            "What is the density of the given material?",
            "Tell me the density of the given material.",
            "Given the material, what is its density in g/cm^3?",
            "Report the room-temperature density of the given material.",
            "How dense is the given material?",
        ),
    ),
    "melting_point": Property(
        column="melting_point_K",
        name="melting point",
        unit="K",
        task_type="regression",
        labels=None,
        templates=(
            "What is the melting point of the given material?",
            "Tell me the melting point of the given material.",
            "Given the material, what is its melting point in kelvin?",
            "At what temperature does the given material melt?",
            "Report the melting temperature of the given material.",
        ),
    ),
    "electrical_class": Property(
        column="electrical_class",
        name="electrical class",
        unit="",
        task_type="classification",
        labels=ELECTRICAL_CLASSES,
        templates=(
            "Is the given material a metal, a semiconductor, or an insulator?",
            "Classify the given material as a metal, semiconductor, or insulator.",
            "What is the electrical class of the given material? Answer metal, semiconductor, or insulator.",
            "Given the material, tell me whether it is a metal, a semiconductor, or an insulator.",
        ),
    ),
    "crystal_structure": Property(
        column="crystal_structure",
        name="crystal structure",
        unit="",
        task_type="classification",
        labels=None,
        templates=(
            "What is the crystal structure of the given material?",
            "Tell me the crystal structure of the given material at room temperature.",
            "Given the material, what crystal structure does it adopt?",
            "Which crystal structure does the given material have?",
        ),
    ),
    "is_metal": Property(
        column="electrical_class",
        name="is metal",
        unit="",
        task_type="classification",
        labels=("Yes", "No"),
        templates=(
            "Is the given material a metal?",
            "Is the given material metallic? Answer Yes or No.",
            "Tell me whether the given material is a metal.",
            "Given the material, is it a metal?",
        ),
        transform=_yes_if_metal,
    ),
}


def load_table(path: str | Path | Traversable = TABLE_PATH) -> list[dict[str, Any]]:
    """Reads and validates the materials table.

    Args:
        path: The CSV file; defaults to the packaged table.

    Returns:
        One dict per material keyed by column; numeric columns are floats, empty cells are ``None``.

    Raises:
        DataError: If the header is wrong or a row is malformed (naming the file and line).
    """
    path = Path(path) if isinstance(path, str) else path
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    with csv_text(path) as f:
        reader = csv.reader(f)
        header = next(csv_rows(reader, path), None)
        if header is None or tuple(h.strip() for h in header) != COLUMNS:
            raise DataError(f"{path}:1: expected header {','.join(COLUMNS)}, got {header}")
        for cells in csv_rows(reader, path):
            where = f"{path}:{reader.line_num}"
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(COLUMNS):
                raise DataError(f"{where}: expected {len(COLUMNS)} fields, got {len(cells)}")
            row: dict[str, Any] = {col: (c.strip() or None) for col, c in zip(COLUMNS, cells)}
            for col in NUMERIC_COLUMNS:
                if row[col] is not None:
                    row[col] = _parse_number(row[col], col, where)
            _check_row(row, where, seen)
            seen.add(row["material"])
            rows.append(row)
    return rows


def _parse_number(cell: str, column: str, where: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise DataError(f"{where}: {column} is not a number: {cell!r}") from None
    if not math.isfinite(value) or value < 0:
        raise DataError(f"{where}: {column} must be a finite non-negative number, got {cell!r}")
    return value


def _check_row(row: dict[str, Any], where: str, seen: set[str]) -> None:
    if row["material"] is None:
        raise DataError(f"{where}: empty material name")
    # The name is the split group, so a duplicate would leak one material across splits.
    if row["material"] in seen:
        raise DataError(f"{where}: duplicate material {row['material']!r}")
    if row["electrical_class"] not in (None, *ELECTRICAL_CLASSES):
        raise DataError(f"{where}: unknown electrical_class {row['electrical_class']!r}")
    if row["crystal_structure"] not in (None, *CRYSTAL_STRUCTURES):
        raise DataError(f"{where}: unknown crystal_structure {row['crystal_structure']!r}")


def render_records(
    rows: list[dict[str, Any]], seed: int = 0, templates_per_property: int = 1
) -> list[Record]:
    """Turns table rows into instruction records, one per (material, property, chosen template).

    Args:
        rows: Rows as returned by :func:`load_table`.
        seed: Seeds the template choice; the same rows and seed give the same records.
        templates_per_property: Distinct templates rendered for each present value.

    Returns:
        Records in row order, then property order, with ``meta`` holding ``source``, ``task_type``,
        ``property``, ``unit``, ``target``, ``label``, ``labels`` and ``group`` (the material name).

    Raises:
        ConfigError: If ``templates_per_property`` is below 1 or above the templates available.
    """
    most = min(len(p.templates) for p in PROPERTIES.values())
    if not 1 <= templates_per_property <= most:
        raise ConfigError(f"templates_per_property must be in [1, {most}], got {templates_per_property}")
    rng = random.Random(seed)
    structures = sorted({r["crystal_structure"] for r in rows if r["crystal_structure"]})
    records = []
    for row in rows:
        material = row["material"]
        formula = row["formula"]
        text = f"{material} ({formula})" if formula and formula != material else material
        for key, prop in PROPERTIES.items():
            value = row[prop.column]
            if value is None:
                continue
            if prop.transform is not None:
                value = prop.transform(value)
            regression = prop.task_type == "regression"
            labels = list(prop.labels) if prop.labels is not None else structures
            output = f"{value:g} {prop.unit}" if regression else value
            for template in rng.sample(prop.templates, templates_per_property):
                meta = {
                    "source": "materials_facts",
                    "task_type": prop.task_type,
                    "property": key,
                    "unit": prop.unit,
                    "target": value if regression else None,
                    "label": None if regression else value,
                    "labels": None if regression else list(labels),
                    "group": material,
                }
                records.append(Record(template, text, output, meta))
    return records


def build_records(seed: int = 0, templates_per_property: int = 1) -> list[Record]:
    """Loads the packaged table and renders it (see :func:`render_records`)."""
    return render_records(load_table(), seed=seed, templates_per_property=templates_per_property)

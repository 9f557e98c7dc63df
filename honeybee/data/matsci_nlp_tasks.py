"""MatSci-NLP's task registry: its datasets, tasks, questions and label sets, and the record builder.

Shared by the format readers (``matsci_nlp_formats``) and the loader (``matsci_nlp``); see ``matsci_nlp``
for how each task is built.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from honeybee.data.records import Record

SOURCE = "matsci_nlp"
TASKS = ("ner", "rc", "ee", "pc", "sar", "sc", "sf")
SPLITS = ("train", "test")
DATASETS: dict[str, tuple[str, ...]] = {
    "glass_non_glass": ("pc",),
    "sofc_sent": ("sc",),
    "sofc_token": ("ner", "sf"),
    "sc_comics": ("ner", "rc", "ee"),
    "synthesis_procedures": ("ner", "rc", "ee"),
    "structured_re": ("rc",),
    "synthesis_actions": ("sar",),
}
# The benchmark's questions (utils.py, no explanation); NER uses the sofc_token form for every source.
QUESTIONS = {
    "ner": "named entity recognition \t {}",
    "rc": "relation classification\t{},{}",
    "ee": "event extraction\t{}",
    "pc": "paragraph classification",
    "sar": "synthesis action retrieval \t {}",
    "sc": "sentence classification",
    "sf": "slot filling \t {}",
}
YES_NO = ("yes", "no")
SOFC_ENTITIES = ("MATERIAL", "VALUE", "DEVICE", "EXPERIMENT")
SOFC_SLOTS = (
    "anode_material",
    "cathode_material",
    "conductivity",
    "current_density",
    "degradation_rate",
    "device",
    "electrolyte_material",
    "experiment_evoking_word",
    "fuel_used",
    "interlayer_material",
    "open_circuit_voltage",
    "power_density",
    "resistance",
    "support_material",
    "thickness",
    "time_of_operation",
    "voltage",
    "working_temperature",
)
SYNTHESIS_ACTIONS = (
    "Mixing",
    "Purification",
    "Heating",
    "Starting",
    "Non-altering",
    "Cooling",
    "Reaction",
    "Shaping",
)
BATTERY_RELATIONS = ("Voltage", "Capacity", "Coulombic Efficiency", "Energy", "Conductivity")
NO_ARGUMENT = "none"
TEST_SHARE = 0.5  # of the documents of an unsplit file; the sample files are 200 + 200


class _Bad(Exception):
    """A malformed source record; the loader turns it into a ``BadRecords`` report with file and index."""


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise _Bad(message)


def _record(
    task: str, question: str, text: str, label: str, labels: Sequence[str], group: str, file: str
) -> Record:
    meta = {
        "source": SOURCE,
        "task": task,
        "task_type": "extraction" if task == "ee" else "classification",
        "property": task,
        "label": label,
        "labels": list(labels),
        "group": group,
        "file": file,
    }
    return Record(question, text, label, meta)


def document_split(group: str) -> str:
    """The split of a document of an unsplit file: "test" for the lower ``TEST_SHARE`` of SHA-1 space."""
    bucket = int(hashlib.sha1(group.encode("utf-8")).hexdigest()[:8], 16) / 16**8
    return "test" if bucket < TEST_SHARE else "train"


def _text_id(text: str) -> str:
    # The sc_comics-schema files carry no document id; the text is unique per document.
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


class Converted(NamedTuple):
    """What one source record turns into."""

    group: str
    records: list[Record]
    lost: int = 0  # questions dropped because their spans do not fit the text


def _read_json(path: Path) -> Any:
    from honeybee.data.readers import read_json_document

    return read_json_document(path)


def _canonical(value: Any, labels: dict[str, str], name: str) -> str:
    _require(isinstance(value, str) and value.lower() in labels, f"unknown {name} {value!r}")
    return labels[value.lower()]

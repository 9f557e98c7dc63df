"""DARWIN FAIR data (arXiv 2308.13565): instruction files and raw tables as typed instruction records.

Each DARWIN instruction file (``[{"instruction", "input", "output"}]``) is one task, registered in
``darwin_tasks.TASKS`` by its file stem with its task type, property and unit. DARWIN's text conventions are
undone here: inputs and outputs carry a leading space and a trailing newline, instructions end in the
separator ``" ->"`` (the OPV ones in ``"### ->"``), and the SII-MDP files end inputs with ``"###"`` and
outputs with ``"@@@"``.

DARWIN mixes deliberate "negative" records into its tasks: a random noun as input ("berry is not a InChI and
it does not have lipophilicity.") or a question without its conditions ("Unable to answer ..."). They are
kept as training data, typed ``generation`` with ``meta['negative'] = True`` and counted, so they never reach
a regression or classification metric. Any other output that the task's type cannot read is a bad record.

``records_from_table`` renders a raw FAIR table (``raw_csv/*.csv``) with DARWIN-style templates instead.
"""

from __future__ import annotations

import csv
import logging
import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from honeybee.data.darwin_tasks import _NUMBER, SOURCE, TASKS, Task, Typed
from honeybee.data.readers import BadRecords, csv_rows, csv_text, read_json_records
from honeybee.data.records import Record
from honeybee.data.schema import DarwinRecord, validated
from honeybee.utils.errors import ConfigError, DataError

log = logging.getLogger(__name__)

# The paraphrases DARWIN's convert.ipynb picks from; {key} is the input column, {property} the answer column.
DARWIN_TEMPLATES = (
    "What is {property} of given {key}?",
    "Write {property} of given {key}.",
    "Given {key}, write its {property}.",
    "Tell me {property} of given {key}.",
    "Given {key}, what is its {property}?",
)

_DONOR = re.compile(r"donor\s*:\s*(.+?),\s*and Acceptors", re.IGNORECASE)
_NOT_A_MATERIAL = r"(?:is not|does not|has no)\b"
_REFUSAL = "Unable to answer"
_END_MARKERS = ("->", "###", "@@@")


def clean_text(text: str) -> str:
    """Strip every line and DARWIN's trailing separators (``->``, ``###``, ``@@@``)."""
    out = "\n".join(line.strip() for line in text.strip().splitlines())
    while out.endswith(_END_MARKERS):
        out = out[: -3 if out.endswith(("###", "@@@")) else -2].rstrip()
    return out


def is_negative(input_text: str, output: str) -> bool:
    """DARWIN's deliberate negatives: a random noun that "is not a <key>", or a question it cannot answer."""
    if output.startswith(_REFUSAL):
        return True
    return bool(input_text) and re.match(re.escape(input_text) + " " + _NOT_A_MATERIAL, output) is not None


def _group(instruction: str, input_text: str, output: str) -> str:
    # The material keeps its records in one split; OPV records name the donor in the instruction or output.
    if input_text:
        return input_text
    m = _DONOR.search(instruction)
    return m.group(1) if m else output


def _fields(obj: Any, where: str, bad: BadRecords) -> tuple[str, str, str] | None:
    """Validated (``schema.DarwinRecord``), cleaned (instruction, input, output); None (after counting) when
    the object is unusable."""
    rec = validated(DarwinRecord, obj, where, bad)
    if rec is None:
        return None
    instruction, input_text, output = (clean_text(x or "") for x in (rec.instruction, rec.input, rec.output))
    if not instruction or not output:
        field = "instruction" if not instruction else "output"
        bad(f"{where}: field {field!r}: nothing left after removing DARWIN's separators")
        return None
    return instruction, input_text, output


def to_record(obj: Any, where: str, task_name: str, task: Task, bad: BadRecords) -> Record | None:
    """One DARWIN object -> a typed record; None (after counting) when it is bad."""
    fields = _fields(obj, where, bad)
    if fields is None:
        return None
    instruction, input_text, output = fields
    negative = is_negative(input_text, output)
    typed = Typed("generation", task.property) if negative else task.type_of(instruction, output)
    if typed is None:
        bad(f"{where}: output {output[:80]!r} does not fit task {task_name!r} ({task.task_type})")
        return None
    if task.rewrite_output is not None and not negative:
        output = task.rewrite_output(output)
    meta = {
        "source": SOURCE,
        "task": task_name,
        "task_type": typed.task_type,
        "property": typed.property,
        "unit": typed.unit,
        "target": typed.target,
        "label": typed.label,
        "labels": list(typed.labels) if typed.labels is not None else None,
        "group": _group(instruction, input_text, output),
        "negative": negative,
    }
    return Record(instruction, input_text, output, meta)


def _fill_labels(records: list[Record]) -> None:
    """Give classification records without a fixed label set the labels found in their file."""
    found = sorted({r.meta["label"] for r in records if r.meta["task_type"] == "classification"})
    for r in records:
        if r.meta["task_type"] == "classification" and r.meta["labels"] is None:
            r.meta["labels"] = list(found)


def _template(record: Record) -> str:
    # The record's answer with its material made a placeholder: "Yes, {input} is metal."
    out = record.output
    return out.replace(record.input, "{input}") if record.input else out


def _closest(own: str, templates: Counter) -> str:
    """The template most like ``own`` (difflib ratio), the most frequent on a tie."""
    from difflib import SequenceMatcher

    return max(sorted(templates), key=lambda t: (SequenceMatcher(None, own, t).ratio(), templates[t]))


def fill_answer_options(records: list[Record]) -> None:
    """Give each classification record ``meta['options']``: one answer per label, in the order of its labels.

    Likelihood scoring compares these as continuations of the prompt, so they are the records' own answer
    forms, what training targets look like ("Yes, La2In is metal." / "No, La2In is not metal."), not bare
    labels. The gold label's option is the record's own output; another label's is the answer form of that label
    (from the records given, typically one file) closest to the record's own wording, with the record's
    material put in, so the options differ in the label's words and not in paraphrase. A label no record
    answers with falls back to the label itself.
    """
    by_label: dict[str, Counter] = {}
    cls = [r for r in records if r.meta.get("task_type") == "classification" and r.meta.get("labels")]
    for r in cls:
        by_label.setdefault(str(r.meta["label"]), Counter())[_template(r)] += 1
    for r in cls:
        own = _template(r)
        options = []
        for label in r.meta["labels"]:
            if label == r.meta["label"]:
                options.append(r.output)
            elif by_label.get(label):
                options.append(_closest(own, by_label[label]).replace("{input}", r.input))
            else:
                options.append(str(label))
        r.meta["options"] = options


def load_file(path: str | Path, on_bad_record: str = "error") -> list[Record]:
    """Load one DARWIN instruction file; its stem names the task (a key of ``TASKS``).

    Raises:
        DataError: An unknown task, a malformed file, a bad record (under "error"), or no usable record.
    """
    path = Path(path)
    task = TASKS.get(path.stem)
    if task is None:
        raise DataError(f"{path}: unknown DARWIN task {path.stem!r}; known: {', '.join(TASKS)}")
    bad = BadRecords(on_bad_record)
    records = [
        rec
        for where, obj in read_json_records(path, bad)
        if (rec := to_record(obj, where, path.stem, task, bad)) is not None
    ]
    bad.report(path)
    if not records:
        raise DataError(f"{path}: no usable records")
    _fill_labels(records)
    fill_answer_options(records)
    kinds = Counter(r.meta["task_type"] for r in records)
    log.info(
        "darwin_fair %s: %d record(s) (%s), %d negative, %d skipped",
        path.name,
        len(records),
        ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())),
        sum(r.meta["negative"] for r in records),
        len(bad.skipped),
    )
    return records


def task_files(path: str | Path | Sequence[str | Path], tasks: Sequence[str] | None = None) -> list[Path]:
    """The files to load: one file, a list of files, or every ``*.json`` in a folder; filtered by ``tasks``.

    Raises:
        ConfigError: ``tasks`` names a task that is not in ``TASKS``.
        DataError: A missing path, an empty folder, or a requested task with no file.
    """
    if tasks is not None:
        unknown = sorted(set(tasks) - set(TASKS))
        if unknown:
            raise ConfigError(f"data.tasks: unknown DARWIN task(s) {unknown}; known: {', '.join(TASKS)}")
    if isinstance(path, (str, Path)):
        p = Path(path)
        if p.is_dir():
            files = sorted(p.glob("*.json"))
            if not files:
                raise DataError(f"{p}: no *.json files")
        else:
            files = [p]
    else:
        files = [Path(f) for f in path]
    for f in files:
        if not f.is_file():
            raise DataError(f"data file not found: {f}")
    if tasks is None:
        return files
    missing = sorted(set(tasks) - {f.stem for f in files})
    if missing:
        raise DataError(f"{path}: no file for DARWIN task(s) {missing}")
    return [f for f in files if f.stem in tasks]


def load_darwin_fair(
    path: str | Path | Sequence[str | Path], tasks: Sequence[str] | None = None, on_bad_record: str = "error"
) -> list[Record]:
    """Load DARWIN instruction files (see ``task_files``) into typed records.

    Args:
        path: A file, a list of files, or a folder of ``<task>.json`` files.
        tasks: File stems to keep (keys of ``TASKS``); None keeps every file found.
        on_bad_record: "error" raises on the first bad record; "skip" skips, counts and logs it.

    Returns:
        Records in file order. ``meta``: ``source``, ``task`` (file stem), ``task_type``, ``property``,
        ``unit``, ``target`` (float, regression), ``label`` and ``labels`` (classification), ``group``,
        ``negative``.
    """
    return [r for f in task_files(path, tasks) for r in load_file(f, on_bad_record)]


def _snake(name: str) -> str:
    return re.sub(r"\W+", "_", name.strip().lower()).strip("_")


def _table_label(cell: str) -> str:
    # The matbench tables store booleans as TRUE/FALSE; DARWIN asks and answers them as Yes/No.
    return {"true": "Yes", "false": "No"}.get(cell.lower(), cell)


def records_from_table(
    csv_path: str | Path,
    key_column: str,
    property_column: str,
    templates: Sequence[str] = DARWIN_TEMPLATES,
    task_type: str = "regression",
    unit: str = "",
    seed: int = 0,
    on_bad_record: str = "error",
) -> list[Record]:
    """Render a FAIR table as DARWIN-style records: one per row, with a template picked by a seeded RNG.

    Args:
        csv_path: A CSV file with a header row.
        key_column: The column that identifies the material (becomes ``input`` and ``group``).
        property_column: The column that holds the answer.
        templates: Instructions with ``{key}`` and ``{property}`` placeholders (the two column names).
        task_type: "regression" (the cell is a number; ``unit`` is appended to the output) or
            "classification" (the cell is the label; TRUE/FALSE become Yes/No).
        unit: Unit of a regression target.
        seed: Seeds the template choice; the same table and seed give the same records.
        on_bad_record: "error" raises on the first bad row; "skip" skips, counts and logs it.

    Returns:
        Records in row order; ``meta['labels']`` is the sorted label set of the whole table.

    Raises:
        ConfigError: An unknown task type, no templates, or a template with another placeholder.
        DataError: A missing file or column, a bad row (under "error"), or no usable row.
    """
    if task_type not in ("regression", "classification"):
        raise ConfigError(f"task_type={task_type!r} is not one of: regression, classification")
    if not templates:
        raise ConfigError("records_from_table needs at least one template")
    try:
        instructions = [t.format(key=key_column, property=property_column) for t in templates]
    except (KeyError, IndexError) as e:
        raise ConfigError(f"template placeholder {e} is not one of {{key}}, {{property}}") from None
    path = Path(csv_path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    bad = BadRecords(on_bad_record)
    rng = random.Random(seed)
    rows: list[tuple[str, str, float | None, str]] = []
    with csv_text(path) as f:
        reader = csv.DictReader(f)
        try:
            fieldnames = reader.fieldnames  # reads the header row
        except csv.Error as e:
            raise DataError(f"{path}:1: malformed CSV ({e})") from None
        missing = [c for c in (key_column, property_column) if c not in (fieldnames or [])]
        if missing:
            raise DataError(f"{path}: no column(s) {missing}; header: {fieldnames}")
        for row in csv_rows(reader, path):
            where = f"{path}:{reader.line_num}"
            key, cell = (row[key_column] or "").strip(), (row[property_column] or "").strip()
            if not key or not cell:
                bad(f"{where}: empty {key_column if not key else property_column}")
                continue
            target = None
            if task_type == "regression":
                target = float(cell) if _NUMBER.fullmatch(cell) else None
                if target is None or not math.isfinite(target):
                    bad(f"{where}: {property_column} is not a number: {cell!r}")
                    continue
            rows.append((key, cell, target, rng.choice(instructions)))
    bad.report(path)
    if not rows:
        raise DataError(f"{path}: no usable rows")
    regression = task_type == "regression"
    labels = None if regression else sorted({_table_label(cell) for _, cell, _, _ in rows})
    prop = _snake(property_column)
    records = []
    for key, cell, target, instruction in rows:
        meta = {
            "source": SOURCE,
            "task": path.stem,
            "task_type": task_type,
            "property": prop,
            "unit": unit,
            "target": target,
            "label": None if regression else _table_label(cell),
            "labels": None if labels is None else list(labels),
            "group": key,
            "negative": False,
        }
        output = f"{cell} {unit}".strip() if regression else _table_label(cell)
        records.append(Record(instruction, key, output, meta))
    return records

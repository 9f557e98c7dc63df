"""MatSci-NLP (Song, Miret, Liu, ACL 2023): seven materials-science NLP tasks as instruction records.

Every source file is converted from its native format with the question templates of the benchmark's
``utils.py``: the question is the ``instruction``, the sentence or paragraph it is about is the ``input``, and
the ``output`` is exactly one label, so evaluation can snap a generation onto ``meta['labels']``.

========  ======================================  ==========================================================
task      source files                            one record per
========  ======================================  ==========================================================
ner       sofc_token, sc_comics,                  entity span -> its entity type (sofc_token: BIO tags
          synthesis_procedures                    merged into spans, typed MATERIAL/VALUE/DEVICE/EXPERIMENT)
rc        structured_re, sc_comics,               argument pair -> the relation between them
          synthesis_procedures
ee        sc_comics, synthesis_procedures         event trigger -> ``arg:role,arg:role`` (``none:none`` when
                                                  it has no argument); events sharing a trigger are merged
pc        glass_non_glass                         abstract -> yes/no (is it about glasses)
sar       synthesis_actions                       annotated token -> its synthesis action
sc        sofc_sent                               sentence -> yes/no (does it describe an SOFC experiment)
sf        sofc_token                              token with a slot label -> its slot type (BIO prefix
                                                  dropped: the question names one token, not a span)
========  ======================================  ==========================================================

File names decide dataset and split: ``<dataset>.train_sample.json`` / ``<dataset>.test_sample.json`` hold
one split, ``<dataset>.json`` (``synthesis_procedures.json``, or any whole upstream file) holds none and is
split by document: a document is in the test split when the SHA-1 of its group id falls in the lower half.

The span offsets of the sc_comics schema drift: in many synthesis_procedures documents every offset after some
point is 1-3 characters too large ("eposited " for "deposited"). ``align_spans`` re-finds the drift; spans
that still do not fall on word boundaries are dropped with their questions and counted, and a document with
more than ``MAX_MISALIGNED`` of its spans unusable is dropped whole, as its offsets cannot be trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from honeybee.data.readers import BadRecords, read_json_records
from honeybee.data.records import Record
from honeybee.utils.errors import ConfigError, DataError

log = logging.getLogger(__name__)

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
MAX_DRIFT = 8  # characters an offset may be off by
MAX_MISALIGNED = 0.1  # share of unusable spans above which a document's offsets are distrusted

_FILE_NAME = re.compile(r"(?P<dataset>\w+?)(?:\.(?P<split>train|test)_sample)?\.jsonl?")


class _Bad(Exception):
    """A malformed source record; the loader turns it into a ``BadRecords`` report with file and index."""


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise _Bad(message)


def _str(obj: dict[str, Any], key: str) -> str:
    _require(key in obj, f"missing field {key!r}")
    _require(isinstance(obj[key], str), f"field {key!r} must be a string, got {type(obj[key]).__name__}")
    _require(bool(obj[key].strip()), f"empty {key}")
    return obj[key]


def _str_list(value: Any, name: str) -> list[str]:
    _require(
        isinstance(value, list) and all(isinstance(v, str) for v in value),
        f"{name} must be a list of strings",
    )
    return value


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
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None


# ------------------------------------------------------------- pandas orient="split" tables (pc, sc, ner, sf)


def _split_table(
    path: Path, columns: Sequence[str], bad: BadRecords
) -> list[tuple[str, tuple[Any, dict[str, Any]]]]:
    """``(where, (index, row))`` for each row of a pandas ``orient="split"`` JSON file."""
    obj = _read_json(path)
    if (
        not isinstance(obj, dict)
        or not isinstance(obj.get("columns"), list)
        or not isinstance(obj.get("data"), list)
    ):
        raise DataError(f'{path}: expected a pandas orient="split" object with "columns" and "data"')
    missing = [c for c in columns if c not in obj["columns"]]
    if missing:
        raise DataError(f"{path}: no column(s) {missing}; columns: {obj['columns']}")
    index = obj.get("index") or list(range(len(obj["data"])))
    if len(index) != len(obj["data"]):
        raise DataError(f"{path}: {len(index)} index entries for {len(obj['data'])} rows")
    rows = []
    for i, (key, row) in enumerate(zip(index, obj["data"])):
        where = f"{path}: record {i}"
        if not isinstance(row, list) or len(row) != len(obj["columns"]):
            bad(f"{where}: expected a list of {len(obj['columns'])} values")
            continue
        rows.append((where, (key, dict(zip(obj["columns"], row)))))
    return rows


def _yes_no(value: Any, column: str) -> str:
    # bool is an int subclass and 1.0 == 1; only the integers 0 and 1 are labels.
    _require(type(value) is int and value in (0, 1), f"{column} must be 0 or 1, got {value!r}")
    return "yes" if value == 1 else "no"


def _paragraphs(item: tuple[Any, dict[str, Any]], file: str, dataset: str, tasks: Sequence[str]) -> Converted:
    key, row = item
    group = f"{dataset}:{key}"
    label = _yes_no(row["Label"], "Label")
    return Converted(
        group, [_record("pc", QUESTIONS["pc"], _str(row, "Abstract"), label, YES_NO, group, file)]
    )


def _sentences(item: tuple[Any, dict[str, Any]], file: str, dataset: str, tasks: Sequence[str]) -> Converted:
    key, row = item
    group = f"{dataset}:{key}"
    label = _yes_no(row["sent_labels"], "sent_labels")
    return Converted(group, [_record("sc", QUESTIONS["sc"], _str(row, "sents"), label, YES_NO, group, file)])


def _bio_type(tag: str, types: Sequence[str], name: str) -> str | None:
    """``B-X``/``I-X`` -> ``X`` (checked against ``types``); ``O`` -> None."""
    if tag == "O":
        return None
    _require(tag[:2] in ("B-", "I-") and tag[2:] in types, f"unknown {name} tag {tag!r}")
    return tag[2:]


def bio_spans(tags: Sequence[str], types: Sequence[str]) -> list[tuple[int, int, str]]:
    """``(start, end, type)`` token spans of a BIO sequence; an ``I-X`` not following ``X`` starts a span."""
    spans: list[tuple[int, int, str]] = []
    prev = None
    for i, tag in enumerate(tags):
        kind = _bio_type(tag, types, "entity")
        if kind is not None and (tag.startswith("B-") or kind != prev):
            spans.append((i, i + 1, kind))
        elif kind is not None:
            spans[-1] = (spans[-1][0], i + 1, kind)
        prev = kind
    return spans


def _sofc_tokens(
    item: tuple[Any, dict[str, Any]], file: str, dataset: str, tasks: Sequence[str]
) -> Converted:
    key, row = item
    group = f"{dataset}:{key}"
    tokens = _str_list(row["tokens"], "tokens")
    entity_tags = _str_list(row["token_labels"], "token_labels")
    slot_tags = _str_list(row["slot_labels"], "slot_labels")
    _require(
        len(tokens) == len(entity_tags) == len(slot_tags),
        "tokens, token_labels and slot_labels differ in length",
    )
    text = " ".join(tokens)
    out = []
    if "ner" in tasks:
        for start, end, kind in bio_spans(entity_tags, SOFC_ENTITIES):
            span = " ".join(tokens[start:end])
            out.append(_record("ner", QUESTIONS["ner"].format(span), text, kind, SOFC_ENTITIES, group, file))
    if "sf" in tasks:
        for token, tag in zip(tokens, slot_tags):
            slot = _bio_type(tag, SOFC_SLOTS, "slot")
            if slot is not None:
                out.append(_record("sf", QUESTIONS["sf"].format(token), text, slot, SOFC_SLOTS, group, file))
    return Converted(group, out)


_TABLES: dict[str, tuple[tuple[str, ...], Callable[..., Converted]]] = {
    "glass_non_glass": (("Abstract", "Label"), _paragraphs),
    "sofc_sent": (("sents", "sent_labels"), _sentences),
    "sofc_token": (("tokens", "token_labels", "slot_labels"), _sofc_tokens),
}


# ------------------------------------------------------------- sc_comics schema (ner, rc, ee), with spans


def _on_word_boundaries(text: str, start: int, end: int) -> bool:
    if not 0 <= start < end <= len(text):
        return False
    span = text[start:end]
    if span != span.strip():
        return False
    cuts_left = start > 0 and text[start - 1].isalnum() and span[0].isalnum()
    cuts_right = end < len(text) and text[end].isalnum() and span[-1].isalnum()
    return not (cuts_left or cuts_right)


def align_spans(text: str, spans: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int] | None]:
    """Re-find character offsets that drifted by a few characters, as they do in synthesis_procedures.

    Spans are visited in text order, carrying the drift found so far: a span keeps the first of (current
    drift, 1-3 more characters, 1 fewer) that puts it on word boundaries. The drift only ever reduces offsets
    and stays within ``MAX_DRIFT``. A span with no such shift maps to None.

    Args:
        text: The document.
        spans: Span id -> ``(start, end)`` character offsets, end exclusive.

    Returns:
        Span id -> corrected ``(start, end)``, or None when the span cannot be placed.
    """
    out: dict[str, tuple[int, int] | None] = {}
    drift = 0
    for key, (start, end) in sorted(spans.items(), key=lambda kv: kv[1]):
        out[key] = None
        for shift in (drift, drift - 1, drift - 2, drift - 3, drift + 1):
            if -MAX_DRIFT <= shift <= 0 and _on_word_boundaries(text, start + shift, end + shift):
                drift, out[key] = shift, (start + shift, end + shift)
                break
    return out


def _label_sets(obj: dict[str, Any], path: Path) -> dict[str, dict[str, str]]:
    """Lower-cased label -> label as the file's ``*_set`` lists spell it (the annotations' case differs)."""
    sets = {}
    for key in ("t_type_set", "r_type_set", "e_role_set"):
        values = obj.get(key)
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise DataError(f"{path}: {key!r} must be a non-empty list of strings")
        sets[key] = {v.lower(): v for v in values}
    return sets


def _canonical(value: Any, labels: dict[str, str], name: str) -> str:
    _require(isinstance(value, str) and value.lower() in labels, f"unknown {name} {value!r}")
    return labels[value.lower()]


def _dict(doc: dict[str, Any], key: str) -> dict[str, Any]:
    _require(isinstance(doc.get(key), dict), f"field {key!r} must be an object")
    return doc[key]


def _spans(doc: dict[str, Any]) -> dict[str, tuple[int, int]]:
    spans = {}
    for key, value in _dict(doc, "t_span_dict").items():
        ok = isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)
        _require(ok, f"t_span_dict[{key!r}] must be [start, end], got {value!r}")
        spans[key] = (value[0], value[1])
    return spans


class _Document:
    """One annotated document: resolves ids to span texts, counting questions lost to unusable spans."""

    def __init__(self, doc: dict[str, Any], sets: dict[str, dict[str, str]]) -> None:
        self.text = _str(doc, "text")
        self.types = _dict(doc, "t_type_dict")
        self.relation_types = _dict(doc, "r_type_dict")
        self.relation_args = _dict(doc, "r_args_dict")
        self.triggers = _dict(doc, "e_trig_dict")
        self.event_args = _dict(doc, "e_args_dict")
        self.sets = sets
        self.aligned = align_spans(self.text, _spans(doc))
        unusable = sum(v is None for v in self.aligned.values())
        self.trusted = unusable <= MAX_MISALIGNED * len(self.aligned)
        self.lost = 0

    def span(self, ref: Any) -> str | None:
        """Text of a ``T`` id, or of an ``E`` id's trigger; None when its span is unusable."""
        _require(isinstance(ref, str), f"argument id must be a string, got {ref!r}")
        t_id = self.triggers.get(ref) if ref.startswith("E") else ref
        _require(t_id in self.aligned, f"unknown span id {ref!r}")
        where = self.aligned[t_id] if self.trusted else None
        return None if where is None else self.text[where[0] : where[1]]

    def entities(self) -> list[tuple[str, str]]:
        out = []
        for t_id in self.aligned:
            _require(t_id in self.types, f"span {t_id!r} has no entity type")
            label = _canonical(self.types[t_id], self.sets["t_type_set"], "entity type")
            span = self.span(t_id)
            if span is None:
                self.lost += 1
            else:
                out.append((span, label))
        return out

    def relations(self) -> list[tuple[str, str, str]]:
        out = []
        for r_id, args in self.relation_args.items():
            _require(isinstance(args, list) and len(args) == 2, f"r_args_dict[{r_id!r}] must hold two ids")
            label = _canonical(self.relation_types.get(r_id), self.sets["r_type_set"], "relation type")
            spans = [self.span(a) for a in args]
            if None in spans:
                self.lost += 1
            else:
                # Commas separate the two arguments in the question, so upstream removes them from each.
                out.append((spans[0].replace(",", ""), spans[1].replace(",", ""), label))
        return out

    def events(self) -> list[tuple[str, str]]:
        """(trigger, ``arg:role,...``) per trigger; the events of one trigger share one question."""
        by_trigger: dict[str, list[str]] = {}
        broken: set[str] = set()
        for e_id, t_id in self.triggers.items():
            parts = by_trigger.setdefault(t_id, [])
            args = self.event_args.get(e_id, [])
            _require(isinstance(args, list), f"e_args_dict[{e_id!r}] must be a list")
            for arg in args:
                _require(
                    isinstance(arg, list) and len(arg) == 2, f"event argument {arg!r} must be [role, id]"
                )
                role = _canonical(arg[0], self.sets["e_role_set"], "event role")
                span = self.span(arg[1])
                if span is None:
                    broken.add(t_id)
                    continue
                part = f"{_bare(span)}:{_bare(role)}"
                if part not in parts:
                    parts.append(part)
        out = []
        for t_id, parts in by_trigger.items():
            trigger = self.span(t_id)
            if trigger is None or t_id in broken:
                self.lost += 1
            else:
                out.append((trigger, ",".join(parts) or f"{NO_ARGUMENT}:{NO_ARGUMENT}"))
        return out


def _bare(text: str) -> str:
    # ',' and ':' structure the ``arg:role,arg:role`` answer, so they cannot appear inside its parts.
    return text.replace(",", "").replace(":", "")


def _annotated(
    doc: Any, file: str, dataset: str, tasks: Sequence[str], sets: dict[str, dict[str, str]]
) -> Converted:
    _require(isinstance(doc, dict), f"expected an object, got {type(doc).__name__}")
    d = _Document(doc, sets)
    group = f"{dataset}:{_text_id(d.text)}"
    labels = {k: list(v.values()) for k, v in sets.items()}
    out = []
    if "ner" in tasks:
        for span, label in d.entities():
            out.append(
                _record(
                    "ner", QUESTIONS["ner"].format(span), d.text, label, labels["t_type_set"], group, file
                )
            )
    if "rc" in tasks:
        for a, b, label in d.relations():
            out.append(
                _record("rc", QUESTIONS["rc"].format(a, b), d.text, label, labels["r_type_set"], group, file)
            )
    if "ee" in tasks:
        roles = [*labels["e_role_set"], NO_ARGUMENT]
        for trigger, answer in d.events():
            out.append(_record("ee", QUESTIONS["ee"].format(trigger), d.text, answer, roles, group, file))
    return Converted(group, out, d.lost)


def _annotated_docs(path: Path) -> tuple[list[tuple[str, Any]], Callable[..., Converted]]:
    """The documents of an sc_comics-schema file, and their converter bound to the file's label sets."""
    obj = _read_json(path)
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
        raise DataError(f'{path}: expected an object with a "data" list')
    sets = _label_sets(obj, path)
    return [(f"{path}: record {i}", doc) for i, doc in enumerate(obj["data"])], partial(_annotated, sets=sets)


# ------------------------------------------------------------------ JSON / JSONL record lists (rc, sar)


def _battery_relations(obj: Any, file: str, dataset: str, tasks: Sequence[str]) -> Converted:
    _require(isinstance(obj, dict), f"expected an object, got {type(obj).__name__}")
    text = _str(obj, "sentText")
    _require(isinstance(obj.get("docId"), (int, str)), "field 'docId' must be an id")
    group = f"{dataset}:{obj['docId']}"  # sentences of one paper stay in one split
    mentions = obj.get("relationMentions")
    _require(isinstance(mentions, list), "field 'relationMentions' must be a list")
    out = []
    for m in mentions:
        _require(isinstance(m, dict), "a relation mention must be an object")
        a, b = _str(m, "arg1Text").replace(",", ""), _str(m, "arg2Text").replace(",", "")
        label = _canonical(_str(m, "relText"), {r.lower(): r for r in BATTERY_RELATIONS}, "relation")
        out.append(_record("rc", QUESTIONS["rc"].format(a, b), text, label, BATTERY_RELATIONS, group, file))
    return Converted(group, out)


def _synthesis_actions(obj: Any, file: str, dataset: str, tasks: Sequence[str]) -> Converted:
    _require(isinstance(obj, dict), f"expected an object, got {type(obj).__name__}")
    text = _str(obj, "sentence")
    group = f"{dataset}:{_str(obj, 'doi')}"  # sentences of one paper stay in one split
    annotations = obj.get("annotations")
    _require(isinstance(annotations, list), "field 'annotations' must be a list")
    out = []
    for a in annotations:
        _require(
            isinstance(a, dict) and isinstance(a.get("token"), str), "an annotation must be {token, tag}"
        )
        tag = a.get("tag")
        _require(isinstance(tag, str), f"tag of {a['token']!r} must be a string")
        if tag:  # untagged tokens are not questions
            label = _canonical(tag, {t.lower(): t for t in SYNTHESIS_ACTIONS}, "synthesis action")
            out.append(
                _record(
                    "sar", QUESTIONS["sar"].format(a["token"]), text, label, SYNTHESIS_ACTIONS, group, file
                )
            )
    return Converted(group, out)


_LISTS: dict[str, Callable[..., Converted]] = {
    "structured_re": _battery_relations,
    "synthesis_actions": _synthesis_actions,
}


# --------------------------------------------------------------------------------------------- loading


def parse_file_name(path: Path) -> tuple[str, str | None] | None:
    """``(dataset, split)`` from ``<dataset>[.<split>_sample].json``; None for other files."""
    m = _FILE_NAME.fullmatch(path.name)
    if m is None or m.group("dataset") not in DATASETS:
        return None
    return m.group("dataset"), m.group("split")


def _files(folder_or_files: str | Path | Sequence[str | Path]) -> list[tuple[Path, str, str | None]]:
    if isinstance(folder_or_files, (str, Path)) and Path(folder_or_files).is_dir():
        folder = Path(folder_or_files)
        found = [(p, *named) for p in sorted(folder.iterdir()) if (named := parse_file_name(p)) is not None]
        if not found:
            raise DataError(f"{folder}: no MatSci-NLP files (<dataset>[.train_sample|.test_sample].json)")
        return found
    paths = (
        [Path(folder_or_files)]
        if isinstance(folder_or_files, (str, Path))
        else [Path(p) for p in folder_or_files]
    )
    out = []
    for p in paths:
        if not p.is_file():
            raise DataError(f"data file not found: {p}")
        named = parse_file_name(p)
        if named is None:
            raise DataError(
                f"{p}: not a MatSci-NLP file name; expected <dataset>[.train_sample|.test_sample].json "
                f"with dataset one of: {', '.join(DATASETS)}"
            )
        out.append((p, *named))
    return out


def _items(
    path: Path, dataset: str, bad: BadRecords
) -> tuple[list[tuple[str, Any]], Callable[..., Converted]]:
    """``(where, source record)`` pairs of a file and the converter for them."""
    if dataset in _TABLES:
        columns, convert = _TABLES[dataset]
        return _split_table(path, columns, bad), convert
    if dataset in _LISTS:
        return [(f"{path}: record {i}", obj) for i, obj in read_json_records(path, bad)], _LISTS[dataset]
    return _annotated_docs(path)


def load_file(
    path: str | Path,
    dataset: str,
    tasks: Sequence[str] = TASKS,
    on_bad_record: str = "error",
    split: str | None = None,
) -> list[Record]:
    """Convert one source file, logging its record count per task.

    Args:
        path: The file.
        dataset: Its dataset (a key of ``DATASETS``), which fixes its format.
        tasks: Tasks to build.
        on_bad_record: "error" | "skip".
        split: Keep only this split's documents (see ``document_split``); None keeps all.
    """
    path = Path(path)
    bad = BadRecords(on_bad_record)
    items, convert = _items(path, dataset, bad)
    docs = []
    for where, item in items:
        try:
            docs.append(convert(item, path.name, dataset, tasks))
        except _Bad as e:
            bad(f"{where}: {e}")
    bad.report(path)
    kept = [d for d in docs if split is None or document_split(d.group) == split]
    records = [r for d in kept for r in d.records]
    counts = Counter(r.meta["task"] for r in records)
    lost = sum(d.lost for d in kept)
    log.info(
        "matsci_nlp %s%s: %d record(s) (%s) from %d document(s); %d skipped; "
        "%d question(s) lost to unusable spans",
        path.name,
        f" [{split} documents]" if split else "",
        len(records),
        ", ".join(f"{t} {n}" for t, n in sorted(counts.items())),
        len(kept),
        len(bad.skipped),
        lost,
    )
    return records


def load_matsci_nlp(
    folder_or_files: str | Path | Sequence[str | Path],
    tasks: Sequence[str] | None = None,
    split: str | None = None,
    on_bad_record: str = "error",
) -> list[Record]:
    """Load MatSci-NLP source files as instruction records.

    Args:
        folder_or_files: A folder (every MatSci-NLP file in it), one file, or a list of files.
        tasks: Tasks to keep (of ``TASKS``); None keeps all seven. Files that yield none of them are not read.
        split: "train" or "test" keeps ``*.<split>_sample.json`` files and that split's documents of unsplit
            files (see ``document_split``); None keeps everything.
        on_bad_record: "error" raises on the first malformed source record; "skip" skips, counts and logs it.

    Returns:
        Records in file order. ``meta``: ``source``, ``task``, ``task_type`` ("classification"; "extraction"
        for ee), ``property`` (= task, so metrics are reported per task), ``label``, ``labels``, ``group``
        (the source document) and ``file`` (the source file name, for per-file counts).

    Raises:
        ConfigError: An unknown task or split.
        DataError: A missing, unrecognised or malformed file, a bad record (under "error"), or no records.
    """
    wanted = list(TASKS) if tasks is None else [str(t) for t in tasks]
    unknown = sorted(set(wanted) - set(TASKS))
    if unknown or not wanted:
        raise ConfigError(f"data.tasks: {unknown or wanted} is not a non-empty subset of: {', '.join(TASKS)}")
    if split not in (None, *SPLITS):
        raise ConfigError(f"data.split={split!r} is not one of: train, test, null")
    records = []
    for path, dataset, file_split in _files(folder_or_files):
        if not set(DATASETS[dataset]) & set(wanted) or (split and file_split and file_split != split):
            continue
        records += load_file(path, dataset, wanted, on_bad_record, split if file_split is None else None)
    if not records:
        raise DataError(f"{folder_or_files}: no MatSci-NLP records for tasks {wanted} (split {split})")
    return records

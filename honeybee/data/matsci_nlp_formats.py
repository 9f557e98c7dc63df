"""The three MatSci-NLP source formats, each read into ``Converted`` documents of instruction records.

* pandas ``orient="split"`` tables: glass_non_glass (pc), sofc_sent (sc), sofc_token (ner, sf);
* the sc_comics annotation schema with character spans: sc_comics, synthesis_procedures (ner, rc, ee);
* JSON / JSON Lines record lists: structured_re (rc), synthesis_actions (sar).

The span offsets of the sc_comics schema drift: in many synthesis_procedures documents every offset after some
point is 1-3 characters too large ("eposited " for "deposited"). ``align_spans`` re-finds the drift; spans
that still do not fall on word boundaries are dropped with their questions and counted, and a document with
more than ``MAX_MISALIGNED`` of its spans unusable is dropped whole, as its offsets cannot be trusted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from honeybee.data.matsci_nlp_tasks import (
    BATTERY_RELATIONS,
    NO_ARGUMENT,
    QUESTIONS,
    SOFC_ENTITIES,
    SOFC_SLOTS,
    SYNTHESIS_ACTIONS,
    YES_NO,
    Converted,
    _Bad,
    _canonical,
    _read_json,
    _record,
    _require,
    _str,
    _str_list,
    _text_id,
)
from honeybee.data.readers import BadRecords, read_json_records
from honeybee.utils.errors import DataError

MAX_DRIFT = 8  # characters an offset may be off by
MAX_MISALIGNED = 0.1  # share of unusable spans above which a document's offsets are distrusted


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
        if t_id not in self.aligned:
            raise _Bad(f"unknown span id {ref!r}")
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
            a, b = (self.span(arg) for arg in args)
            if a is None or b is None:
                self.lost += 1
            else:
                # Commas separate the two arguments in the question, so upstream removes them from each.
                out.append((a.replace(",", ""), b.replace(",", ""), label))
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


# --------------------------------------------------------------------------------------------- dispatch


def read_items(
    path: Path, dataset: str, bad: BadRecords
) -> tuple[list[tuple[str, Any]], Callable[..., Converted]]:
    """``(where, source record)`` pairs of a file and the converter for them."""
    if dataset in _TABLES:
        columns, convert = _TABLES[dataset]
        return _split_table(path, columns, bad), convert
    if dataset in _LISTS:
        return [(f"{path}: record {i}", obj) for i, obj in read_json_records(path, bad)], _LISTS[dataset]
    return _annotated_docs(path)

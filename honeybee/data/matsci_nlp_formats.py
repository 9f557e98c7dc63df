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

from honeybee.data.matsci_nlp_schema import (
    ActionSentence,
    AnnotatedDocument,
    AnnotatedFile,
    BatterySentence,
    GlassRow,
    SofcSentence,
    SofcTokens,
    SplitTable,
    fit,
)
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
    _text_id,
)
from honeybee.data.readers import BadRecords, read_json_records
from honeybee.data.schema import check
from honeybee.utils.errors import DataError

MAX_DRIFT = 8  # characters an offset may be off by
MAX_MISALIGNED = 0.1  # share of unusable spans above which a document's offsets are distrusted


# ------------------------------------------------------------- pandas orient="split" tables (pc, sc, ner, sf)


def _split_table(
    path: Path, columns: Sequence[str], bad: BadRecords
) -> list[tuple[str, tuple[Any, dict[str, Any]]]]:
    """``(where, (index, row))`` for each row of a pandas ``orient="split"`` JSON file."""
    table = check(SplitTable, _read_json(path))
    if isinstance(table, str):
        raise DataError(f'{path}: expected a pandas orient="split" object with "columns" and "data": {table}')
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{path}: no column(s) {missing}; columns: {table.columns}")
    index = table.index or list(range(len(table.data)))
    if len(index) != len(table.data):
        raise DataError(f"{path}: {len(index)} index entries for {len(table.data)} rows")
    rows = []
    for i, (key, row) in enumerate(zip(index, table.data)):
        where = f"{path}: record {i + 1}"
        if not isinstance(row, list) or len(row) != len(table.columns):
            bad(f"{where}: expected a list of {len(table.columns)} values")
            continue
        rows.append((where, (key, dict(zip(table.columns, row)))))
    return rows


def _yes_no(value: int) -> str:
    return "yes" if value == 1 else "no"


def _paragraphs(item: tuple[Any, dict[str, Any]], file: str, dataset: str, tasks: Sequence[str]) -> Converted:
    key, row = item[0], fit(GlassRow, item[1])
    group = f"{dataset}:{key}"
    return Converted(
        group, [_record("pc", QUESTIONS["pc"], row.Abstract, _yes_no(row.Label), YES_NO, group, file)]
    )


def _sentences(item: tuple[Any, dict[str, Any]], file: str, dataset: str, tasks: Sequence[str]) -> Converted:
    key, row = item[0], fit(SofcSentence, item[1])
    group = f"{dataset}:{key}"
    label = _yes_no(row.sent_labels)
    return Converted(group, [_record("sc", QUESTIONS["sc"], row.sents, label, YES_NO, group, file)])


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
    key, row = item[0], fit(SofcTokens, item[1])
    group = f"{dataset}:{key}"
    tokens, entity_tags, slot_tags = row.tokens, row.token_labels, row.slot_labels
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


def _label_sets(obj: AnnotatedFile) -> dict[str, dict[str, str]]:
    """Lower-cased label -> label as the file's ``*_set`` lists spell it (the annotations' case differs)."""
    return {
        key: {v.lower(): v for v in getattr(obj, key)} for key in ("t_type_set", "r_type_set", "e_role_set")
    }


class _Document:
    """One annotated document: resolves ids to span texts, counting questions lost to unusable spans."""

    def __init__(self, doc: AnnotatedDocument, sets: dict[str, dict[str, str]]) -> None:
        self.text = doc.text
        self.types = doc.t_type_dict
        self.relation_types = doc.r_type_dict
        self.relation_args = doc.r_args_dict
        self.triggers = doc.e_trig_dict
        self.event_args = doc.e_args_dict
        self.sets = sets
        self.aligned = align_spans(self.text, {k: (v[0], v[1]) for k, v in doc.t_span_dict.items()})
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
    d = _Document(fit(AnnotatedDocument, doc), sets)
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
    obj = check(AnnotatedFile, _read_json(path))
    if isinstance(obj, str):
        raise DataError(f'{path}: expected an object with a "data" list and non-empty label sets: {obj}')
    docs = [(f"{path}: record {i + 1}", doc) for i, doc in enumerate(obj.data)]
    return docs, partial(_annotated, sets=_label_sets(obj))


# ------------------------------------------------------------------ JSON / JSONL record lists (rc, sar)


def _battery_relations(obj: Any, file: str, dataset: str, tasks: Sequence[str]) -> Converted:
    item = fit(BatterySentence, obj)
    text = item.sentText
    group = f"{dataset}:{item.docId}"  # sentences of one paper stay in one split
    out = []
    for m in item.relationMentions:
        a, b = m.arg1Text.replace(",", ""), m.arg2Text.replace(",", "")
        label = _canonical(m.relText, {r.lower(): r for r in BATTERY_RELATIONS}, "relation")
        out.append(_record("rc", QUESTIONS["rc"].format(a, b), text, label, BATTERY_RELATIONS, group, file))
    return Converted(group, out)


def _synthesis_actions(obj: Any, file: str, dataset: str, tasks: Sequence[str]) -> Converted:
    item = fit(ActionSentence, obj)
    text, group = item.sentence, f"{dataset}:{item.doi}"  # sentences of one paper stay in one split
    out = []
    for a in item.annotations:
        if a.tag:  # untagged tokens are not questions
            label = _canonical(a.tag, {t.lower(): t for t in SYNTHESIS_ACTIONS}, "synthesis action")
            question = QUESTIONS["sar"].format(a.token)
            out.append(_record("sar", question, text, label, SYNTHESIS_ACTIONS, group, file))
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
        return read_json_records(path, bad), _LISTS[dataset]
    return _annotated_docs(path)

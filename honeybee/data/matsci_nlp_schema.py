"""The MatSci-NLP source records as declarative schemas (see ``schema``), one per source format.

The format readers (``matsci_nlp_formats``) validate each source record against its model before converting
it, so a field of the wrong type is reported as ``<file>: record <n>: field 'tokens[2]': expected a string,
got a number`` and never reaches the converters; what the models cannot say (a label outside the task's label
set, lists of different lengths, span ids that do not resolve) the converters still check.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

from honeybee.data.matsci_nlp_tasks import _Bad
from honeybee.data.schema import M, NonEmptyText, Strict, Text, check, json_type


def _zero_or_one(value: Any) -> int:
    # bool is an int subclass and 1.0 == 1; only the integers 0 and 1 are labels.
    if type(value) is not int or value not in (0, 1):
        raise PydanticCustomError("label", "expected 0 or 1, got {got}", {"got": json.dumps(value)})
    return value


def _doc_id(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "":
        raise PydanticCustomError(
            "id", "expected an id (an integer or a string), got {got}", {"got": json_type(value)}
        )
    return value


Label01 = Annotated[Any, AfterValidator(_zero_or_one)]
DocId = Annotated[Any, AfterValidator(_doc_id)]
Pair = Annotated[list[StrictStr], Field(min_length=2, max_length=2)]
Span = Annotated[list[StrictInt], Field(min_length=2, max_length=2)]


# pandas orient="split" tables: the file, then one model per row (a row is zipped with the columns first)
class SplitTable(Strict):
    columns: list[StrictStr]
    data: list[Any]
    index: list[Any] | None = None


class GlassRow(Strict):
    Abstract: NonEmptyText
    Label: Label01


class SofcSentence(Strict):
    sents: NonEmptyText
    sent_labels: Label01


class SofcTokens(Strict):
    tokens: list[Text]
    token_labels: list[StrictStr]
    slot_labels: list[StrictStr]


# the sc_comics annotation schema (sc_comics, synthesis_procedures)
class AnnotatedFile(Strict):
    data: list[Any]
    t_type_set: Annotated[list[StrictStr], Field(min_length=1)]
    r_type_set: Annotated[list[StrictStr], Field(min_length=1)]
    e_role_set: Annotated[list[StrictStr], Field(min_length=1)]


class AnnotatedDocument(Strict):
    text: NonEmptyText
    t_span_dict: dict[str, Span]
    t_type_dict: dict[str, StrictStr]
    r_type_dict: dict[str, StrictStr]
    r_args_dict: dict[str, Pair]
    e_trig_dict: dict[str, StrictStr]
    e_args_dict: dict[str, list[Pair]]


# JSON / JSON Lines record lists
class RelationMention(Strict):
    arg1Text: NonEmptyText
    arg2Text: NonEmptyText
    relText: NonEmptyText


class BatterySentence(Strict):
    sentText: NonEmptyText
    docId: DocId
    relationMentions: list[RelationMention]


class ActionAnnotation(Strict):
    token: Text
    tag: StrictStr


class ActionSentence(Strict):
    sentence: NonEmptyText
    doi: NonEmptyText
    annotations: list[ActionAnnotation]


def fit(model: type[M], obj: Any) -> M:
    """``obj`` validated as ``model``; a misfit raises ``_Bad`` (the loader adds file and record number)."""
    out = check(model, obj)
    if isinstance(out, str):
        raise _Bad(out)
    return out

"""Property tests of every data loader on generated files (hypothesis; profile in tests/conftest.py).

For each source: valid records survive loading -> prompt formatting -> tokenization unchanged; files broken at
random places (a value of another JSON type, a missing key, text with NUL or a lone surrogate, the wrong top
level, bytes that are not UTF-8) raise nothing but the project's own error, whose one line names the file and
a record/line number that exists; and ``on_bad_record=skip`` skips exactly the records the error names,
counting them.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from omegaconf import OmegaConf
from strategies import (
    BAD_TEXT,
    JSON,
    LAYOUTS,
    LINE,
    TEXT,
    check_message,
    count_of,
    mutated,
    write_any,
    write_records,
)

from honeybee.data.darwin_fair import load_file as load_darwin_file
from honeybee.data.darwin_fair import records_from_table
from honeybee.data.materials_facts import COLUMNS, load_table, render_records
from honeybee.data.matsci_nlp import load_matsci_nlp
from honeybee.data.mixture import load_mixture
from honeybee.data.prompts import PromptStyle
from honeybee.data.sciinstruct import load_sciinstruct
from honeybee.data.sources import SOURCES, load_alpaca
from honeybee.data.tokenize import tokenize_record
from honeybee.data.verifier import CRITERIA
from honeybee.utils.errors import HoneybeeError

SCORES = st.fixed_dictionaries({c: st.integers(0, 100) | st.floats(0, 100) for c in CRITERIA})
ALPACA = st.fixed_dictionaries(
    {"instruction": TEXT, "output": TEXT},
    optional={"input": TEXT | st.just(""), "topic": TEXT, "scores": SCORES, "id": st.integers()},
)
SCIINSTRUCT = st.fixed_dictionaries({"content": TEXT, "summary": TEXT, "subject": TEXT})
NUMBER_TEXT = st.floats(0, 1000, allow_nan=False).map(lambda x: f"{x:.3g}")
DARWIN_GAP = st.fixed_dictionaries({"instruction": TEXT, "input": TEXT, "output": NUMBER_TEXT})
DARWIN_LINE = LINE.filter(lambda s: not s.endswith(("->", "###", "@@@")))
DARWIN_DESIGN = st.fixed_dictionaries(
    {"instruction": DARWIN_LINE, "output": DARWIN_LINE}, optional={"input": DARWIN_LINE}
)


def attempt(fn: Any) -> tuple[Any, str | None]:
    """``(result, None)``, or ``(None, message)`` of the project's error; anything else propagates (fails)."""
    try:
        return fn(), None
    except HoneybeeError as e:
        return None, str(e)


@contextmanager
def skip_log() -> Any:
    """Collects the loaders' "skipped N bad record(s); first: ..." warnings."""
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda r: lines.append(r.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("honeybee.data.readers")
    logger.addHandler(handler)
    old, logger.level = logger.level, logging.WARNING
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.level = old


_SKIPPED = re.compile(r"skipped (\d+) bad record\(s\); first: (.*)$")


def check_policies(load: Any, path: Path, total: int, one_per_record: bool = True) -> None:
    """The error policy and the skip policy agree: the first bad record stops one and is skipped by the
    other, every skip is counted, and nothing but the project's error escapes either."""
    strict, message = attempt(lambda: load(path, "error"))
    with skip_log() as lines:
        lenient, skip_message = attempt(lambda: load(path, "skip"))
    if message is None:
        assert skip_message is None and lenient == strict
        return
    check_message(message, path, total)
    counted = [m for line in lines if (m := _SKIPPED.search(line))]
    record_level = re.search(r": (record|line) \d+:", message) and "no usable records" not in message
    if not record_level:  # a file-level problem (top level, encoding, empty) stops both
        assert skip_message == message or "no usable records" in (skip_message or ""), (message, skip_message)
        return
    assert counted and counted[0].group(2) == message, (message, lines)
    if one_per_record:
        kept = 0 if lenient is None else len(lenient)
        assert kept + int(counted[0].group(1)) == total, (kept, lines, total)


# ------------------------------------------------------------------------------------------ round trips


def check_prompt_and_tokens(records: list[Any], tokenizer: Any) -> None:
    """Each record's prompt holds its instruction and input, and its tokens decode back to prompt + response."""
    style = PromptStyle.from_name("alpaca")
    for rec in records:
        prompt, response = style.format(rec)
        assert rec.instruction.strip() in prompt and rec.input.strip() in prompt
        out = tokenize_record(rec, tokenizer, style, max_seq_len=8192)
        assert out is not None
        assert tokenizer.decode(out["input_ids"]) == prompt + response + tokenizer.eos_token
        scored = [t for t in out["labels"] if t != -100]
        assert tokenizer.decode(scored) == response + tokenizer.eos_token


@given(records=st.lists(ALPACA, min_size=1, max_size=4), layout=LAYOUTS)
def test_alpaca_records_round_trip(tmp_path, tiny_tokenizer, records, layout):
    loaded = load_alpaca(write_records(tmp_path / "a.json", records, layout), criteria=CRITERIA)
    assert [(r.instruction, r.input, r.output) for r in loaded] == [
        (g["instruction"], g.get("input", ""), g["output"]) for g in records
    ]
    extras = [{k: v for k, v in g.items() if k not in ("instruction", "input", "output")} for g in records]
    assert [{k: v for k, v in r.meta.items() if k != "source"} for r in loaded] == extras
    check_prompt_and_tokens(loaded, tiny_tokenizer)


@given(records=st.lists(SCIINSTRUCT, min_size=1, max_size=4), layout=LAYOUTS)
def test_sciinstruct_records_round_trip(tmp_path, tiny_tokenizer, records, layout):
    loaded = load_sciinstruct(write_records(tmp_path / "s.jsonl", records, layout))
    assert [(r.instruction, r.output, r.meta["subject"]) for r in loaded] == [
        (g["content"].strip(), g["summary"].strip(), g["subject"].strip()) for g in records
    ]
    check_prompt_and_tokens(loaded, tiny_tokenizer)


@given(records=st.lists(DARWIN_DESIGN, min_size=1, max_size=4), layout=LAYOUTS)
def test_darwin_records_round_trip(tmp_path, tiny_tokenizer, records, layout):
    loaded = load_darwin_file(write_records(tmp_path / "opv_inverse_design_train.json", records, layout))
    assert [(r.instruction, r.input, r.output) for r in loaded] == [
        (g["instruction"], g.get("input", ""), g["output"]) for g in records
    ]
    check_prompt_and_tokens(loaded, tiny_tokenizer)


@given(rows=st.lists(st.tuples(TEXT, st.sampled_from([0, 1])), min_size=1, max_size=4))
def test_matsci_nlp_records_round_trip(tmp_path, tiny_tokenizer, rows):
    path = tmp_path / "glass_non_glass.train_sample.json"
    path.write_text(json.dumps({"columns": ["Abstract", "Label"], "data": [list(r) for r in rows]}))
    loaded = load_matsci_nlp(path)
    assert [(r.input, r.output) for r in loaded] == [(text, "yes" if y else "no") for text, y in rows]
    check_prompt_and_tokens(loaded, tiny_tokenizer)


def _csv(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


FACT_ROW = st.fixed_dictionaries(
    {
        "material": LINE.filter(lambda s: "," not in s),
        "formula": st.just("X"),
        "category": st.sampled_from(["element", "oxide"]),
        "crystal_structure": st.sampled_from(["fcc", "bcc", "rutile", ""]),
        "band_gap_eV": st.sampled_from(["", "0", "1.12", "5.5"]),
        "density_g_cm3": st.sampled_from(["", "2.33", "19.3"]),
        "melting_point_K": st.sampled_from(["", "1687", "300.5"]),
        "electrical_class": st.sampled_from(["metal", "semiconductor", "insulator", ""]),
    }
)


@given(rows=st.lists(FACT_ROW, min_size=1, max_size=5, unique_by=lambda r: r["material"].strip()))
def test_materials_table_round_trip(tmp_path, tiny_tokenizer, rows):
    path = tmp_path / "facts.csv"
    path.write_text(_csv([list(COLUMNS)] + [[r[c] for c in COLUMNS] for r in rows]), encoding="utf-8")
    table = load_table(path)
    assert [t["material"] for t in table] == [r["material"] for r in rows]
    assert [t["band_gap_eV"] for t in table] == [
        float(r["band_gap_eV"]) if r["band_gap_eV"] else None for r in rows
    ]
    check_prompt_and_tokens(render_records(table), tiny_tokenizer)


# ---------------------------------------------------------------------------------------- malformed files


@given(records=st.lists(ALPACA, min_size=1, max_size=5).flatmap(mutated), layout=LAYOUTS)
@example(records={"instruction": "Q", "output": "A"}, layout="pretty")  # the issue's top-level object
@example(records=[{"instruction": None, "output": "A"}], layout="array")  # the issue's null instruction
def test_alpaca_malformed_files(tmp_path, records, layout):
    path = write_any(tmp_path / "data.json", records, layout)
    check_policies(
        lambda p, policy: load_alpaca(p, policy, criteria=CRITERIA), path, count_of(records, layout)
    )


def test_issue_examples_read_as_the_issue_asks(tmp_path):
    obj = tmp_path / "object.json"
    obj.write_text(json.dumps({"instruction": "Q", "output": "A"}, indent=2))
    with pytest.raises(HoneybeeError, match=r"object\.json: expected a JSON array of records .*got object$"):
        load_alpaca(obj)
    # The same shape on one line: the documented message too (not "line 1: missing field 'output'"), under
    # either policy, since the object is the whole file...
    line = tmp_path / "line.json"
    line.write_text(json.dumps({"instruction": "Q"}) + "\n")
    for policy in ("error", "skip"):
        with pytest.raises(HoneybeeError) as e:
            load_alpaca(line, policy)
        assert str(e.value) == (
            f"{line}: expected a JSON array of records (or JSON Lines, one record per line), got object "
            "(read as one JSON Lines record: missing field 'output')"
        )
    # ...while a one-line object that is a record, or wraps a list of them, still reads.
    line.write_text(json.dumps({"instruction": "Q", "output": "A"}))
    assert [r.output for r in load_alpaca(line)] == ["A"]
    line.write_text(
        json.dumps({"data": [{"instruction": "Q", "output": "A"}, {"instruction": "R", "output": "B"}]})
    )
    assert [r.output for r in load_alpaca(line)] == ["A", "B"]
    null = write_records(
        tmp_path / "null.json", [{"instruction": "Q", "output": "A"}, {"instruction": None}], "array"
    )
    with pytest.raises(
        HoneybeeError, match=r"null\.json: record 2: field 'instruction': expected a string, got null$"
    ):
        load_alpaca(null)


@given(records=st.lists(SCIINSTRUCT, min_size=1, max_size=5).flatmap(mutated), layout=LAYOUTS)
def test_sciinstruct_malformed_files(tmp_path, records, layout):
    path = write_any(tmp_path / "train_en.json", records, layout)
    check_policies(lambda p, policy: load_sciinstruct(p, None, policy), path, count_of(records, layout))


@given(records=st.lists(DARWIN_GAP, min_size=1, max_size=5).flatmap(mutated), layout=LAYOUTS)
def test_darwin_malformed_files(tmp_path, records, layout):
    path = write_any(tmp_path / "matbench_expt_gap.json", records, layout)
    check_policies(load_darwin_file, path, count_of(records, layout))


# One valid file per MatSci-NLP format; the mutations then break it anywhere.
WORDS = st.lists(st.text("abcdefgh", min_size=1, max_size=6), min_size=3, max_size=6)
TAG = st.sampled_from(["O", "B-MATERIAL", "I-MATERIAL", "B-VALUE"])
SLOT = st.sampled_from(["O", "B-anode_material", "I-voltage"])


@st.composite
def sofc_tokens(draw: Any) -> dict[str, Any]:
    rows = []
    for _ in range(draw(st.integers(1, 3))):
        words = draw(WORDS)
        tags = ["B-MATERIAL"] + [draw(TAG) for _ in words[1:]]  # at least one question per row
        rows.append([words, tags, [draw(SLOT) for _ in words]])
    return {
        "columns": ["tokens", "token_labels", "slot_labels"],
        "index": list(range(len(rows))),
        "data": rows,
    }


@st.composite
def comics(draw: Any) -> dict[str, Any]:
    docs = []
    for _ in range(draw(st.integers(1, 2))):
        words = draw(WORDS)
        text, spans, at = " ".join(words), {}, 0
        for i, w in enumerate(words):
            spans[f"T{i + 1}"] = [at, at + len(w)]
            at += len(w) + 1
        docs.append(
            {
                "text": text,
                "t_span_dict": spans,
                "t_type_dict": {t: draw(st.sampled_from(["Material", "Doping"])) for t in spans},
                "r_type_dict": {"R1": "Target"},
                "r_args_dict": {"R1": ["T1", "T2"]},
                "e_trig_dict": {"E1": "T2"},
                "e_args_dict": {"E1": [["Dopant", "T1"]]},
            }
        )
    sets = {"t_type_set": ["Material", "Doping"], "r_type_set": ["Target"], "e_role_set": ["Dopant"]}
    return {"data": docs, **sets}


BATTERY = st.fixed_dictionaries(
    {
        "sentText": TEXT,
        "docId": st.integers(0, 9) | TEXT,
        "relationMentions": st.lists(
            st.fixed_dictionaries(
                {"arg1Text": TEXT, "arg2Text": TEXT, "relText": st.sampled_from(["Voltage", "Capacity"])}
            ),
            min_size=1,
            max_size=2,
        ),
    }
)
ACTIONS = st.fixed_dictionaries(
    {
        "sentence": TEXT,
        "doi": TEXT,
        "annotations": st.lists(
            st.fixed_dictionaries({"token": TEXT, "tag": st.sampled_from(["", "Heating", "Mixing"])}),
            max_size=3,
        ).filter(lambda anns: any(a["tag"] for a in anns)),  # at least one question
    }
)
MATSCI_FILES = {
    "glass_non_glass.train_sample.json": st.lists(
        st.tuples(TEXT, st.sampled_from([0, 1])), min_size=1, max_size=4
    ).map(lambda rows: {"columns": ["Abstract", "Label"], "data": [list(r) for r in rows]}),
    "sofc_token.test_sample.json": sofc_tokens(),
    "sc_comics.test_sample.json": comics(),
    "structured_re.train_sample.json": st.lists(BATTERY, min_size=1, max_size=4),
    "synthesis_actions.test_sample.json": st.lists(ACTIONS, min_size=1, max_size=4),
}


@pytest.mark.parametrize("name", list(MATSCI_FILES))
@given(data=st.data(), layout=LAYOUTS)
def test_matsci_nlp_malformed_files(tmp_path, name, data, layout):
    valid = data.draw(MATSCI_FILES[name])
    assert load_matsci_nlp(write_any(tmp_path / name, valid, layout))  # the generator itself is valid
    broken = data.draw(mutated(valid))
    path = write_any(tmp_path / name, broken, layout)
    rows = broken.get("data") if isinstance(broken, dict) else broken
    total = count_of(rows, layout if isinstance(broken, list) else "array")
    check_policies(
        lambda p, policy: load_matsci_nlp(p, None, None, policy), path, total, one_per_record=False
    )


@given(
    rows=st.lists(FACT_ROW.map(lambda r: [r[c] for c in COLUMNS]), min_size=1, max_size=4).flatmap(
        lambda rows: mutated([list(COLUMNS), *rows])
    )
)
def test_materials_table_malformed(tmp_path, rows):
    path = tmp_path / "facts.csv"
    lines = rows if isinstance(rows, list) else [[rows]]
    path.write_text(
        _csv([r if isinstance(r, list) else [r] for r in lines]).encode("utf-8", "backslashreplace").decode(),
        encoding="utf-8",
    )
    _, message = attempt(lambda: load_table(path))
    if message is not None:
        check_message(message, path, len(lines) + 1)


# ----------------------------------------------------------------------------------------- raw bytes


def _as_bytes(kind: str, payload: bytes) -> bytes:
    valid = json.dumps(
        [
            {
                "instruction": "Q",
                "input": "",
                "output": "1.2",
                "content": "Q",
                "summary": "A",
                "subject": "math",
            }
        ]
    ).encode()
    return {
        "raw": payload,
        "bom": b"\xef\xbb\xbf" + valid,
        "utf16": valid.decode().encode("utf-16"),
        "spliced": valid[:7] + payload + valid[7:],
        "jsonl": valid[1:-1] + b"\n" + payload + b"\n" + valid[1:-1],
    }[kind]


BYTES = st.builds(
    _as_bytes, st.sampled_from(["raw", "bom", "utf16", "spliced", "jsonl"]), st.binary(max_size=40)
)
BYTE_LOADERS = {
    "alpaca.json": load_alpaca,
    "train.jsonl": load_sciinstruct,
    "matbench_expt_gap.json": load_darwin_file,
    "glass_non_glass.train_sample.json": load_matsci_nlp,
    "sc_comics.test_sample.json": load_matsci_nlp,
    "structured_re.train_sample.json": load_matsci_nlp,
    "facts.csv": load_table,
    "gaps.csv": lambda p: records_from_table(p, "formula", "gap"),
}


@pytest.mark.parametrize("name", list(BYTE_LOADERS))
@given(data=BYTES)
@example(data=b"\xef\xbb\xbf" + b'[{"instruction": "Q", "output": "A"}]')
def test_any_bytes_fail_cleanly(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    _, message = attempt(lambda: BYTE_LOADERS[name](path))
    if message is not None:
        check_message(message, path, data.count(b"\n") + 2)


def test_bom_is_accepted_and_utf16_named(tmp_path):
    p = tmp_path / "bom.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"instruction": "Q", "output": "A"}]).encode())
    assert load_alpaca(p)[0].instruction == "Q"
    p.write_bytes(json.dumps([{"instruction": "Q", "output": "A"}]).encode("utf-16"))
    with pytest.raises(HoneybeeError, match=r"bom\.json: UTF-16 text; save it as UTF-8"):
        load_alpaca(p)
    p.write_bytes(b'[{"instruction": "Q",\n "output": "caf\xe9"}]')
    with pytest.raises(HoneybeeError, match=r"bom\.json: line 2: not UTF-8 text \(byte 0xe9"):
        load_alpaca(p)


# -------------------------------------------------------------------------------------------- mixtures

COMPONENT = st.fixed_dictionaries(
    {},
    optional={
        "source": st.sampled_from(["materials_facts", "darwin_fair", "nope"]) | JSON,
        "weight": st.sampled_from([0, 0.5, 1, -1]) | JSON,
        "cap": st.sampled_from([None, 1, 5, 0]) | JSON,
        "path": st.sampled_from([None, "/nope/x.json"]) | JSON,
        "templates_per_property": st.sampled_from([1, 2, 0, 9]) | JSON,
        "template_seed": st.sampled_from([0, 3]) | JSON,
    },
)


@given(
    components=st.dictionaries(
        st.sampled_from(["materials_facts", "darwin_fair", "extra"]), COMPONENT, max_size=3
    ),
    top=st.fixed_dictionaries({}, optional={"total": JSON, "upsample": JSON, "mixture_seed": JSON}),
)
def test_mixture_specs_fail_cleanly(components, top):
    try:
        cfg = OmegaConf.create({"source": "mixture", "components": components, **top})
    except Exception:  # values OmegaConf itself cannot hold never reach a loader
        return
    records, message = attempt(lambda: load_mixture(cfg, SOURCES))
    if message is not None:
        assert "\n" not in message and re.search(r"data\.|no usable|not found|empty", message), message
    else:
        assert records and all(r.meta["mixture_source"] in components for r in records)


@given(bad=BAD_TEXT)
def test_bad_text_in_any_text_field_is_named(tmp_path, bad):
    p = write_records(
        tmp_path / "t.json",
        [{"instruction": "Q", "output": "A"}, {"instruction": "Q", "output": bad}],
        "array",
    )
    with pytest.raises(
        HoneybeeError, match=r"t\.json: record 2: field 'output': (must not be empty|contains a)"
    ):
        load_alpaca(p)

"""DARWIN FAIR: every real instruction file typed per task, negatives, bad records, and raw tables."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter

import pytest
from conftest import SHARED_DATA, needs_shared
from omegaconf import OmegaConf

from honeybee.data.darwin_fair import (
    DARWIN_TEMPLATES,
    clean_text,
    is_negative,
    load_darwin_fair,
    load_file,
    records_from_table,
)
from honeybee.data.darwin_tasks import TASKS
from honeybee.data.records import Record
from honeybee.data.sources import load_records
from honeybee.utils.errors import ConfigError, DataError

DARWIN = SHARED_DATA / "darwin_fair"
RAW_CSV = DARWIN / "raw_csv"
needs_darwin = needs_shared(DARWIN)


def _raw(stem):
    return json.loads((DARWIN / f"{stem}.json").read_text(encoding="utf-8"))


def _csv(name):
    with (RAW_CSV / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _looks_negative(output):
    # Independent of the loader's rule (which anchors on the input): DARWIN's negative phrasings, minus the
    # Yes/No classification sentences that also say "does not have" / "is not".
    o = output.strip()
    phrases = (" is not a ", " does not have", " has no ")
    return o.startswith("Unable to answer") or (
        not o.startswith(("Yes", "No,")) and any(p in o for p in phrases)
    )


@pytest.fixture(scope="module")
def darwin():
    if not DARWIN.exists():
        pytest.skip(f"real data not found at {DARWIN}")
    records = load_darwin_fair(DARWIN)
    by_task: dict[str, list] = {}
    for r in records:
        by_task.setdefault(r.meta["task"], []).append(r)
    return by_task


@needs_darwin
def test_every_file_is_registered_and_loads_whole(darwin):
    stems = sorted(p.stem for p in DARWIN.glob("*.json"))
    assert stems == sorted(TASKS) == sorted(darwin)
    for stem in stems:
        assert len(darwin[stem]) == len(_raw(stem)), stem  # nothing skipped under on_bad_record=error


@needs_darwin
def test_negatives_are_generation_and_counted(darwin):
    for stem, recs in darwin.items():
        raw = _raw(stem)
        expected = sum(_looks_negative(o["output"]) for o in raw)
        assert sum(r.meta["negative"] for r in recs) == expected, stem
        assert all(r.meta["task_type"] == "generation" for r in recs if r.meta["negative"])
    # README: "Some of these appear in the samples" (chembl's "... is not a InChI ..." example among them).
    assert sum(r.meta["negative"] for r in darwin["chembl"]) > 0


@needs_darwin
@pytest.mark.parametrize(
    "stem,prop,unit",
    [
        ("matbench_expt_gap", "band_gap", "eV"),
        ("matbench_steels", "yield_strength", "MPa"),
        ("chembl", "lipophilicity", ""),
        ("opv_regression_train", "opv_pce", "%"),
        ("opv_regression_test", "opv_pce", "%"),
    ],
)
def test_plain_regression_targets_are_the_outputs(darwin, stem, prop, unit):
    raw = [o for o in _raw(stem) if not _looks_negative(o["output"])]
    recs = [r for r in darwin[stem] if not r.meta["negative"]]
    assert [r.meta["target"] for r in recs] == [float(o["output"]) for o in raw]
    assert {(r.meta["task_type"], r.meta["property"], r.meta["unit"]) for r in recs} == {
        ("regression", prop, unit)
    }
    assert all(r.output == r.output.strip() and not r.instruction.endswith("->") for r in recs)


@needs_darwin
def test_steels_regression_matches_the_raw_table(darwin):
    # README: 328 instruction records over a 312-row table; each row gives one numeric record.
    regression = [r for r in darwin["matbench_steels"] if r.meta["task_type"] == "regression"]
    assert len(regression) == len(_csv("matbench_steels.csv")) == 312
    table = {row["composition"]: float(row["yield strength"]) for row in _csv("matbench_steels.csv")}
    assert all(table[r.input] == r.meta["target"] for r in regression)


@needs_darwin
def test_esol_is_typed_per_record(darwin):
    recs = darwin["ESOL"]
    raw = _raw("ESOL")
    # Solubility questions with a number in the answer are regression; the rest is translation or negative.
    numeric_solubility = [
        o for o in raw if "solubility" in o["instruction"] and re.search(r"\d", o["output"])
    ]
    regression = [r for r in recs if r.meta["task_type"] == "regression"]
    assert len(regression) == len(numeric_solubility)
    for r in regression:
        log_scale = "logarithm" in r.instruction
        assert r.meta["property"] == ("log_solubility" if log_scale else "solubility")
        assert r.meta["unit"] == ("log10(mol/L)" if log_scale else "mol/L")
    first = next(r for r in recs if r.input.startswith("InChI=1S/C17H19NO4"))
    assert first.meta["target"] == -4.7 and first.output == "-4.7"
    translation = [r for r in recs if r.meta["property"] == "translation"]
    assert translation and all(
        r.meta["task_type"] == "generation" and not r.meta["negative"] for r in translation
    )
    assert len(translation) + len(regression) + sum(r.meta["negative"] for r in recs) == len(raw)


@needs_darwin
@pytest.mark.parametrize("stem", ["sii_mdp_regression360", "sii_mdp_regression40"])
def test_sii_mdp_pce_target_and_markers(darwin, stem):
    raw, recs = _raw(stem), darwin[stem]
    pce = [float(o["output"].split("PCE:")[1].replace("@@@", "")) for o in raw]
    assert [r.meta["target"] for r in recs] == pce
    for r in recs:
        assert r.meta["property"] == "perovskite_pce" and r.meta["unit"] == "%"
        assert "@@@" not in r.output and not r.input.endswith("###") and "\n " not in r.input
        # The asked-for PCE comes first, so "the first number" metrics read the PCE, not the Voc.
        assert r.output.startswith("JV default PCE:") and "JV default Voc:" in r.output
    assert len(recs) == int(stem.removeprefix("sii_mdp_regression"))


@needs_darwin
@pytest.mark.parametrize("stem", ["opv_inverse_design_train", "opv_inverse_design_test"])
def test_opv_inverse_design_is_generation_grouped_by_donor(darwin, stem):
    recs = darwin[stem]
    assert {r.meta["task_type"] for r in recs} == {"generation"}
    assert all(r.meta["group"] == r.output and "###" not in r.instruction for r in recs)


@needs_darwin
def test_opv_regression_group_is_the_donor(darwin):
    r = darwin["opv_regression_test"][0]
    assert r.meta["group"] == "COC(=O)c1sc2csc(-c3sc4c(c3F)c(OC)c3scc(F)c3c4OC)c2c1F"
    # The same donor's design record lands in the same group, so the two tasks cannot leak across splits.
    assert r.meta["group"] in {d.meta["group"] for d in darwin["opv_inverse_design_test"]}


@needs_darwin
@pytest.mark.parametrize("stem", ["matbench_glass", "matbench_is_metal"])
def test_yes_no_classification_from_the_first_word(darwin, stem):
    raw = [o for o in _raw(stem) if not _looks_negative(o["output"])]
    recs = [r for r in darwin[stem] if not r.meta["negative"]]
    assert [r.meta["label"] for r in recs] == [
        "Yes" if o["output"].strip().startswith("Yes") else "No" for o in raw
    ]
    assert all(r.meta["labels"] == ["Yes", "No"] and r.meta["task_type"] == "classification" for r in recs)


@needs_darwin
def test_glass_spot_check(darwin):
    ti = next(r for r in darwin["matbench_glass"] if r.input == "Ti11Be7Si2")
    assert ti.meta["label"] == "No" and ti.output == "No, Ti11Be7Si2 does not have glass-forming ability."


@needs_darwin
def test_pei_labels_come_from_the_data(darwin):
    recs = [r for r in darwin["pei"] if r.meta["task_type"] == "classification"]
    phases = sorted({row["Phase"] for row in _csv("Pei.csv")})
    assert phases == ["bcc", "fcc", "hcp", "multi-phase"]  # README: "alloy phase bcc/fcc/hcp/multi-phase"
    assert all(r.meta["labels"] == phases and r.meta["label"] == r.output for r in recs)
    assert {r.meta["label"] for r in recs} == set(phases)


@needs_darwin
def test_water_stability_matches_the_raw_table(darwin):
    recs = darwin["waterStability"]
    table = _csv("waterStability.csv")
    stability = [r for r in recs if r.meta["task_type"] == "classification"]
    formula = [r for r in recs if r.meta["property"] == "activated_formula_unit"]
    # The instruction file is the whole table rendered twice: stability and name -> formula, plus negatives.
    assert len(stability) == len(formula) == len(table) == 169
    assert Counter(r.meta["label"] for r in stability) == Counter(row["stability"] for row in table)
    assert all(r.meta["labels"] == ["high", "low"] for r in stability)
    assert all(r.meta["task_type"] == "generation" for r in formula)


@needs_darwin
def test_reference_outputs_read_back_as_their_targets(darwin):
    # Evaluation reads the first number (regression) or snaps to meta.labels (classification): the reference
    # answers themselves must read back exactly, or the metric measures the format instead of the model.
    from honeybee.evaluation.extract import extract_number, snap_label

    recs = [r for rs in darwin.values() for r in rs]
    regression = [r for r in recs if r.meta["task_type"] == "regression"]
    classification = [r for r in recs if r.meta["task_type"] == "classification"]
    assert [extract_number(r.output) for r in regression] == [r.meta["target"] for r in regression]
    assert [snap_label(r.output, r.meta["labels"]) for r in classification] == [
        r.meta["label"] for r in classification
    ]


def _write(path, objs):
    path.write_text(json.dumps(objs), encoding="utf-8")
    return path


GAP = {"instruction": "What is band gap of given composition? ->", "input": "GaAs\n", "output": " 1.42\n"}


def test_negative_in_a_regression_file_does_not_crash(tmp_path):
    berry = {
        "instruction": GAP["instruction"],
        "input": " berry\n",
        "output": " berry is not a composition and it does not have band gap.\n",
    }
    refusal = {**GAP, "output": " Unable to answer due to lack of conditions.\n"}
    recs = load_file(_write(tmp_path / "matbench_expt_gap.json", [GAP, berry, refusal]))
    assert [(r.meta["task_type"], r.meta["negative"], r.meta["target"]) for r in recs] == [
        ("regression", False, 1.42),
        ("generation", True, None),
        ("generation", True, None),
    ]
    assert recs[0].instruction == "What is band gap of given composition?" and recs[0].input == "GaAs"


@pytest.mark.parametrize(
    "stem,objs,match",
    [
        (
            "matbench_expt_gap",
            [GAP, {**GAP, "output": " about two\n"}],
            r"record 2: output 'about two' does not fit task 'matbench_expt_gap' \(regression\)",
        ),
        (
            "matbench_glass",
            [{**GAP, "output": " Maybe.\n"}],
            r"record 1: output 'Maybe\.' does not fit task 'matbench_glass' \(classification\)",
        ),
        (
            "waterStability",
            [{**GAP, "instruction": "Write stability of given name. ->", "output": " stable\n"}],
            r"record 1: output 'stable' does not fit task 'waterStability' \(mixed\)",
        ),
        (
            "ESOL",
            [
                {
                    "instruction": "What is solubility of given SMILES? ->",
                    "input": " CCO\n",
                    "output": " very high\n",
                }
            ],
            r"record 1: output 'very high' does not fit task 'ESOL' \(mixed\)",
        ),
        ("matbench_expt_gap", [GAP, {"instruction": "Q", "input": "x"}], r"record 2: missing field 'output'"),
        (
            "matbench_expt_gap",
            [{**GAP, "input": 7}],
            r"record 1: field 'input': expected a string, got a number",
        ),
        ("matbench_expt_gap", [{**GAP, "output": " \n"}], r"record 1: field 'output': must not be empty"),
        ("matbench_expt_gap", [GAP, "text"], r"record 2: expected an object, got a string"),
        ("matbench_expt_gap", '[{"instruction": "Q",', r"malformed JSON at line 1"),
        ("matbench_expt_gap", [], r"no usable records"),
        ("MoosaviCp", [GAP], r"unknown DARWIN task 'MoosaviCp'"),
    ],
)
def test_bad_records_name_file_and_index(tmp_path, stem, objs, match):
    path = tmp_path / f"{stem}.json"
    path.write_text(objs if isinstance(objs, str) else json.dumps(objs), encoding="utf-8")
    with pytest.raises(DataError, match=rf"{stem}\.json: " + match):
        load_file(path)


def test_skip_policy_counts_bad_records(tmp_path, caplog):
    objs = [
        GAP,
        {**GAP, "output": " n/a\n"},
        {"instruction": "Q"},
        {**GAP, "input": " InP\n", "output": " 1.34\n"},
    ]
    with caplog.at_level("WARNING"):
        recs = load_file(_write(tmp_path / "matbench_expt_gap.json", objs), on_bad_record="skip")
    assert [r.meta["target"] for r in recs] == [1.42, 1.34]
    assert "skipped 2 bad record(s)" in caplog.text


def test_non_utf8_file(tmp_path):
    p = tmp_path / "pei.json"
    p.write_bytes('[{"instruction": "phase?", "input": "caf\xe9", "output": "fcc"}]'.encode("latin-1"))
    with pytest.raises(DataError, match=r"pei\.json: line 1: not UTF-8"):
        load_file(p)


def test_clean_text_and_negative_rule():
    assert (
        clean_text(" JV default Voc: 1.21 \n JV default PCE: 14.9@@@")
        == "JV default Voc: 1.21\nJV default PCE: 14.9"
    )
    assert clean_text("Design a donor with acceptor TiO2, PCE=1 for a organic solar cell### ->") == (
        "Design a donor with acceptor TiO2, PCE=1 for a organic solar cell"
    )
    assert is_negative("berry", "berry is not a InChI and it does not have lipophilicity.")
    assert is_negative("silk", "silk has no water stability.")
    assert not is_negative("Si0.03Ge0.97", "No, Si0.03Ge0.97 is not metal.")
    assert not is_negative("GaAs", "1.42")


@needs_darwin
def test_file_selection(tmp_path):
    recs = load_darwin_fair(DARWIN, tasks=["pei", "chembl"])
    assert {r.meta["task"] for r in recs} == {"chembl", "pei"}
    files = [DARWIN / "sii_mdp_regression40.json", DARWIN / "opv_regression_test.json"]
    assert Counter(r.meta["task"] for r in load_darwin_fair(files)) == {
        "sii_mdp_regression40": 40,
        "opv_regression_test": 68,
    }
    with pytest.raises(ConfigError, match=r"unknown DARWIN task\(s\) \['steel'\]"):
        load_darwin_fair(DARWIN, tasks=["steel"])
    with pytest.raises(DataError, match=r"no file for DARWIN task\(s\) \['chembl'\]"):
        load_darwin_fair(files, tasks=["chembl"])
    with pytest.raises(DataError, match="no \\*.json files"):
        load_darwin_fair(tmp_path)
    with pytest.raises(DataError, match="data file not found"):
        load_darwin_fair(tmp_path / "pei.json")


@needs_darwin
def test_registered_source():
    cfg = OmegaConf.create({"source": "darwin_fair", "path": str(DARWIN), "tasks": ["matbench_steels"]})
    recs = load_records(cfg)
    assert len(recs) == 328 and {r.meta["source"] for r in recs} == {"darwin_fair"}
    files = OmegaConf.create(
        {"source": "darwin_fair", "path": [str(DARWIN / "pei.json"), str(DARWIN / "chembl.json")]}
    )
    assert Counter(r.meta["task"] for r in load_records(files)) == {"pei": 500, "chembl": 500}
    with pytest.raises(ConfigError, match="data.path is required for data=darwin_fair"):
        load_records(OmegaConf.create({"source": "darwin_fair", "path": None}))


# ------------------------------------------------------------------------------------------ raw tables

TABLES = [
    # (file, key column, property column, task type, unit, rows per README)
    ("matbench_expt_gap.csv", "composition", "band gap", "regression", "eV", 4604),
    ("matbench_steels.csv", "composition", "yield strength", "regression", "MPa", 312),
    ("matbench_glass.csv", "composition", "glass formation ability", "classification", "", 5680),
    ("matbench_is_metal.csv", "composition", "is metal?", "classification", "", 4921),
    ("Pei.csv", "Alloy", "Phase", "classification", "", 1252),
    ("waterStability.csv", "name", "stability", "classification", "", 169),
]


@needs_shared(RAW_CSV)
@pytest.mark.parametrize("name,key,prop,task_type,unit,rows", TABLES)
def test_records_from_every_raw_table(name, key, prop, task_type, unit, rows):
    recs = records_from_table(RAW_CSV / name, key, prop, DARWIN_TEMPLATES, task_type, unit, seed=0)
    table = _csv(name)
    assert len(recs) == len(table) == rows
    allowed = {t.format(key=key, property=prop) for t in DARWIN_TEMPLATES}
    assert {r.instruction for r in recs} <= allowed and len({r.instruction for r in recs}) > 1
    assert [r.input for r in recs] == [row[key] for row in table]
    assert all(r.meta["group"] == r.input and r.meta["task"] == name.removesuffix(".csv") for r in recs)
    if task_type == "regression":
        assert [r.meta["target"] for r in recs] == [float(row[prop]) for row in table]
        assert all(r.output.endswith(f" {unit}") and r.meta["labels"] is None for r in recs)
    else:
        cells = Counter(row[prop] for row in table)
        expected = Counter({"TRUE": "Yes", "FALSE": "No"}.get(c, c) for c in cells.elements())
        assert Counter(r.meta["label"] for r in recs) == expected
        assert all(r.meta["labels"] == sorted(expected) and r.output == r.meta["label"] for r in recs)


@needs_shared(RAW_CSV)
def test_table_templates_are_seeded():
    path = RAW_CSV / "Pei.csv"
    a, b = (records_from_table(path, "Alloy", "Phase", task_type="classification", seed=1) for _ in range(2))
    c = records_from_table(path, "Alloy", "Phase", task_type="classification", seed=2)
    assert [r.instruction for r in a] == [r.instruction for r in b] != [r.instruction for r in c]
    assert a[0].meta["property"] == "phase"


def test_bad_tables(tmp_path, caplog):
    p = tmp_path / "gaps.csv"
    p.write_text("composition,band gap\nGaAs,1.42\nInP,n/a\n,0.5\nSi,1.12\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"gaps\.csv:3: band gap is not a number: 'n/a'"):
        records_from_table(p, "composition", "band gap", unit="eV")
    with caplog.at_level("WARNING"):
        recs = records_from_table(p, "composition", "band gap", unit="eV", on_bad_record="skip")
    assert [r.output for r in recs] == ["1.42 eV", "1.12 eV"] and "skipped 2 bad record(s)" in caplog.text
    with pytest.raises(DataError, match=r"no column\(s\) \['gap'\]"):
        records_from_table(p, "composition", "gap")
    with pytest.raises(ConfigError, match="placeholder 'name'"):
        records_from_table(p, "composition", "band gap", templates=["What is {name}?"])
    with pytest.raises(ConfigError, match="task_type='ranking'"):
        records_from_table(p, "composition", "band gap", task_type="ranking")


def _yes_no(material: str, label: str, text: str) -> Record:
    meta = {"task_type": "classification", "property": "glass_forming_ability", "label": label}
    return Record(
        "Does given composition have glass formation ability?",
        material,
        text,
        {**meta, "labels": ["Yes", "No"]},
    )


def test_answer_options_are_the_records_own_forms_in_its_wording():
    from honeybee.data.darwin_fair import fill_answer_options

    recs = [
        _yes_no("Ni75P18W7", "Yes", "Yes, Ni75P18W7 has glass formation ability."),
        _yes_no("Cr11Fe12", "No", "No, Cr11Fe12 does not have glass formation ability."),
        _yes_no("Zr65Cu35", "Yes", "Yes, Zr65Cu35 has glass-forming ability."),
        _yes_no("Al90Fe10", "No", "No, Al90Fe10 does not have glass-forming ability."),
        _yes_no("Pd40Ni40", "No", "No, Pd40Ni40 does not have glass-forming ability."),
    ]
    recs.append(
        Record(
            "Is it metal?",
            "Cu",
            "Yes, Cu is metal.",
            {"task_type": "classification", "label": "Yes", "labels": ["Yes", "Maybe"]},
        )
    )
    fill_answer_options(recs)
    assert recs[0].meta["options"] == [
        "Yes, Ni75P18W7 has glass formation ability.",
        "No, Ni75P18W7 does not have glass formation ability.",  # the same paraphrase, not the commoner one
    ]
    assert recs[2].meta["options"] == [
        "Yes, Zr65Cu35 has glass-forming ability.",
        "No, Zr65Cu35 does not have glass-forming ability.",
    ]
    assert recs[1].meta["options"][1] == recs[1].output and recs[1].meta["options"][0].startswith(
        "Yes, Cr11Fe12 has"
    )
    # a label no record answers with falls back to the label itself
    assert recs[5].meta["options"] == ["Yes, Cu is metal.", "Maybe"]


@needs_shared(DARWIN)
def test_real_classification_files_get_two_options_each():
    recs = load_darwin_fair(DARWIN, tasks=["matbench_is_metal", "matbench_glass"])
    cls = [r for r in recs if r.meta["task_type"] == "classification"]
    assert len(cls) > 900
    for r in cls:
        opts = r.meta["options"]
        assert len(opts) == 2 and opts[r.meta["labels"].index(r.meta["label"])] == r.output
        assert all(r.input in o for o in opts) and opts[0].startswith("Yes") and opts[1].startswith("No")

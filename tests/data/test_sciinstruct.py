"""SciInstruct JSONL loading, subject filtering, bad-line handling and final-answer extraction."""

from __future__ import annotations

import json

import pytest
from conftest import SHARED_DATA, needs_shared
from omegaconf import OmegaConf

from honeybee.data.sciinstruct import extract_final_answer, load_sciinstruct
from honeybee.data.sources import load_records
from honeybee.utils.errors import ConfigError, DataError

SCIINSTRUCT = SHARED_DATA / "sciinstruct"

# Records in the published schema; the Chinese one mirrors the 【解析】…【答案】… layout of train_cn_math.
PHYSICS = {
    "content": "A 2 kg mass accelerates at 3 m/s^2. What net force acts on it?",
    "summary": "By Newton's second law F = m a = 2 kg * 3 m/s^2 = 6 N.\nThe answer is 6 N.",
    "subject": "physics_chemistry",
}
MATH = {
    "content": "求函数 f(x)=x^2 在 x=1 处的导数。",
    "summary": "【解析】f'(x)=2x，所以 f'(1)=2。【答案】2",
    "subject": "math",
}
LEAN = {
    "content": "Prove that 1 + 1 = 2.",
    "summary": "theorem one_add_one : 1 + 1 = 2 := by norm_num",
    "subject": "lean",
}


def _jsonl(path, objs):
    path.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "text,expected",
    [
        ("【解析】由题意得 x=1/2。【答案】$\\frac{1}{2}$", "\\frac{1}{2}"),
        ("【解析】略【答案】A【点睛】本题考查导数的定义。", "A"),
        ("Newton's law gives F = 6 N.\nThe answer is 6 N.", "6 N"),
        ("So the final answer is: 3.5 m/s", "3.5 m/s"),
        ("Final answer: $x = 2$", "x = 2"),
        ("Hence $E = \\boxed{\\frac{3}{4}}$ J.", "\\frac{3}{4}"),
        ("The answer is $\\boxed{5}$.", "5"),
        ("The answer is **12 kJ**.", "12 kJ"),
        # "answer is" mid-derivation must not beat the result stated after it.
        ("At first the answer is unclear.\nExpanding gives \\boxed{7}", "7"),
        ("theorem foo : 1 + 1 = 2 := by norm_num", None),
        ("【解析】缺少答案。【答案】", None),
        ("\\boxed{unclosed", None),
    ],
)
def test_extract_final_answer(text, expected):
    assert extract_final_answer(text) == expected


def test_records_and_metadata(tmp_path):
    recs = load_sciinstruct(_jsonl(tmp_path / "train.json", [PHYSICS, MATH, LEAN]), subjects=None)
    assert [r.meta["subject"] for r in recs] == ["physics_chemistry", "math", "lean"]
    phys = recs[0]
    assert phys.instruction == PHYSICS["content"] and phys.input == "" and phys.output == PHYSICS["summary"]
    assert phys.meta["source"] == "sciinstruct" and phys.meta["task_type"] == "cot"
    assert [r.meta["answer"] for r in recs] == ["6 N", "2", None]
    assert len({r.meta["group"] for r in recs}) == 3


def test_repeated_question_shares_a_group(tmp_path):
    second = {**PHYSICS, "summary": "F = 6 N. Final answer: 6 N"}
    a, b = load_sciinstruct(_jsonl(tmp_path / "t.jsonl", [PHYSICS, second]))
    assert a.meta["group"] == b.meta["group"]


def test_subject_filter_and_folder(tmp_path):
    _jsonl(tmp_path / "train_en_phy_chem.json", [PHYSICS, PHYSICS])
    _jsonl(tmp_path / "train_cn_math.json", [MATH])
    _jsonl(tmp_path / "train_lean.jsonl", [LEAN])
    (tmp_path / "notes.txt").write_text("not data", encoding="utf-8")
    assert len(load_sciinstruct(tmp_path)) == 4
    kept = load_sciinstruct(tmp_path, subjects=["math", "lean"])
    assert sorted(r.meta["subject"] for r in kept) == ["lean", "math"]
    with pytest.raises(DataError, match=r"subjects found: lean \(1\), math \(1\), physics_chemistry \(2\)"):
        load_sciinstruct(tmp_path, subjects=["biology"])


def test_json_array_copy(tmp_path):
    p = tmp_path / "copy.json"
    p.write_text(json.dumps([PHYSICS, MATH], ensure_ascii=False), encoding="utf-8")
    assert [r.meta["answer"] for r in load_sciinstruct(p)] == ["6 N", "2"]


GOOD = json.dumps(PHYSICS).encode()
BAD_LINES = [
    (b"{not json", r"line 2: malformed JSON"),
    (json.dumps({"content": "Q", "subject": "math"}).encode(), r"line 2: missing field 'summary'"),
    (
        json.dumps({**MATH, "subject": 3}).encode(),
        r"line 2: field 'subject': expected a string, got a number",
    ),
    (json.dumps({**MATH, "summary": "   "}).encode(), r"line 2: field 'summary': must not be empty"),
    (json.dumps(["content", "summary"]).encode(), r"line 2: expected an object, got a list"),
    ('{"content": "caf\xe9", "summary": "A", "subject": "math"}'.encode("latin-1"), r"line 2: not UTF-8"),
]


@pytest.mark.parametrize("line,match", BAD_LINES)
def test_bad_line_names_file_and_line(tmp_path, line, match):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(GOOD + b"\n" + line + b"\n" + GOOD + b"\n")
    with pytest.raises(DataError, match=r"bad\.jsonl: " + match):
        load_sciinstruct(p)


def test_skip_counts_every_bad_line(tmp_path, caplog):
    p = tmp_path / "mixed.jsonl"
    p.write_bytes(b"\n".join([GOOD, *(line for line, _ in BAD_LINES), GOOD]) + b"\n")
    with caplog.at_level("WARNING"):
        recs = load_sciinstruct(p, on_bad_record="skip")
    assert len(recs) == 2
    assert f"skipped {len(BAD_LINES)} bad record(s)" in caplog.text


def test_only_bad_lines_is_an_error(tmp_path):
    p = tmp_path / "all_bad.jsonl"
    p.write_bytes(b"{oops\n")
    with pytest.raises(DataError, match="no usable records"):
        load_sciinstruct(p, on_bad_record="skip")


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="data file not found"):
        load_sciinstruct(tmp_path / "nope.json")
    with pytest.raises(DataError, match="no \\*.json"):
        load_sciinstruct(tmp_path)


@needs_shared(SCIINSTRUCT)
def test_real_reward_model_files_are_rejected_with_file_and_line():
    # The shared folder holds SciGLM's classifier data ({prompt_answer, label}), not SciInstruct records:
    # the loader must say so instead of producing empty instructions.
    for name in ("sciglm_rm_test.json", "sciglm_rm_valid.first1058.json"):
        with pytest.raises(DataError, match=rf"{name}: line 1: missing field 'content'"):
            load_sciinstruct(SCIINSTRUCT / name)


def test_registered_source(tmp_path):
    path = _jsonl(tmp_path / "t.jsonl", [PHYSICS, MATH, LEAN])
    cfg = OmegaConf.create(
        {"source": "sciinstruct", "path": str(path), "subjects": ["lean"], "on_bad_record": "error"}
    )
    assert [r.meta["subject"] for r in load_records(cfg)] == ["lean"]
    with pytest.raises(ConfigError, match="data.path is required for data=sciinstruct"):
        load_records(OmegaConf.create({"source": "sciinstruct", "path": None}))

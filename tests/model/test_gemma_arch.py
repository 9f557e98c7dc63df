"""Gemma 3's architecture through honeybee's training path, on a tiny random Gemma 3 (no download, fast):
sliding-window layers, scaled embeddings, a tied head and (Gemma 2 style) logit soft-capping."""

from __future__ import annotations

import pytest
import torch

from honeybee.data.collate import pack_collate, pad_collate
from honeybee.model.loss import IGNORE_INDEX, causal_lm_loss, logit_softcap


def tiny_gemma3(softcap: float | None = None):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    cfg = Gemma3TextConfig(
        vocab_size=300,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        sliding_window=4,  # shorter than the records: the sliding layer really masks
        layer_types=["sliding_attention", "full_attention"],
        max_position_embeddings=256,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=1,
        final_logit_softcapping=softcap,
        attn_implementation="sdpa",
    )
    model = Gemma3ForCausalLM(cfg).eval()
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(8.0)  # large logits, so a soft-cap changes the loss
    return model


def items(lengths=(13, 7, 18)):
    g = torch.Generator().manual_seed(1)
    out = []
    for n in lengths:
        ids = [2] + torch.randint(3, 300, (n - 1,), generator=g).tolist()  # <bos> first, as Gemma's tokenizer
        out.append({"input_ids": ids, "labels": [IGNORE_INDEX] * 4 + ids[4:]})
    return out


@pytest.mark.parametrize("softcap", [None, 2.0])
def test_selective_loss_equals_the_models_own(softcap):
    model = tiny_gemma3(softcap)
    assert logit_softcap(model) == softcap and model.config.tie_word_embeddings
    batch = pad_collate(items(), pad_id=0)
    with torch.no_grad():
        selective, n = causal_lm_loss(model, batch, selective=True)
        plain, n_plain = causal_lm_loss(model, batch, selective=False)
    assert n == n_plain > 0 and abs(float(selective) - float(plain)) < 1e-5
    if softcap:  # the cap matters here: the uncapped loss is far off
        model.config.final_logit_softcapping = None
        with torch.no_grad():
            uncapped, _ = causal_lm_loss(model, batch, selective=False)
        assert abs(float(uncapped) - float(plain)) > 0.1


def test_packed_records_see_only_themselves_through_sliding_and_full_layers():
    model = tiny_gemma3()
    records = items()
    with torch.no_grad():
        for j, item in enumerate(records):
            alone, _ = causal_lm_loss(model, pad_collate([item], pad_id=0))
            row = [
                x if i == j else {**x, "labels": [IGNORE_INDEX] * len(x["labels"])}
                for i, x in enumerate(records)
            ]
            packed, _ = causal_lm_loss(model, pack_collate([row], pad_id=0, pad_to_multiple_of=64))
            assert abs(float(alone) - float(packed)) < 1e-5


def test_lora_targets_exist_and_train_only_adapters():
    from omegaconf import OmegaConf

    from honeybee.model.lora import apply_lora, count_parameters

    lora = OmegaConf.create(
        {"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
    )
    model = apply_lora(tiny_gemma3(), lora)
    trainable, total = count_parameters(model)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert len(names) == 2 * 2 * 2 and all("lora_" in n for n in names)  # 2 layers x (q, v) x (A, B)
    # q: 64 -> 2 heads x 32, v: 64 -> 1 KV head x 32
    assert trainable == 2 * (4 * 64 + 64 * 4 + 4 * 64 + 32 * 4) and total > 50 * trainable


def test_sdpa_computes_what_eager_does():
    """conf/model/gemma3_270m.yaml picks SDPA: with no attention soft-capping it equals the eager reference."""
    model = tiny_gemma3()
    batch = pad_collate(items(), pad_id=0)
    with torch.no_grad():
        sdpa, _ = causal_lm_loss(model, batch)
        model.set_attn_implementation("eager")
        eager, _ = causal_lm_loss(model, batch)
    assert model.config.attn_logit_softcapping is None and abs(float(sdpa) - float(eager)) < 1e-5

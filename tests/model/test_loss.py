"""The selective LM-head loss equals the model's own full-vocabulary loss."""

from __future__ import annotations

import torch
from omegaconf import OmegaConf

from honeybee.data.collate import pad_collate
from honeybee.data.tokenize import IGNORE_INDEX
from honeybee.model.lora import apply_lora
from honeybee.model.loss import causal_lm_loss


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    items = []
    for n in (17, 9, 30):
        ids = torch.randint(5, 500, (n,), generator=g).tolist()
        cut = n // 2
        items.append({"input_ids": ids, "labels": [IGNORE_INDEX] * cut + ids[cut:]})
    return pad_collate(items, pad_id=3)


def test_selective_loss_matches_model_loss(tiny_model):
    model = apply_lora(
        tiny_model,
        OmegaConf.create(
            {"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
        ),
    )
    batch = _batch()
    plain, n1 = causal_lm_loss(model, batch, selective=False)
    fast, n2 = causal_lm_loss(model, batch, selective=True, chunk_size=7)  # several chunks
    assert n1 == n2 == int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    assert abs(float(plain.detach()) - float(fast.detach())) < 1e-5
    fast.backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_A" in n]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_loss_ignores_prompt_and_padding(tiny_model):
    batch = _batch(1)
    loss, _ = causal_lm_loss(tiny_model, batch)
    # Changing a prompt token's label-free position target cannot change the loss; changing a scored one does.
    logits = tiny_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    lab = batch["labels"][:, 1:]
    mask = lab != IGNORE_INDEX
    manual = torch.nn.functional.cross_entropy(logits[:, :-1][mask], lab[mask])
    assert abs(float(loss.detach()) - float(manual.detach())) < 1e-5

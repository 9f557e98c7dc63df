"""Every throughput lever (issue 8) computes the same loss as the plain path.

fp32 levers must match within 1e-5 (loss and LoRA gradients); bf16 autocast within a stated tolerance.
The speed of each lever is measured by experiments/bench/throughput.py, not here.
"""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from honeybee.data.collate import pack_collate, pad_collate
from honeybee.data.tokenize import IGNORE_INDEX
from honeybee.model.lora import apply_lora
from honeybee.model.loss import causal_lm_loss
from honeybee.training import precision

LORA = OmegaConf.create(
    {"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
)


@pytest.fixture
def lora_model(tiny_model):
    model = apply_lora(tiny_model, LORA)
    # LoRA B starts at zero, which would make every lora_A gradient zero and the gradient checks vacuous.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return model.train()


def _items(seed: int = 0, lengths=(17, 9, 30, 12)) -> list[dict[str, list[int]]]:
    g = torch.Generator().manual_seed(seed)
    items = []
    for n in lengths:
        ids = torch.randint(5, 500, (n,), generator=g).tolist()
        cut = n // 2  # prompt half masked, as with train_on_prompt=false
        items.append({"input_ids": ids, "labels": [IGNORE_INDEX] * cut + ids[cut:]})
    return items


def _loss_grads(model, batch, **kw) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    loss, _ = causal_lm_loss(model, batch, **kw)
    loss.backward()
    return float(loss.detach()), {
        n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad
    }


def _assert_same(a: tuple[float, dict], b: tuple[float, dict], tol: float = 1e-5) -> None:
    assert abs(a[0] - b[0]) < tol
    assert a[1].keys() == b[1].keys() and a[1]
    for n in a[1]:
        assert torch.allclose(a[1][n], b[1][n], atol=tol, rtol=1e-4), n


@pytest.mark.parametrize("chunk_size", [1, 5, 4096])
def test_chunked_selective_head_matches_model_loss_and_grads(lora_model, chunk_size):
    batch = pad_collate(_items(), pad_id=3)
    plain = _loss_grads(lora_model, batch, selective=False)
    assert any(g.abs().sum() > 0 for n, g in plain[1].items() if "lora_A" in n)
    _assert_same(plain, _loss_grads(lora_model, batch, selective=True, chunk_size=chunk_size))


def test_selective_head_projects_only_scored_rows_and_frozen_weights_get_no_grad(lora_model):
    batch = pad_collate(_items(), pad_id=3)
    rows: list[int] = []
    head = lora_model.get_base_model().get_output_embeddings()
    hook = head.register_forward_hook(
        lambda m, inp, out: rows.append(inp[0].reshape(-1, inp[0].shape[-1]).shape[0])
    )
    try:
        _loss_grads(lora_model, batch, selective=True, chunk_size=16)
        scored = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
        # Vocabulary logits only where labels carry loss (in chunks of <= 16 rows), never at prompt/pad positions.
        assert sum(rows) == scored < batch["input_ids"].numel() and max(rows) <= 16
        rows.clear()
        _loss_grads(lora_model, batch, selective=False)
        assert sum(rows) == batch["input_ids"].numel()  # the plain path projects every position
    finally:
        hook.remove()
    # Embeddings, the (tied) head and the frozen base weights get no gradient: only LoRA weights do.
    frozen = [n for n, p in lora_model.named_parameters() if not p.requires_grad]
    assert frozen and all(p.grad is None for p in lora_model.parameters() if not p.requires_grad)


def test_packed_row_gives_each_record_its_own_loss(lora_model):
    items = _items(2, lengths=(21, 8, 14))
    with torch.no_grad():
        for j, item in enumerate(items):
            alone, n_alone = causal_lm_loss(lora_model, pad_collate([item], pad_id=3))
            # The same record packed between the others, which carry no loss here: attention never crosses
            # records, so its tokens see exactly what they see alone.
            row = [
                x if i == j else {**x, "labels": [IGNORE_INDEX] * len(x["labels"])}
                for i, x in enumerate(items)
            ]
            packed, n_packed = causal_lm_loss(
                lora_model, pack_collate([row], pad_id=3, pad_to_multiple_of=64)
            )
            assert n_packed == n_alone > 0
            assert abs(float(alone) - float(packed)) < 1e-5


def test_packed_batch_loss_and_grads_match_padded(lora_model):
    items = _items(3)
    padded = _loss_grads(lora_model, pad_collate(items, pad_id=3), selective=False)
    packed = _loss_grads(
        lora_model, pack_collate([items[:2], items[2:]], pad_id=3), selective=True, chunk_size=7
    )
    _assert_same(padded, packed)


def test_no_gradient_checkpointing_computes_the_same_loss_and_grads(lora_model):
    batch = pad_collate(_items(4), pad_id=3)
    plain = _loss_grads(lora_model, batch)
    lora_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lora_model.enable_input_require_grads()
    assert lora_model.get_base_model().model.gradient_checkpointing
    _assert_same(plain, _loss_grads(lora_model, batch))


def test_thread_count_does_not_change_the_loss(lora_model):
    batch = pad_collate(_items(5), pad_id=3)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _loss_grads(lora_model, batch)
        torch.set_num_threads(2)
        two = _loss_grads(lora_model, batch)
    finally:
        torch.set_num_threads(before)
    _assert_same(one, two)


def test_bf16_autocast_loss_is_close_to_fp32(lora_model):
    # bf16 keeps 8 mantissa bits (~0.4 % per rounding), but the weights stay fp32 and autocast runs softmax and
    # the cross-entropy in fp32 (causal_lm_loss upcasts the logits), so roundings mostly average out: measured
    # <= 1e-3 relative on the tiny model. Stated tolerance: 5e-3 relative.
    batch = pad_collate(_items(6), pad_id=3)
    fp32 = _loss_grads(lora_model, batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = causal_lm_loss(lora_model, batch)
    assert loss.dtype == torch.float32
    assert float(loss) != fp32[0]  # autocast really ran in bf16
    assert abs(float(loss) - fp32[0]) / fp32[0] < 5e-3


@pytest.mark.parametrize(("bf16", "expected"), [(10.0, "32-true"), (100.0, "32-true"), (200.0, "bf16-mixed")])
def test_precision_auto_picks_bf16_only_where_it_measures_faster(monkeypatch, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_bf16_probe", lambda: {"fp32_gflops": 100.0, "bf16_gflops": bf16})
    got, info = precision.resolve_precision("auto", "cpu")
    assert got == expected and info["bf16_over_fp32"] == bf16 / 100.0
    # An explicit choice is never second-guessed.
    assert precision.resolve_precision("bf16-mixed", "cpu")[0] == "bf16-mixed"
    assert precision.resolve_precision("32-true", "cpu")[0] == "32-true"


def test_matmul_probe_measures_both_dtypes():
    probe = precision.cpu_bf16_probe(n=64)
    assert probe["fp32_gflops"] > 0 and probe["bf16_gflops"] > 0

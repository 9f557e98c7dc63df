"""oneDNN weight pre-packing: same numbers and answers as plain torch, never a stale or untrainable copy."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from honeybee.generation import cpu_kernels
from honeybee.generation.cpu_kernels import is_packed, plain_linears, prepack_linears, unpack_linears
from honeybee.generation.engine import Request, generate
from honeybee.utils.errors import ConfigError

pytestmark = pytest.mark.skipif(not cpu_kernels.supported(), reason="this torch build has no oneDNN")

CONF = Path(__file__).resolve().parents[2] / "conf"
PROMPTS = ["What is the band gap of silicon?", "Is copper a metal?", "crystal", "Tell me its density."]


def _n_linears(model) -> int:
    return sum(type(m) is torch.nn.Linear for m in model.modules())


def _logits(model, tok) -> torch.Tensor:
    enc = tok(PROMPTS, return_tensors="pt", padding=True)
    with torch.inference_mode():
        return model(**enc).logits


def test_packed_model_computes_what_the_plain_one_does(tiny_model, tiny_tokenizer):
    model = tiny_model.eval()
    plain = _logits(model, tiny_tokenizer)
    assert prepack_linears(model, 4, "true") == _n_linears(model) > 0 and is_packed(model)
    packed = _logits(model, tiny_tokenizer)
    assert torch.allclose(packed, plain, atol=1e-4, rtol=1e-4)
    reqs = [Request(p, 10) for p in PROMPTS]
    with plain_linears(model):
        assert not any("forward" in m.__dict__ for m in model.modules())
        want = [c.text for c in generate(model, tiny_tokenizer, reqs, batch_size=4)]
    assert is_packed(model) and sum("forward" in m.__dict__ for m in model.modules()) == _n_linears(model)
    assert [c.text for c in generate(model, tiny_tokenizer, reqs, batch_size=4)] == want
    assert unpack_linears(model) == _n_linears(model) and not is_packed(model)
    assert torch.equal(_logits(model, tiny_tokenizer), plain)


def test_the_packed_copy_is_used_and_an_in_place_change_retires_it(tiny_model):
    lin = tiny_model.lm_head
    x = torch.randn(3, lin.in_features)
    prepack_linears(tiny_model, 3, "true")
    before = lin(x)
    lin.weight.data.mul_(2)  # .data: the parameter's version counter does not move, so the copy stays in use
    with torch.no_grad():
        assert torch.allclose(lin(x), before, atol=1e-5)
        lin.weight.mul_(0.5)  # a tracked in-place change (what an optimizer step is) bumps the version
        lin.weight.zero_()
        assert torch.equal(lin(x), torch.zeros_like(before))  # the live weight, not the stale copy


def test_autograd_falls_back_to_the_live_weights(tiny_model, tiny_tokenizer):
    enc = tiny_tokenizer(PROMPTS, return_tensors="pt", padding=True)
    ref = tiny_model(**enc, labels=enc["input_ids"]).loss
    ref.backward()
    want = tiny_model.lm_head.weight.grad.clone()
    tiny_model.zero_grad()
    prepack_linears(tiny_model, 4, "true")
    loss = tiny_model(**enc, labels=enc["input_ids"]).loss
    loss.backward()
    assert torch.equal(loss, ref) and torch.equal(tiny_model.lm_head.weight.grad, want)


def test_modes_and_when_packing_does_not_apply(tiny_model, monkeypatch, caplog):
    with pytest.raises(ConfigError, match="cpu_prepack=sometimes must be one of auto, true, false"):
        prepack_linears(tiny_model, 4, "sometimes")
    assert prepack_linears(tiny_model, 4, False) == 0 and not is_packed(tiny_model)
    monkeypatch.setattr(cpu_kernels, "_free_bytes", lambda: 1024)
    with caplog.at_level("INFO", logger="honeybee.generation.cpu_kernels"):
        assert prepack_linears(tiny_model, 4, "auto") == 0
    assert "would not fit in free memory" in caplog.text and not is_packed(tiny_model)
    half = tiny_model.to(torch.bfloat16)
    with pytest.raises(ConfigError, match="cpu_prepack=true, but the weights are torch.bfloat16"):
        prepack_linears(half, 4, True)
    monkeypatch.setattr(cpu_kernels, "_free_bytes", lambda: None)
    assert prepack_linears(half, 4, "auto") == 0
    assert prepack_linears(half.float(), 4, "auto") == _n_linears(tiny_model)


def test_config_checks_name_the_option():
    from honeybee.evaluation.task import check_evaluate_config
    from honeybee.generation.task import check_generate_config

    for check, name in ((check_generate_config, "generate"), (check_evaluate_config, "evaluate")):
        cfg = OmegaConf.merge(OmegaConf.load(CONF / f"{name}.yaml"), {"cpu_prepack": "maybe"})
        if name == "evaluate":
            cfg.eval_task = {"perplexity": {}}
        with pytest.raises(ConfigError, match="cpu_prepack=maybe must be one of auto, true, false"):
            check(cfg)
        check(OmegaConf.merge(cfg, {"cpu_prepack": False}))  # bools from the command line are fine

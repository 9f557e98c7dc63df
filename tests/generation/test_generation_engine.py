"""The batched engine on the tiny model: left padding, per-row budgets and stops, sampling seeds."""

from __future__ import annotations

import pytest
import torch

from honeybee.generation.engine import Request, Sampling, eos_ids, generate, truncate_at_stops

PROMPTS = [
    "What is the band gap of silicon?",
    "Is copper a metal?",
    "Tell me the density of the given material.",
    "What is its melting point?",
    "crystal",
    "Given the material, what is its melting point? Answer briefly.",
]


@pytest.fixture(scope="module")
def tiny(tiny_cfg, tiny_tokenizer):
    from honeybee.model.loading import load_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # shared CPUs: oversubscribed threads make tiny-model generation ~10x slower
    yield load_model(tiny_cfg).eval(), tiny_tokenizer
    torch.set_num_threads(threads)


def test_truncate_at_stops():
    assert truncate_at_stops("a b\n### Instruction: x", ["\n### Instruction:"]) == ("a b", True)
    assert truncate_at_stops("abcabc", ["c", "b"]) == ("a", True)
    assert truncate_at_stops("abc", ["", "z"]) == ("abc", False)


def test_batched_left_padded_equals_one_at_a_time(tiny):
    model, tok = tiny
    reqs = [Request(p, 12) for p in PROMPTS]
    batched = generate(model, tok, reqs, batch_size=6)
    single = [generate(model, tok, [r], batch_size=1)[0] for r in reqs]
    assert [c.text for c in batched] == [c.text for c in single]
    assert [c.completion_tokens for c in batched] == [c.completion_tokens for c in single]
    assert [c.prompt_tokens for c in batched] == [len(tok(p)["input_ids"]) for p in PROMPTS]
    assert tok.padding_side == "right"  # restored for training


def test_each_row_keeps_its_own_budget_and_stops(tiny):
    model, tok = tiny
    prompt, stop = PROMPTS[2], "metal"  # this random model's greedy answer has "metal" mid-way
    free = generate(model, tok, [Request(prompt, 12)])[0]
    assert free.finish_reason == "length" and free.completion_tokens == 12
    assert stop in free.text and not free.text.startswith(stop)
    outs = generate(
        model, tok, [Request(prompt, 12, (stop,)), Request(prompt, 3), Request(prompt, 12)], batch_size=3
    )
    assert outs[0].text == free.text[: free.text.index(stop)] and outs[0].finish_reason == "stop"
    assert outs[0].completion_tokens < 12
    assert outs[1].completion_tokens == 3 and outs[1].finish_reason == "length"
    assert outs[2].text == free.text  # the other rows' stops and budgets do not touch it


def test_sampling_is_seeded_and_greedy_is_default(tiny):
    model, tok = tiny
    reqs = [Request(p, 10) for p in PROMPTS[:3]]
    s = Sampling(do_sample=True, temperature=1.5, top_p=0.95, top_k=50, seed=7)
    a, b = generate(model, tok, reqs, s), generate(model, tok, reqs, s)
    assert [c.text for c in a] == [c.text for c in b]
    greedy = [c.text for c in generate(model, tok, reqs)]
    assert [c.text for c in a] != greedy
    assert Sampling().generate_kwargs()["do_sample"] is False


def test_eos_ids_include_generation_config(tiny):
    model, tok = tiny
    model.generation_config.eos_token_id = [tok.eos_token_id, 5]
    try:
        assert eos_ids(model, tok) == sorted({tok.eos_token_id, 5})
    finally:
        model.generation_config.eos_token_id = tok.eos_token_id

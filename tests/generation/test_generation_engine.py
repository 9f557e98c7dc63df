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


PREAMBLE = "Below is an instruction that describes a task. Write a response that completes the request.\n\n"


def test_shared_prefix_gives_the_plain_answers(tiny, monkeypatch):
    from honeybee.generation import engine

    model, tok = tiny
    reqs = [Request(PREAMBLE + p, 10) for p in PROMPTS]
    original, calls = engine._prefix_layout, []

    def counted(*args):
        inputs, cache = original(*args)
        calls.append(cache is not None)
        return inputs, cache

    monkeypatch.setattr(engine, "_prefix_layout", counted)
    shared = generate(model, tok, reqs, batch_size=6)
    plain = generate(model, tok, reqs, batch_size=6, share_prefix=False)
    single = [generate(model, tok, [r], batch_size=1)[0] for r in reqs]
    assert calls == [True]  # the shared-prefix path really ran, once
    assert [c.text for c in shared] == [c.text for c in plain] == [c.text for c in single]
    assert [c.prompt_tokens for c in shared] == [c.prompt_tokens for c in plain]


def test_prefix_layout_keeps_positions_and_skips_short_prefixes(tiny):
    from honeybee.generation.engine import MIN_SHARED_PREFIX, _prefix_layout

    model, tok = tiny
    prompts = [PREAMBLE + "Is copper a metal?", PREAMBLE + "crystal"]
    enc, cache = _prefix_layout(model, tok, prompts, "cpu")
    ids = [tok(p)["input_ids"] for p in prompts]
    shared = cache.get_seq_length()
    assert shared >= MIN_SHARED_PREFIX and ids[0][:shared] == ids[1][:shared]
    for row, x in enumerate(ids):
        mask = enc["attention_mask"][row]
        # the visible tokens, in order, are exactly the row's prompt: same positions as unpadded
        assert enc["input_ids"][row][mask.bool()].tolist() == x
    assert _prefix_layout(model, tok, ["Is copper a metal?", "crystal"], "cpu") == (None, None)

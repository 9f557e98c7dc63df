"""Likelihood scoring: the shared-prefix scorer against a plain per-pair forward and against lm-evaluation-harness.

The harness (``lm_eval``'s ``HFLM.loglikelihood``) is the reference: the same model, prompts and options must
give the same per-option log-likelihoods (<= 1e-4) and the same argmax.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from honeybee.data.prompts import PromptStyle
from honeybee.data.records import Record
from honeybee.evaluation.likelihood import encode_pair, response_nll, score_options

# Contexts of different lengths (left padding inside a batch), one-token and multi-token options, a context
# shared by several options and one with many (more option rows than one continuation pass holds).
STYLE_CONTEXTS = [
    ("Is La2In a metal?", "", ["Yes, La2In is metal.", "No, La2In is not metal."]),
    ("paragraph classification", "Glassy Ni75P18W7 ribbons were melt-spun and annealed.", ["yes", "no"]),
    (
        "synthesis action retrieval \t stored",
        "the powders were stored in air in closed jars .",
        ["Mixing", "Purification", "Heating", "Starting", "Non-altering", "Cooling", "Reaction", "Shaping"],
    ),
    ("What is the band gap of Si?", "", ["1.12 eV", "3.4 eV", "0 eV"]),
]


def _pairs(tokenizer) -> list[tuple[str, str]]:
    style = PromptStyle.from_name("alpaca", tokenizer)
    return [(style.prompt(i, x), o) for i, x, opts in STYLE_CONTEXTS for o in opts]


def _plain_loglik(model, tokenizer, context: str, option: str) -> float:
    """One forward pass over context + option, no padding, no cache: the definition."""
    ctx, cont = encode_pair(tokenizer, context, option)
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logp = F.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    return float(sum(logp[len(ctx) - 1 + k, t] for k, t in enumerate(cont)))


def test_encode_pair_moves_trailing_whitespace(tiny_tokenizer):
    ctx, cont = encode_pair(tiny_tokenizer, "### Response:\n", "Yes")
    assert tiny_tokenizer.decode(ctx) == "### Response:"
    assert tiny_tokenizer.decode(cont) == "\nYes"


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_shared_prefix_equals_plain_forward(tiny_model, tiny_tokenizer, batch_size):
    pairs = _pairs(tiny_tokenizer)
    got = score_options(tiny_model, tiny_tokenizer, pairs, batch_size=batch_size)
    want = [_plain_loglik(tiny_model, tiny_tokenizer, c, o) for c, o in pairs]
    assert len(got) == len(pairs)
    for g, w, (_, o) in zip(got, want, pairs):
        assert math.isfinite(g.loglik) and g.loglik < 0
        assert abs(g.loglik - w) <= 1e-4, (o, g.loglik, w)
        assert g.tokens == len(encode_pair(tiny_tokenizer, pairs[0][0], o)[1])


def test_scores_depend_on_the_context(tiny_model, tiny_tokenizer):
    a, b = score_options(tiny_model, tiny_tokenizer, [("The answer is", " yes"), ("Is it? Maybe", " yes")])
    assert a.loglik != b.loglik


def test_agrees_with_lm_evaluation_harness(tiny_model, tiny_tokenizer):
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    pairs = _pairs(tiny_tokenizer)
    lm = HFLM(pretrained=tiny_model, tokenizer=tiny_tokenizer, batch_size=4, device="cpu")
    reqs = [
        Instance(request_type="loglikelihood", doc={}, arguments=(c, o), idx=i)
        for i, (c, o) in enumerate(pairs)
    ]
    ref = lm.loglikelihood(reqs, disable_tqdm=True)
    ours = score_options(tiny_model, tiny_tokenizer, pairs, batch_size=4)
    assert lm_eval.__version__
    for (r_ll, r_greedy), o in zip(ref, ours):
        assert abs(r_ll - o.loglik) <= 1e-4
        assert r_greedy == o.is_greedy
    start = 0
    for _, _, opts in STYLE_CONTEXTS:
        k = len(opts)
        ref_best = max(range(k), key=lambda j: ref[start + j][0])
        our_best = max(range(k), key=lambda j: ours[start + j].loglik)
        assert ref_best == our_best
        start += k


def test_response_nll_is_the_training_loss(tiny_model, tiny_tokenizer):
    from honeybee.data.tokenize import tokenize_record
    from honeybee.model.loss import causal_lm_loss

    style = PromptStyle.from_name("alpaca", tiny_tokenizer)
    recs = [
        Record("What is the band gap of Si?", "", "1.12 eV"),
        Record("Is La2In a metal?", "", "Yes, La2In is metal."),
        Record("Summarise.", "word " * 50, "A long answer " * 30),  # dropped: the answer alone is too long
    ]
    got = response_nll(tiny_model, tiny_tokenizer, style, recs, max_seq_len=64, batch_size=2)
    assert got[2] is None
    for rec, g in zip(recs[:2], got[:2]):
        item = tokenize_record(rec, tiny_tokenizer, style, 64)
        batch = {k: torch.tensor([v]) for k, v in item.items()}
        with torch.no_grad():
            loss, n = causal_lm_loss(tiny_model, batch)
        assert g[1] == n
        assert abs(g[0] / g[1] - float(loss)) < 1e-5


def test_windowed_attention_takes_the_plain_path(tiny_model, tiny_tokenizer, monkeypatch):
    """A model whose sliding window the sequences exceed is scored one full pass per pair: same numbers."""
    import honeybee.evaluation.likelihood as L

    pairs = _pairs(tiny_tokenizer)
    shared = score_options(tiny_model, tiny_tokenizer, pairs, batch_size=4)
    calls = []
    real = L._score_plain
    monkeypatch.setattr(L, "_sliding_window", lambda model: 16)
    monkeypatch.setattr(L, "_score_plain", lambda *a: calls.append(1) or real(*a))
    plain = score_options(tiny_model, tiny_tokenizer, pairs, batch_size=4)
    assert calls
    for a, b in zip(shared, plain):
        assert abs(a.loglik - b.loglik) <= 1e-4 and a.is_greedy == b.is_greedy and a.tokens == b.tokens


def test_common_prefix_is_computed_once_per_batch(tiny_model, tiny_tokenizer, monkeypatch):
    import honeybee.evaluation.likelihood as L

    pairs = _pairs(tiny_tokenizer)
    seen = []
    real = L._common_prefix
    monkeypatch.setattr(L, "_common_prefix", lambda c: seen.append(real(c)) or seen[-1])
    score_options(tiny_model, tiny_tokenizer, pairs, batch_size=16)
    # the four prompts share the alpaca preamble: one batch (sized once, scored once), a shared prefix of >= 8
    assert len(seen) == 2 and min(seen) >= L.MIN_SHARED_PREFIX

"""Scoring text by the model's likelihood: options of a closed answer set, and gold answers of open ones.

``score_options`` is lm-evaluation-harness's ``loglikelihood`` (its ``multiple_choice`` method): each option is
a continuation of the prompt, scored as the sum of its tokens' log-probabilities. The (context, continuation)
pair is encoded as the harness does (``encode_pair``): trailing whitespace of the context moves to the
continuation, the whole text is encoded and split at the context's length, so the numbers agree with
``HFLM.loglikelihood`` on the same model (tests/evaluation/test_likelihood.py checks it to 1e-4).

``response_nll`` is the teacher-forced loss of a record's reference answer, tokenized exactly as in training
(prompt masked, EOS included): the continuous measure that moves when greedy accuracy does not.

Both run through ``score_tokens``, which spends the forward passes where the tokens differ. The harness runs
one pass per (context, option) pair; here the contexts of a batch run once, and their common prefix (a prompt
style's preamble and often the instruction: ~35 of a DARWIN prompt's ~50 tokens) once for the whole batch; the
KV cache is then copied to every option row, and only the options' own tokens run again. Measured on SmolLM2
(experiments/bench/likelihood.py, 32 records, 2 threads): 2.1x (DARWIN), 2.3x (pc) and 6.4x (sar) fewer seconds
than lm-eval's one pass per pair, and 1.2x / 1.0x / 1.1x than one pass per context.
Models with sliding-window attention whose sequences exceed the window (Gemma 3 beyond 512 tokens) take a
plain path, one full forward per pair, since a windowed cache cannot be laid out this way.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from honeybee.data.prompts import PromptStyle
from honeybee.data.records import Record
from honeybee.data.tokenize import tokenize_record
from honeybee.model.loss import IGNORE_INDEX

# A common prefix shorter than this is not worth its own forward pass and cache copy.
MIN_SHARED_PREFIX = 8
# Context tokens (padding included) per forward pass. On the 2-core build machine (SmolLM2, fp32) ~1,000 tokens a
# pass ran 1.6x faster than 16 abstracts of ~270 tokens (615 vs 386 tokens/s): the activations stay in cache.
TOKENS_PER_PASS = 1024


@dataclass(frozen=True)
class OptionScore:
    """One continuation's score: ``loglik`` (sum of token log-probabilities), whether every token was the
    model's argmax (``is_greedy``), and how many tokens it has."""

    loglik: float
    is_greedy: bool
    tokens: int


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """``(context ids, continuation ids)`` as lm-evaluation-harness encodes a causal-LM request.

    Trailing whitespace of ``context`` is moved to ``continuation`` (a prompt ending in a newline scores the
    newline as part of each option, identically for all of them); ``context + continuation`` is encoded whole
    with the tokenizer's default special tokens and split at the length of the encoded context, so the option
    tokens are the ones the model would see, merges across the boundary included.
    """
    n = len(context) - len(context.rstrip())
    if n:
        context, continuation = context[:-n], context[-n:] + continuation
    whole = tokenizer(context + continuation)["input_ids"]
    ctx = tokenizer(context)["input_ids"]
    return ctx, whole[len(ctx) :]


def _max_length(model: Any) -> int:
    cfg = getattr(model, "config", None)
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(cfg, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def _sliding_window(model: Any) -> int | None:
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "get_text_config"):
        cfg = cfg.get_text_config()
    window = getattr(cfg, "sliding_window", None)
    return int(window) if isinstance(window, int) and window > 0 else None


def _chunks(seq: list[Any], size: int) -> list[list[Any]]:
    return [seq[i : i + size] for i in range(0, len(seq), size)]


@torch.inference_mode()
def score_options(
    model: Any,
    tokenizer: Any,
    pairs: list[tuple[str, str]],
    batch_size: int = 16,
    progress: bool = False,
) -> list[OptionScore]:
    """Log-likelihood of each ``(context, continuation)`` string pair (``encode_pair``), in the order given.

    Raises:
        ValueError: an option that encodes to no tokens.
    """
    encoded = [encode_pair(tokenizer, c, x) for c, x in pairs]
    for (_, cont), (_, text) in zip(encoded, pairs):
        if not cont:
            raise ValueError(f"option {text!r} encodes to no tokens")
    return score_tokens(model, tokenizer, encoded, batch_size, progress)


@torch.inference_mode()
def score_tokens(
    model: Any,
    tokenizer: Any,
    encoded: list[tuple[list[int], list[int]]],
    batch_size: int = 16,
    progress: bool = False,
) -> list[OptionScore]:
    """Log-likelihood of each continuation given its context, as token ids; results in the order given.

    Pairs with the same context share its forward pass, and a batch's contexts their common prefix (see the
    module docstring). Contexts longer than the model's window are cut from the left, as the harness does.

    Args:
        model: A causal LM (eval mode is set here and restored).
        tokenizer: Its tokenizer (for the pad id).
        encoded: ``(context ids, continuation ids)``; every continuation non-empty.
        batch_size: Sizes the passes with ``TOKENS_PER_PASS``: up to 4x this many contexts per forward pass
            (fewer when they are long), and at least this many option rows per continuation pass.
        progress: Show a progress bar.
    """
    from tqdm.auto import tqdm

    window = _max_length(model)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (ctx, cont) in enumerate(encoded):
        keep = window - len(cont)
        groups.setdefault(tuple(ctx[-keep:]), []).append(i)
    # By length, so a batch pads little (padding costs as much as real tokens), then by content, so contexts of
    # the same length that share their instruction land in one batch and share it too.
    contexts = sorted(groups, key=lambda c: (len(c), c))
    sliding = _sliding_window(model)
    plain = sliding is not None and any(len(c) + len(x) > sliding for c, x in encoded)
    out: dict[int, OptionScore] = {}
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    bar = tqdm(total=len(encoded), disable=not progress, desc="loglikelihood", unit="option")
    try:
        for batch in _token_batches(contexts, 4 * batch_size):
            rows = [(g, i) for g, c in enumerate(batch) for i in groups[c]]
            if plain:
                scored = _score_plain(model, [(list(batch[g]), encoded[i][1]) for g, i in rows], pad, device)
            else:
                scored = _score_shared(
                    model, batch, [(g, encoded[i][1]) for g, i in rows], batch_size, pad, device
                )
            for (_, i), s in zip(rows, scored, strict=True):
                out[i] = s
            bar.update(len(rows))
    finally:
        bar.close()
        model.train(was_training)
    return [out[i] for i in range(len(encoded))]


def _token_batches(contexts: list[tuple[int, ...]], most: int) -> list[list[tuple[int, ...]]]:
    """Consecutive (length-sorted) contexts, as many per batch as fit ``TOKENS_PER_PASS`` padded tokens beyond the
    prefix they all share (at least one, at most ``most``)."""
    shared = _common_prefix(contexts) if len(contexts) > 1 else 0
    out: list[list[tuple[int, ...]]] = []
    for c in contexts:
        if out and len(out[-1]) < most and (len(out[-1]) + 1) * (len(c) - shared) <= TOKENS_PER_PASS:
            out[-1].append(c)
        else:
            out.append([c])
    return out


def _common_prefix(contexts: list[tuple[int, ...]]) -> int:
    # Leave at least one token of every context outside the prefix: its logits predict the first option token.
    limit = min(len(c) for c in contexts) - 1
    n = 0
    while n < limit and all(c[n] == contexts[0][n] for c in contexts):
        n += 1
    return n if n >= MIN_SHARED_PREFIX and len(contexts) > 1 else 0


def _score_shared(
    model: Any,
    contexts: list[tuple[int, ...]],
    rows: list[tuple[int, list[int]]],
    rows_per_pass: int,
    pad: int,
    device: Any,
) -> list[OptionScore]:
    """Score ``rows`` (context index, continuation ids) against ``contexts`` with shared forward passes.

    Layout of the context pass: ``[shared prefix][padding][rest of the context]`` per row, the prefix's cache
    computed once; position ids follow the attention mask, so every token keeps the position and the visible
    tokens it has in its own unpadded sequence.
    """
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    shared = _common_prefix(contexts)
    if shared:
        model(
            input_ids=torch.tensor([contexts[0][:shared]], device=device),
            past_key_values=cache,
            use_cache=True,
        )
        cache.batch_repeat_interleave(len(contexts))
    width = max(len(c) for c in contexts) - shared
    ids = torch.tensor(
        [[pad] * (width - len(c) + shared) + list(c[shared:]) for c in contexts], device=device
    )
    gap = [[0] * (width - len(c) + shared) + [1] * (len(c) - shared) for c in contexts]
    mask = torch.tensor([[1] * shared + g for g in gap], device=device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, shared:]
    first = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions,
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    ).logits[:, -1]
    first_logp = F.log_softmax(first.float(), dim=-1)
    first_best = first_logp.argmax(-1)
    lengths = mask.sum(-1)
    out = []
    # Option rows per pass: as many as fit the token budget (short options: many rows, one cache copy).
    longest = max(len(c) for _, c in rows)
    for chunk in _chunks(rows, max(rows_per_pass, TOKENS_PER_PASS // longest)):
        which = torch.tensor([g for g, _ in chunk], device=device)
        conts = [c for _, c in chunk]
        scored = [(float(first_logp[g, c[0]]), int(first_best[g]) == c[0]) for g, c in chunk]
        n_rest = max(len(c) for c in conts) - 1
        if n_rest > 0:
            # Every option token but the last goes in; each predicts the next one.
            rest = torch.tensor([c[:-1] + [pad] * (n_rest - len(c) + 1) for c in conts], device=device)
            rest_mask = torch.tensor([[1] * (len(c) - 1) + [0] * (n_rest - len(c) + 1) for c in conts])
            rows_cache = copy.deepcopy(cache)
            rows_cache.batch_select_indices(which)
            logits = model(
                input_ids=rest,
                attention_mask=torch.cat([mask[which], rest_mask.to(device)], dim=-1),
                position_ids=lengths[which][:, None] + torch.arange(n_rest, device=device)[None],
                past_key_values=rows_cache,
                use_cache=True,
            ).logits
            scored = _add_rest(scored, conts, logits)
        out += [OptionScore(lp, gr, len(c)) for (lp, gr), c in zip(scored, conts, strict=True)]
    return out


def _add_rest(
    scored: list[tuple[float, bool]], conts: list[list[int]], logits: torch.Tensor
) -> list[tuple[float, bool]]:
    """Add the log-probabilities of each continuation's tokens after the first (``logits[r, k]`` predicts token
    ``k + 1`` of row ``r``)."""
    logp = F.log_softmax(logits.float(), dim=-1)
    out = list(scored)
    for r, c in enumerate(conts):
        if len(c) < 2:
            continue
        target = torch.tensor(c[1:], device=logp.device)
        lp = logp[r, : len(c) - 1]
        total = out[r][0] + float(lp.gather(-1, target[:, None]).sum())
        out[r] = (total, out[r][1] and bool((lp.argmax(-1) == target).all()))
    return out


def _score_plain(
    model: Any, pairs: list[tuple[list[int], list[int]]], pad: int, device: Any
) -> list[OptionScore]:
    """One right-padded forward pass per (context, continuation): the definition, for models whose windowed
    attention caches cannot be shared."""
    width = max(len(c) + len(x) for c, x in pairs)
    ids = torch.tensor([c + x + [pad] * (width - len(c) - len(x)) for c, x in pairs], device=device)
    mask = torch.tensor([[1] * (len(c) + len(x)) + [0] * (width - len(c) - len(x)) for c, x in pairs])
    logits = model(input_ids=ids, attention_mask=mask.to(device), use_cache=False).logits
    out = []
    for r, (c, x) in enumerate(pairs):
        logp = F.log_softmax(logits[r, len(c) - 1 : len(c) + len(x) - 1].float(), dim=-1)
        target = torch.tensor(x, device=device)
        out.append(
            OptionScore(
                float(logp.gather(-1, target[:, None]).sum()), bool((logp.argmax(-1) == target).all()), len(x)
            )
        )
    return out


@torch.inference_mode()
def response_nll(
    model: Any,
    tokenizer: Any,
    style: PromptStyle,
    records: list[Record],
    max_seq_len: int,
    batch_size: int = 16,
) -> list[tuple[float, int] | None]:
    """``(summed negative log-likelihood, tokens)`` of each record's reference answer, teacher-forced.

    Tokenized as in training (``tokenize_record``: prompt masked, EOS scored, long inputs shortened); None for
    a record whose answer alone does not fit ``max_seq_len`` (training would drop it too).
    """
    items = [tokenize_record(r, tokenizer, style, max_seq_len) for r in records]
    todo = [i for i, x in enumerate(items) if x is not None]
    pairs = []
    for i in todo:
        ids, labels = items[i]["input_ids"], items[i]["labels"]  # type: ignore[index]
        start = next(k for k, lab in enumerate(labels) if lab != IGNORE_INDEX)
        pairs.append((ids[:start], ids[start:]))
    scores = score_tokens(model, tokenizer, pairs, batch_size)
    out: list[tuple[float, int] | None] = [None] * len(records)
    for i, s in zip(todo, scores):
        out[i] = (-s.loglik, s.tokens)
    return out


def mean_token_nll(nll: tuple[float, int] | None) -> float | None:
    """A record's mean token NLL (None for a record that was not scored, or has no scored token)."""
    if nll is None or nll[1] == 0:
        return None
    value = nll[0] / nll[1]
    return value if math.isfinite(value) else None

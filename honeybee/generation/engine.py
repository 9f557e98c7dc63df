"""Batched generation with left padding and the KV cache: greedy by default, stops and lengths per row."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList


@dataclass(frozen=True)
class Sampling:
    """How the next token is picked. Requests with equal ``Sampling`` can share a batch.

    Attributes:
        do_sample: False is greedy decoding (deterministic); the other fields then do not apply.
        temperature: Softmax temperature when sampling.
        top_p: Nucleus sampling mass (1.0 = off).
        top_k: Sample only from the k most likely tokens (0 = off).
        seed: Seeds torch before generating, so a sampled call can be repeated.
        ignore_eos: Never pick EOS, so every answer runs to its token budget (throughput benchmarks).
    """

    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    ignore_eos: bool = False

    def generate_kwargs(self) -> dict[str, Any]:
        if not self.do_sample:
            # None overrides sampling defaults a checkpoint's generation_config may carry (and its warnings).
            return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        return {
            "do_sample": True,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k or None,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Request:
    """One prompt to complete: the exact text the model sees, its token budget and its stop strings."""

    prompt: str
    max_new_tokens: int = 64
    stop: tuple[str, ...] = ()


@dataclass
class Completion:
    """A generated answer. ``finish_reason`` is "stop" (EOS or a stop string) or "length" (budget spent)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


def truncate_at_stops(text: str, stops: Iterable[str]) -> tuple[str, bool]:
    """Cut ``text`` at the earliest stop string; also say whether one was found."""
    cut = min((i for s in stops if s and (i := text.find(s)) != -1), default=-1)
    return (text, False) if cut == -1 else (text[:cut], True)


class RowStops(StoppingCriteria):
    """Ends each row at its own stop strings and token budget, so one request never cuts another short.

    Only the tail of each row is decoded: a stop string of n characters spans at most n tokens.
    """

    def __init__(
        self, tokenizer: Any, prompt_len: int, stops: list[tuple[str, ...]], budgets: list[int]
    ) -> None:
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.stops = stops
        self.budgets = budgets
        self.windows = [max((len(s) for s in st), default=0) + 1 for st in stops]

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        new = input_ids.shape[1] - self.prompt_len
        done = []
        for row, (stops, budget, window) in enumerate(zip(self.stops, self.budgets, self.windows)):
            if new >= budget:
                done.append(True)
            elif stops:
                tail = self.tokenizer.decode(
                    input_ids[row, self.prompt_len :][-window:], skip_special_tokens=True
                )
                done.append(any(s in tail for s in stops))
            else:
                done.append(False)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class GenerationCancelled(Exception):
    """``generate`` stopped because its ``cancel`` event was set (a server shutting down)."""


class Cancel(StoppingCriteria):
    """Ends every row at the next decoding step once ``event`` is set (checked between steps)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        return torch.full(
            (input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device
        )


def eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """Token ids that end an answer: the tokenizer's EOS plus any the checkpoint's generation_config adds
    (chat models often end a turn with a token other than the tokenizer's EOS)."""
    ids = {tokenizer.eos_token_id}
    extra = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(extra if isinstance(extra, (list, tuple)) else [extra])
    return sorted(i for i in ids if i is not None)


def _finish(ids: list[int], eos: set[int], pad_id: int | None, req: Request, tokenizer: Any) -> Completion:
    """One row's new token ids as a Completion: cut at EOS, trailing padding dropped, stops applied."""
    hit_eos = False
    for k, t in enumerate(ids):
        if t in eos:
            ids, hit_eos = ids[:k], True
            break
    while ids and ids[-1] == pad_id and not hit_eos:
        ids = ids[:-1]
    text, hit_stop = truncate_at_stops(tokenizer.decode(ids, skip_special_tokens=True), req.stop)
    reason = "stop" if hit_eos or hit_stop or len(ids) < req.max_new_tokens else "length"
    return Completion(text, 0, len(ids), reason)


# Shorter shared prefixes are not worth a separate forward pass and a cache copy.
MIN_SHARED_PREFIX = 8


def _prefix_layout(
    model: Any, tokenizer: Any, prompts: list[str], device: Any
) -> tuple[dict[str, torch.Tensor] | None, Any]:
    """Lay a batch out as ``[shared prefix][padding][rest of prompt]`` with the prefix's KV cache precomputed.

    The prefix goes through the model once (batch 1) and its cache is repeated for every row. The padding
    sits between prefix and suffix and is masked out; generate derives position ids from the attention mask
    (cumulative sum), so every token keeps the position it has in its unpadded prompt and attends to the same
    tokens: the answers equal the plain left-padded path's up to float rounding.

    Returns:
        ``(inputs, cache)`` for ``model.generate``, or ``(None, None)`` when the prompts share fewer than
        ``MIN_SHARED_PREFIX`` tokens or the model has no dynamic cache.
    """
    from transformers import DynamicCache

    ids = [tokenizer(p, add_special_tokens=True)["input_ids"] for p in prompts]
    shared = 0
    # Keep at least one token of each prompt outside the prefix: generate needs an uncached input token.
    limit = min(len(x) for x in ids) - 1
    while shared < limit and all(x[shared] == ids[0][shared] for x in ids):
        shared += 1
    if shared < MIN_SHARED_PREFIX:
        return None, None
    rest = max(len(x) - shared for x in ids)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    rows, masks = [], []
    for x in ids:
        gap = rest - (len(x) - shared)
        rows.append(x[:shared] + [pad] * gap + x[shared:])
        masks.append([1] * shared + [0] * gap + [1] * (len(x) - shared))
    cache = DynamicCache(config=model.config)
    prefix = torch.tensor([ids[0][:shared]], device=device)
    model(input_ids=prefix, past_key_values=cache, use_cache=True)
    cache.batch_repeat_interleave(len(prompts))
    inputs = {
        "input_ids": torch.tensor(rows, device=device),
        "attention_mask": torch.tensor(masks, device=device),
    }
    return inputs, cache


@torch.inference_mode()
def generate(
    model: Any,
    tokenizer: Any,
    requests: list[Request],
    sampling: Sampling = Sampling(),
    batch_size: int = 16,
    progress: bool = False,
    share_prefix: bool = True,
    cancel: threading.Event | None = None,
) -> list[Completion]:
    """Complete ``requests`` in batches of ``batch_size``; results come back in the requests' order.

    Setting ``cancel`` (from another thread, or a signal handler) ends generation at the next decoding step
    and raises :class:`GenerationCancelled`: a server shutting down does not finish a long answer first.

    Prompts are tokenized exactly as in training (``add_special_tokens=True``) and left-padded so every row's
    last prompt token sits at the same position and the KV cache is reused step to step. Prompts are sorted by
    length first so a batch holds similar lengths (less padding).

    With ``share_prefix`` a batch whose prompts start with the same tokens (a prompt style's preamble is
    about half of a short prompt) computes that prefix's KV cache once and copies it to every row; see
    ``_prefix_layout``. The answers are those of the plain path (same positions, same visible tokens).
    """
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    eos = eos_ids(model, tokenizer)
    order = sorted(range(len(requests)), key=lambda i: len(requests[i].prompt))
    results: dict[int, Completion] = {}
    if sampling.seed is not None:
        torch.manual_seed(sampling.seed)
    bar = tqdm(total=len(requests), disable=not progress, desc="generate", unit="prompt")
    try:
        for s in range(0, len(order), batch_size):
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled()
            idx = order[s : s + batch_size]
            batch = [requests[i] for i in idx]
            enc, cache = None, None
            if share_prefix and len(batch) > 1:
                enc, cache = _prefix_layout(model, tokenizer, [r.prompt for r in batch], device)
            if enc is None:
                enc = tokenizer(
                    [r.prompt for r in batch], return_tensors="pt", padding=True, add_special_tokens=True
                )
                enc = {k: v.to(device) for k, v in enc.items()}
            width = enc["input_ids"].shape[1]
            budgets = [r.max_new_tokens for r in batch]
            stops = StoppingCriteriaList([RowStops(tokenizer, width, [r.stop for r in batch], budgets)])
            if cancel is not None:
                stops.append(Cancel(cancel))
            gen = model.generate(
                **enc,
                past_key_values=cache,
                max_new_tokens=max(budgets),
                min_new_tokens=max(budgets) if sampling.ignore_eos else None,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=eos,
                stopping_criteria=stops,
                use_cache=True,
                **sampling.generate_kwargs(),
            )
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled()
            new = gen[:, width:].tolist()
            for row, (i, req) in enumerate(zip(idx, batch)):
                done = _finish(
                    new[row][: req.max_new_tokens], set(eos), tokenizer.pad_token_id, req, tokenizer
                )
                done.prompt_tokens = int(enc["attention_mask"][row].sum())
                results[i] = done
            bar.update(len(idx))
    finally:
        bar.close()
        tokenizer.padding_side = old_side
        model.train(was_training)
    return [results[i] for i in range(len(requests))]


def generate_batch(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    max_new_tokens: int = 64,
    batch_size: int = 16,
    stop_strings: Iterable[str] = (),
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """``generate`` for plain prompt strings sharing one budget and stop list (the held-out check's form).

    Returns:
        One dict per prompt: ``completion``, ``prompt_tokens``, ``completion_tokens``.
    """
    stops = tuple(stop_strings)
    reqs = [Request(p, max_new_tokens, stops) for p in prompts]
    outs = generate(model, tokenizer, reqs, Sampling(do_sample, temperature, top_p), batch_size, progress)
    return [
        {"completion": c.text, "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens}
        for c in outs
    ]

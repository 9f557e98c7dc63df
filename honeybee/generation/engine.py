"""Batched greedy/sampled generation with left padding and the KV cache."""

from __future__ import annotations

from typing import Any, Iterable

import torch


def _truncate_at_stops(text: str, stops: Iterable[str]) -> str:
    cut = len(text)
    for s in stops:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]


@torch.inference_mode()
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
    """Generate completions for ``prompts`` in batches.

    Prompts are tokenized exactly as in training (``add_special_tokens=True``) and left-padded so every row's
    last prompt token sits at the same position. Greedy unless ``do_sample``.

    Returns:
        One dict per prompt: ``completion``, ``prompt_tokens``, ``completion_tokens``.
    """
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    stops = list(stop_strings)
    out: list[dict[str, Any]] = []
    device = next(model.parameters()).device
    # Sorting by length keeps padding low; results are put back in the caller's order.
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: dict[int, dict[str, Any]] = {}
    try:
        for s in tqdm(range(0, len(order), batch_size), disable=not progress, desc="generate"):
            idx = order[s : s + batch_size]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=True)
            enc = {k: v.to(device) for k, v in enc.items()}
            kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": do_sample,
                                      "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id}
            if do_sample:
                kwargs.update(temperature=temperature, top_p=top_p)
            else:
                kwargs.update(temperature=None, top_p=None, top_k=None)
            gen = model.generate(**enc, **kwargs)
            new = gen[:, enc["input_ids"].shape[1] :]
            for row, i in enumerate(idx):
                ids = new[row].tolist()
                if tokenizer.eos_token_id in ids:
                    ids = ids[: ids.index(tokenizer.eos_token_id)]
                ids = [t for t in ids if t != tokenizer.pad_token_id]
                text = _truncate_at_stops(tokenizer.decode(ids, skip_special_tokens=True), stops)
                results[i] = {"completion": text, "prompt_tokens": int(enc["attention_mask"][row].sum()),
                              "completion_tokens": len(ids)}
    finally:
        tokenizer.padding_side = old_side
        model.train(was_training)
    out = [results[i] for i in range(len(prompts))]
    return out

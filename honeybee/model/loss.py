"""Causal-LM loss that projects to the vocabulary only where labels carry loss.

The plain path (``model(input_ids, labels=...)``) computes full-vocabulary logits at every position, although
with prompt masking most positions carry no loss. Here the backbone's hidden states are gathered at the scored
positions and the LM head + cross-entropy run on those rows only, in chunks, so prompt positions never
materialise ``[tokens, vocab]`` logits. The result equals the plain loss (mean over scored tokens).

It lives in ``model`` because training (the LightningModule) and evaluation (the held-out check) both use it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

# The label of a position that carries no loss (prompt tokens, padding): cross_entropy's default ignore_index.
IGNORE_INDEX = -100


def split_backbone(model: Any) -> tuple[Any, Any] | None:
    """Return ``(backbone, lm_head)`` of a (PEFT-wrapped) HF causal LM, or None if the layout is unknown."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    backbone = getattr(base, "model", None)
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    if backbone is None or head is None or not isinstance(backbone, torch.nn.Module):
        return None
    return backbone, head


def logit_softcap(model: Any) -> float | None:
    """The model's ``final_logit_softcapping`` (logits -> cap * tanh(logits / cap)), or None.

    The model applies it in its own forward after the LM head; the selective path calls the head directly, so it
    must apply it too or its loss would differ from the model's.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    if config is not None and hasattr(config, "get_text_config"):
        config = config.get_text_config()
    cap = getattr(config, "final_logit_softcapping", None)
    return float(cap) if cap else None


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keyword arguments for the model besides ``input_ids``.

    ``position_ids`` mark a packed batch (:func:`honeybee.data.collate.pack_collate`): transformers finds the
    record boundaries from position ids that restart at 0 only when no 2D mask is given, so the batch's
    ``attention_mask`` (real-token counts) is left out then.
    """
    if batch.get("position_ids") is not None:
        return {"position_ids": batch["position_ids"]}
    return {"attention_mask": batch["attention_mask"]} if batch.get("attention_mask") is not None else {}


def one_row(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A packed batch laid out as a single row (``[1, batch * width]``); the loss is unchanged.

    Flash attention detects packed records from position ids only in a batch of one row (transformers'
    ``_is_packed_sequence``); with more rows it would let records attend to earlier ones in their row. Every
    row starts a record at position 0 and its first label is ``-100``, so concatenating rows is exact.
    """
    return {k: batch[k].reshape(1, -1) for k in ("input_ids", "labels", "position_ids")}


def _flash_attention(model: Any) -> bool:
    return "flash" in str(getattr(getattr(model, "config", None), "_attn_implementation", None) or "")


def causal_lm_loss(
    model: Any, batch: dict[str, torch.Tensor], chunk_size: int = 4096, selective: bool = True
) -> tuple[torch.Tensor, int]:
    """Mean next-token cross-entropy over positions whose label is not ``-100``.

    Args:
        model: A HF causal LM, possibly PEFT-wrapped.
        batch: ``input_ids``, ``labels`` and optionally ``attention_mask``, or ``position_ids`` for a packed
            batch (see :func:`model_inputs`).
        chunk_size: Scored rows projected to the vocabulary at a time (bounds peak memory).
        selective: False uses the model's own full-vocabulary loss (the reference path).

    Returns:
        ``(loss, n_scored_tokens)``.
    """
    if batch.get("position_ids") is not None and _flash_attention(model):
        batch = one_row(batch)
    labels = batch["labels"]
    shift_labels = labels[:, 1:]
    n = int((shift_labels != IGNORE_INDEX).sum())
    # No KV cache: training never reads it, and one would switch off transformers' packed-sequence detection.
    kwargs = {"use_cache": False, **model_inputs(batch)}
    parts = split_backbone(model) if selective else None
    if parts is None:
        out = model(input_ids=batch["input_ids"], labels=labels, **kwargs)
        return out.loss, n
    backbone, head = parts
    cap = logit_softcap(model)
    hidden = backbone(input_ids=batch["input_ids"], **kwargs).last_hidden_state
    mask = shift_labels != IGNORE_INDEX
    rows = hidden[:, :-1][mask]
    targets = shift_labels[mask]
    if n == 0:
        # Keep the graph connected so every rank runs the same backward (DDP) even on an all-masked batch.
        return hidden.sum() * 0.0, 0
    total = hidden.new_zeros((), dtype=torch.float32)
    for i in range(0, rows.shape[0], chunk_size):
        logits = head(rows[i : i + chunk_size]).float()
        if cap:  # as the model's own forward does before its loss (Gemma 2; Gemma 3 270M has none)
            logits = torch.tanh(logits / cap) * cap
        total = total + F.cross_entropy(logits, targets[i : i + chunk_size], reduction="sum")
    return total / n, n

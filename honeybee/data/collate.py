"""Pure collate functions: lists of token ids -> padded or packed tensors."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from honeybee.data.tokenize import IGNORE_INDEX


def pad_collate(
    batch: Sequence[dict[str, list[int]]], pad_id: int, pad_to_multiple_of: int | None = None
) -> dict[str, torch.Tensor]:
    """Right-pad a batch; padding gets ``attention_mask=0`` and ``labels=-100``.

    Args:
        batch: Items with ``input_ids`` and ``labels`` of equal length.
        pad_id: Token id written into padded positions (never attended to, never scored).
        pad_to_multiple_of: Round the padded length up (helps tensor-core kernels on GPU).
    """
    width = max(len(x["input_ids"]) for x in batch)
    if pad_to_multiple_of:
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    n = len(batch)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((n, width), dtype=torch.long)
    for i, x in enumerate(batch):
        k = len(x["input_ids"])
        input_ids[i, :k] = torch.tensor(x["input_ids"])
        labels[i, :k] = torch.tensor(x["labels"])
        attention_mask[i, :k] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}


def pack_collate(
    rows: Sequence[Sequence[dict[str, list[int]]]], pad_id: int, pad_to_multiple_of: int | None = None
) -> dict[str, torch.Tensor]:
    """Lay the records of each row end to end, each one isolated from the others.

    Every record's ``position_ids`` restart at 0. Given such position ids and no attention mask, transformers
    (``masking_utils.find_packed_sequence_indices`` for sdpa/eager/flex, varlen kernels for flash attention)
    starts a new sequence at every restart, so the causal mask is block-diagonal and no token attends to
    another record. The first label of each record is ``-100``: it would otherwise train the previous record's
    last token to predict it, whereas unpacked it is never scored. The padded tail gets a position run of its
    own, so it is one more (unscored) sequence that no record attends to.

    Args:
        rows: One list of items (``input_ids``, ``labels``) per output row, e.g. from ``PackedRows``.
        pad_id: Token id written into the padded tail.
        pad_to_multiple_of: Round the row width up (helps tensor-core kernels on GPU).

    Returns:
        ``input_ids``, ``labels``, ``position_ids`` and ``attention_mask`` (1 on real tokens). That mask only
        counts real tokens (``TrainingStats``): handing a 2D mask to the model turns packed-sequence detection
        off and lets records attend to each other, so :func:`honeybee.model.loss.causal_lm_loss` drops it
        whenever ``position_ids`` are present.
    """
    width = max(sum(len(x["input_ids"]) for x in row) for row in rows)
    if pad_to_multiple_of:
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    n = len(rows)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
    position_ids = torch.empty((n, width), dtype=torch.long)
    attention_mask = torch.zeros((n, width), dtype=torch.long)
    for i, row in enumerate(rows):
        start = 0
        for x in row:
            k = len(x["input_ids"])
            input_ids[i, start : start + k] = torch.tensor(x["input_ids"])
            labels[i, start + 1 : start + k] = torch.tensor(x["labels"][1:])
            position_ids[i, start : start + k] = torch.arange(k)
            start += k
        position_ids[i, start:] = torch.arange(width - start)
        attention_mask[i, :start] = 1
    return {
        "input_ids": input_ids,
        "labels": labels,
        "position_ids": position_ids,
        "attention_mask": attention_mask,
    }

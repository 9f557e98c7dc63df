"""Record -> token ids with prompt masking, EOS and a truncation policy that never trains on nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from honeybee.data.prompts import PromptStyle
from honeybee.data.records import Record
from honeybee.model.loss import IGNORE_INDEX


@dataclass
class TokenizeStats:
    """Counts kept while tokenizing a split, logged so nothing is silently lost."""

    records: int = 0
    kept: int = 0
    input_truncated: int = 0
    prompt_truncated: int = 0
    dropped_too_long: int = 0
    tokens: int = 0
    loss_tokens: int = 0

    @property
    def loss_token_fraction(self) -> float:
        return self.loss_tokens / self.tokens if self.tokens else 0.0

    def as_dict(self) -> dict[str, float]:
        d = dict(self.__dict__)
        d["loss_token_fraction"] = round(self.loss_token_fraction, 4)
        return d


def _ids(tokenizer: Any, text: str, special: bool) -> list[int]:
    return tokenizer(text, add_special_tokens=special)["input_ids"]


def tokenize_record(
    record: Record,
    tokenizer: Any,
    style: PromptStyle,
    max_seq_len: int,
    train_on_prompt: bool = False,
    stats: TokenizeStats | None = None,
) -> dict[str, list[int]] | None:
    """Tokenize one record as ``prompt + response + EOS``.

    Prompt and response are tokenized separately so the prompt ids are exactly what generation sees. When the
    whole does not fit, the ``input`` (the long abstract in MatSci-Instruct) is shortened first, keeping the
    instruction and the response; if that is not enough, the prompt is cut from the left. A record is dropped
    only when its response alone cannot fit.

    Returns:
        ``{"input_ids", "labels"}`` (labels are ``-100`` on prompt tokens unless ``train_on_prompt``), or
        ``None`` for a dropped record.
    """
    stats = stats if stats is not None else TokenizeStats()
    stats.records += 1
    prompt, response = style.format(record)
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    resp_ids = _ids(tokenizer, response, False) + eos
    if len(resp_ids) > max_seq_len - 1:
        stats.dropped_too_long += 1
        return None
    prompt_ids = _ids(tokenizer, prompt, True)
    budget = max_seq_len - len(resp_ids)
    if len(prompt_ids) > budget and record.input.strip():
        stats.input_truncated += 1
        input_ids = _ids(tokenizer, record.input, False)
        keep = max(0, len(input_ids) - (len(prompt_ids) - budget))
        # Decoding a token prefix can re-tokenize slightly longer, so shrink until the prompt fits.
        while True:
            short = tokenizer.decode(input_ids[:keep]) if keep else ""
            prompt_ids = _ids(tokenizer, style.prompt(record.instruction, short), True)
            if len(prompt_ids) <= budget or keep == 0:
                break
            keep = max(0, keep - max(1, len(prompt_ids) - budget))
    if len(prompt_ids) > budget:
        stats.prompt_truncated += 1
        bos = tokenizer.bos_token_id
        if bos is not None and prompt_ids[0] == bos and budget > 1:
            # Cut after the BOS the tokenizer prepended, not through it: Gemma without <bos> is far worse.
            prompt_ids = [bos] + prompt_ids[len(prompt_ids) - budget + 1 :]
        else:
            prompt_ids = prompt_ids[len(prompt_ids) - budget :]
    ids = prompt_ids + resp_ids
    labels = list(ids) if train_on_prompt else [IGNORE_INDEX] * len(prompt_ids) + resp_ids
    stats.kept += 1
    stats.tokens += len(ids)
    stats.loss_tokens += sum(1 for x in labels[1:] if x != IGNORE_INDEX)
    return {"input_ids": ids, "labels": labels}

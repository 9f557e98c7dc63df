"""Prompt masking, EOS, truncation policy and padding."""

from __future__ import annotations

import torch

from honeybee.data.collate import pad_collate
from honeybee.data.prompts import PromptStyle
from honeybee.data.records import Record
from honeybee.data.tokenize import IGNORE_INDEX, TokenizeStats, tokenize_record


def test_labels_mask_exactly_the_prompt(tiny_tokenizer):
    style = PromptStyle.from_name("alpaca")
    rec = Record("What is the band gap of the given material?", "silicon (Si)", "1.12 eV")
    item = tokenize_record(rec, tiny_tokenizer, style, max_seq_len=256)
    prompt_ids = tiny_tokenizer(style.format(rec)[0])["input_ids"]
    resp_ids = tiny_tokenizer("1.12 eV", add_special_tokens=False)["input_ids"]
    n = len(prompt_ids)
    assert item["input_ids"] == prompt_ids + resp_ids + [tiny_tokenizer.eos_token_id]
    assert item["labels"][:n] == [IGNORE_INDEX] * n
    assert item["labels"][n:] == resp_ids + [tiny_tokenizer.eos_token_id]
    whole = tokenize_record(rec, tiny_tokenizer, style, 256, train_on_prompt=True)
    assert whole["labels"] == whole["input_ids"]


def test_long_input_is_truncated_before_the_response(tiny_tokenizer):
    style = PromptStyle.from_name("alpaca")
    abstract = "We present results of magnetic susceptibility measurements of thin films. " * 40
    rec = Record("Summarise the abstract.", abstract, "Magnetic films were measured.")
    stats = TokenizeStats()
    item = tokenize_record(rec, tiny_tokenizer, style, max_seq_len=96, stats=stats)
    resp = tiny_tokenizer(rec.output, add_special_tokens=False)["input_ids"] + [tiny_tokenizer.eos_token_id]
    assert len(item["input_ids"]) <= 96
    assert item["input_ids"][-len(resp) :] == resp  # the whole response survives
    assert item["labels"][-len(resp) :] == resp
    decoded = tiny_tokenizer.decode(item["input_ids"])
    assert "### Instruction:\nSummarise the abstract." in decoded and "### Response:" in decoded
    assert stats.input_truncated == 1 and stats.dropped_too_long == 0 and stats.kept == 1


def test_record_dropped_only_when_response_cannot_fit(tiny_tokenizer):
    style = PromptStyle.from_name("plain")
    stats = TokenizeStats()
    long_answer = Record("Q?", "", "word " * 200)
    assert tokenize_record(long_answer, tiny_tokenizer, style, 64, stats=stats) is None
    # No input to shorten: the prompt is cut from the left, the response kept.
    long_q = Record("why " * 100, "", "because")
    item = tokenize_record(long_q, tiny_tokenizer, style, 64, stats=stats)
    assert item is not None and len(item["input_ids"]) == 64
    assert stats.dropped_too_long == 1 and stats.prompt_truncated == 1 and stats.kept == 1
    assert 0 < stats.loss_token_fraction < 1


def test_left_cut_keeps_the_bos_the_tokenizer_prepends(tiny_tokenizer):
    """Gemma's tokenizer prepends <bos> and the model needs it: a prompt cut from the left keeps it."""

    class WithBos:
        bos_token_id, eos_token_id = 1, tiny_tokenizer.eos_token_id

        def __call__(self, text, add_special_tokens=True):
            ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
            return {"input_ids": ([1] if add_special_tokens else []) + ids}

    stats = TokenizeStats()
    item = tokenize_record(
        Record("why " * 100, "", "because"), WithBos(), PromptStyle.from_name("plain"), 64, stats=stats
    )
    full = WithBos()(("why " * 100).strip() + "\n")["input_ids"]
    resp = tiny_tokenizer("because", add_special_tokens=False)["input_ids"] + [tiny_tokenizer.eos_token_id]
    assert stats.prompt_truncated == 1 and len(item["input_ids"]) == 64
    assert item["input_ids"] == [1] + full[len(full) - (63 - len(resp)) :] + resp


def test_pad_collate_masks_padding():
    batch = [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    out = pad_collate(batch, pad_id=0, pad_to_multiple_of=4)
    assert out["input_ids"].tolist() == [[5, 6, 7, 0], [8, 0, 0, 0]]
    assert out["labels"].tolist() == [[-100, 6, 7, -100], [8, -100, -100, -100]]
    assert out["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    assert out["input_ids"].dtype == torch.long


def test_prompt_styles_registry(tiny_tokenizer):
    assert set(PromptStyle.registry) >= {"alpaca", "chat", "plain"}
    chat = PromptStyle.from_name("chat", tiny_tokenizer).prompt("Is Cu a metal?")
    assert chat.startswith("<|im_start|>user\nIs Cu a metal?") and chat.endswith("<|im_start|>assistant\n")
    no_input = PromptStyle.from_name("alpaca").prompt("Q")
    assert "### Input" not in no_input and no_input.endswith("### Response:\n")
    import pytest

    from honeybee.utils.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown prompt style 'nope'"):
        PromptStyle.from_name("nope")

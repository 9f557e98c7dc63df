"""A prompt style as a chat template: what an exported model's tokenizer renders equals what honeybee sends."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from honeybee.data.prompts import PromptStyle

# Text as users send it: edges of whitespace, newlines, quotes and braces (Jinja's own syntax) included.
TEXT = st.lists(st.sampled_from(list("ab Z9.\n\t'\"{}%#:é") + ["{{", "{%", "}}"]), max_size=20).map("".join)
ROLES = st.sampled_from(["system", "user", "assistant"])


def server_prompt(style: PromptStyle, messages: list[dict[str, str]]) -> str:
    """honeybee's own mapping (Generator.chat_prompt): last message = instruction, the rest = input block."""
    context = "\n".join(f"{m['role']}: {m['content']}" for m in messages[:-1])
    return style.prompt(messages[-1]["content"], context)


@pytest.fixture(scope="module")
def tok(tiny_tokenizer):
    return copy.deepcopy(tiny_tokenizer)


@pytest.mark.parametrize("name", ["alpaca", "plain"])
@given(history=st.lists(st.tuples(ROLES, TEXT), max_size=3), last=TEXT)
def test_template_renders_the_style_for_any_messages(tok, name, history, last):
    style = PromptStyle.from_name(name)
    tok.chat_template = style.chat_template()
    messages = [{"role": r, "content": c} for r, c in history] + [{"role": "user", "content": last}]
    got = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert got == server_prompt(style, messages)


def test_template_tokenizes_as_training_does_and_writes_bos_once(tok):
    style = PromptStyle.from_name("alpaca")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Band gap of GaAs?"}]
    tok.chat_template = style.chat_template()
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)
    assert list(ids) == tok(server_prompt(style, messages), add_special_tokens=True)["input_ids"]
    tok.chat_template = style.chat_template(bos=True)
    tok.bos_token = "<bos>"  # the tiny tokenizer has no BOS of its own; Gemma's is <bos>
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == "<bos>" + server_prompt(style, messages)


def test_a_trailing_assistant_turn_renders_the_training_text(tok):
    style = PromptStyle.from_name("alpaca")
    tok.chat_template = style.chat_template()
    messages = [{"role": "user", "content": "Is Cu a metal?"}, {"role": "assistant", "content": "Yes."}]
    got = tok.apply_chat_template(messages, tokenize=False)
    assert got == style.prompt("Is Cu a metal?") + "Yes." + tok.eos_token


def test_chat_style_keeps_the_tokenizers_own_template():
    assert PromptStyle.from_name("chat").chat_template() is None

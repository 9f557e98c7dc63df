"""Prompt styles: how a record becomes (prompt, response) text.

A registry in the LitGPT manner: ``PromptStyle.from_name("alpaca")``. The chosen style is saved beside the
adapter (``honeybee.json``) so generation and evaluation format prompts exactly as training did.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from honeybee.data.records import Record
from honeybee.utils.errors import ConfigError


class PromptStyle:
    """Base class: subclasses turn a record's instruction/input into the prompt the model sees."""

    name: ClassVar[str] = ""
    registry: ClassVar[dict[str, type[PromptStyle]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            PromptStyle.registry[cls.name] = cls

    def __init__(self, tokenizer: Any = None) -> None:
        self.tokenizer = tokenizer

    @classmethod
    def from_name(cls, name: str, tokenizer: Any = None) -> PromptStyle:
        """Look a style up by name.

        Raises:
            ConfigError: for an unknown name (the message lists the known ones).
        """
        if name not in cls.registry:
            raise ConfigError(
                f"unknown prompt style {name!r} (choose from: {', '.join(sorted(cls.registry))})"
            )
        return cls.registry[name](tokenizer)

    def prompt(self, instruction: str, input: str = "") -> str:
        raise NotImplementedError

    def format(self, record: Record) -> tuple[str, str]:
        """Return ``(prompt, response)``; the response is what carries the loss."""
        return self.prompt(record.instruction, record.input), record.output

    def stop_strings(self) -> list[str]:
        """Strings that end a generated answer besides the tokenizer's EOS token."""
        return []

    def chat_template(self, bos: bool = False) -> str | None:
        """A Jinja chat template that renders this style, for the tokenizer of an exported model.

        ``apply_chat_template`` (transformers, vLLM's chat endpoint) then builds exactly the prompt honeybee's
        server builds from the same messages (``Generator.chat_prompt``): the last user message is the
        instruction and earlier messages become the input block as ``role: content`` lines. A conversation that
        ends with an assistant message renders as prompt + answer + EOS (the training text). Templated text
        is tokenized without special tokens, so ``bos`` (the tokenizer prepends a BOS token, as Gemma's does)
        puts ``bos_token`` in the template itself. None: the style is the tokenizer's own template already.
        """
        body = self._template_body()
        if body is None:
            return None
        return _TURNS + ("{{- bos_token -}}" if bos else "") + body + _ANSWER

    def _template_body(self) -> str | None:
        """Jinja that writes the prompt from the variables ``instruction`` and ``input`` (both stripped)."""
        return None


def _lit(text: str) -> str:
    """``text`` as a Jinja string literal (Jinja reads JSON's escapes)."""
    return json.dumps(text)


# Shared by the single-turn styles' chat templates: messages -> (instruction, input, answer), as
# Generator.chat_prompt maps them.
_TURNS = (
    "{%- set turns = messages -%}{%- set answer = none -%}"
    "{%- if turns and turns[-1]['role'] == 'assistant' -%}"
    "{%- set answer = turns[-1]['content'] -%}{%- set turns = turns[:-1] -%}{%- endif -%}"
    "{%- set ns = namespace(context='') -%}"
    "{%- for m in turns[:-1] -%}"
    "{%- set ns.context = ns.context + ('' if loop.first else '\\n') + m['role'] + ': ' + m['content'] -%}"
    "{%- endfor -%}"
    "{%- set instruction = (turns[-1]['content'] if turns else '') | trim -%}"
    "{%- set input = ns.context | trim -%}"
)
_ANSWER = "{%- if answer is not none -%}{{- answer + eos_token -}}{%- endif -%}"


class Alpaca(PromptStyle):
    """HoneyBee's (Stanford Alpaca) format, with and without an input block."""

    name = "alpaca"

    WITH_INPUT = (
        "Below is an instruction that describes a task, paired with an input that provides further "
        "context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
    )
    NO_INPUT = (
        "Below is an instruction that describes a task. Write a response that appropriately completes "
        "the request.\n\n### Instruction:\n"
    )

    def prompt(self, instruction: str, input: str = "") -> str:
        if input.strip():
            return f"{self.WITH_INPUT}{instruction.strip()}\n\n### Input:\n{input.strip()}\n\n### Response:\n"
        return f"{self.NO_INPUT}{instruction.strip()}\n\n### Response:\n"

    def stop_strings(self) -> list[str]:
        return ["\n### Instruction:", "\n### Input:"]

    def _template_body(self) -> str:
        head, tail = _lit("\n\n### Input:\n"), _lit("\n\n### Response:\n")
        return (
            f"{{%- if input -%}}{{{{- {_lit(self.WITH_INPUT)} + instruction + {head} + input + {tail} -}}}}"
            f"{{%- else -%}}{{{{- {_lit(self.NO_INPUT)} + instruction + {tail} -}}}}{{%- endif -%}}"
        )


class Plain(PromptStyle):
    """Instruction and input separated by a newline; for base models with no template."""

    name = "plain"

    def prompt(self, instruction: str, input: str = "") -> str:
        parts = [instruction.strip()] + ([input.strip()] if input.strip() else [])
        return "\n".join(parts) + "\n"

    def _template_body(self) -> str:
        return "{{- instruction -}}{%- if input -%}{{- '\\n' + input -}}{%- endif -%}{{- '\\n' -}}"


class Chat(PromptStyle):
    """The tokenizer's own chat template (one user turn; the response is the assistant turn)."""

    name = "chat"

    def prompt(self, instruction: str, input: str = "") -> str:
        if self.tokenizer is None or not getattr(self.tokenizer, "chat_template", None):
            raise ConfigError("prompt style 'chat' needs a tokenizer with a chat_template")
        content = instruction.strip() + (f"\n\n{input.strip()}" if input.strip() else "")
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
        )

"""Prompt styles: how a record becomes (prompt, response) text.

A registry in the LitGPT manner: ``PromptStyle.from_name("alpaca")``. The chosen style is saved beside the
adapter (``honeybee.json``) so generation and evaluation format prompts exactly as training did.
"""

from __future__ import annotations

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


class Alpaca(PromptStyle):
    """HoneyBee's (Stanford Alpaca) format, with and without an input block."""

    name = "alpaca"

    def prompt(self, instruction: str, input: str = "") -> str:
        if input.strip():
            return (
                "Below is an instruction that describes a task, paired with an input that provides further "
                "context. Write a response that appropriately completes the request.\n\n"
                f"### Instruction:\n{instruction.strip()}\n\n### Input:\n{input.strip()}\n\n### Response:\n"
            )
        return (
            "Below is an instruction that describes a task. Write a response that appropriately completes "
            f"the request.\n\n### Instruction:\n{instruction.strip()}\n\n### Response:\n"
        )

    def stop_strings(self) -> list[str]:
        return ["\n### Instruction:", "\n### Input:"]


class Plain(PromptStyle):
    """Instruction and input separated by a newline; for base models with no template."""

    name = "plain"

    def prompt(self, instruction: str, input: str = "") -> str:
        parts = [instruction.strip()] + ([input.strip()] if input.strip() else [])
        return "\n".join(parts) + "\n"


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

"""A loaded model with its tokenizer and prompt style: what generate.py, the server and evaluate.py run."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from honeybee.data.prompts import PromptStyle
from honeybee.generation.cpu_kernels import prepack_linears
from honeybee.generation.engine import Completion, Request, Sampling, generate
from honeybee.generation.source import ModelSource, load_weights, pick_device


@dataclass
class Generator:
    """Formats prompts the way the model was trained and completes them in batches.

    Attributes:
        model: A causal LM in eval mode (an adapter already merged in).
        tokenizer: Its tokenizer (the adapter's copy when there is one).
        style: The prompt style the adapter was trained with.
        source: Where the weights came from.
        batch_size: Prompts per forward pass.
    """

    model: Any
    tokenizer: Any
    style: PromptStyle
    source: ModelSource
    batch_size: int = 16

    @classmethod
    def load(
        cls,
        source: ModelSource,
        prompt_style: str | None = None,
        device: str = "auto",
        batch_size: int = 16,
        cpu_prepack: str | bool = "auto",
    ) -> Generator:
        """Load ``source``; prompt style: ``prompt_style``, else the adapter's saved one, else alpaca.

        ``cpu_prepack`` (auto | true | false): oneDNN-packed linear weights for fp32 CPU inference; see
        ``honeybee.generation.cpu_kernels.prepack_linears``.
        """
        model, tok = load_weights(source, pick_device(device))
        prepack_linears(model, batch_size, cpu_prepack)
        name = prompt_style or source.meta.get("prompt_style") or "alpaca"
        return cls(model, tok, PromptStyle.from_name(str(name), tok), source, batch_size)

    @property
    def stops(self) -> tuple[str, ...]:
        """Stop strings of the saved prompt style (EOS is always a stop)."""
        return tuple(self.style.stop_strings())

    def prompt(self, instruction: str, input: str = "") -> str:
        return self.style.prompt(instruction, input)

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        """An OpenAI ``messages`` list as one prompt.

        The ``chat`` style renders the whole conversation with the tokenizer's template. Single-turn styles
        (alpaca, plain) take the last user message as the instruction and put any earlier messages (system
        prompt, previous turns) in the input block as ``role: content`` lines, so no context is dropped.
        """
        if self.style.name == "chat":
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        context = "\n".join(f"{m['role']}: {m['content']}" for m in messages[:-1])
        return self.style.prompt(messages[-1]["content"], context)

    def complete(
        self,
        requests: list[Request],
        sampling: Sampling | None = None,
        batch_size: int | None = None,
        progress: bool = False,
        share_prefix: bool = True,
        cancel: threading.Event | None = None,
    ) -> list[Completion]:
        return generate(
            self.model,
            self.tokenizer,
            requests,
            sampling or Sampling(),
            batch_size or self.batch_size,
            progress,
            share_prefix,
            cancel,
        )

    def answer(
        self,
        prompts: list[str],
        max_new_tokens: int,
        sampling: Sampling | None = None,
        progress: bool = False,
    ) -> list[Completion]:
        """Complete already formatted prompts, stopping at the prompt style's stop strings."""
        return self.complete(
            [Request(p, max_new_tokens, self.stops) for p in prompts], sampling, progress=progress
        )

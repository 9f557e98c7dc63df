"""The OpenAI API as the server speaks it: request bodies (validated by pydantic), errors, response pieces.

Kept apart from the app (``server``) so the request rules can be read, tested and extended on their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from honeybee.generation.engine import Completion, Sampling


class ApiError(Exception):
    """An OpenAI-style error response."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class _Body(BaseModel):
    # Unknown OpenAI parameters (logit_bias, user, ...) are accepted and ignored, as other local servers do.
    model_config = ConfigDict(extra="ignore")

    model: str
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    n: int = Field(default=1, ge=1, le=8)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    ignore_eos: bool = False  # vLLM's extension: answer to max_tokens (for throughput tests)


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        if any(part.get("type") != "text" for part in self.content):
            raise ApiError(400, "only text content parts are supported", param="messages")
        return "".join(str(part.get("text", "")) for part in self.content)


class ChatBody(_Body):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)


class CompletionBody(_Body):
    prompt: str | list[str]


def sampling_of(body: _Body) -> Sampling:
    """Greedy when no temperature is given or it is 0 (deterministic answers for judges and evaluation)."""
    if not body.temperature:
        return Sampling(seed=body.seed, ignore_eos=body.ignore_eos)
    return Sampling(True, body.temperature, body.top_p or 1.0, body.top_k or 0, body.seed, body.ignore_eos)


def stops_of(body: _Body, style_stops: tuple[str, ...]) -> tuple[str, ...]:
    extra = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(extra) > 4:
        raise ApiError(400, "at most 4 stop sequences are allowed", param="stop")
    return style_stops + tuple(s for s in extra if s)


def usage(outs: list[Completion], prompt_tokens: int) -> dict[str, int]:
    done = sum(o.completion_tokens for o in outs)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": done, "total_tokens": prompt_tokens + done}


def sse(chunks: list[dict[str, Any]]) -> Iterator[str]:
    for c in chunks:
        yield f"data: {json.dumps(c)}\n\n"
    yield "data: [DONE]\n\n"

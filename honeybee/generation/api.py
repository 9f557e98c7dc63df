"""The OpenAI API as the server speaks it: request bodies (validated by pydantic), errors, response pieces.

Kept apart from the app (``server``) so the request rules can be read, tested and extended on their own.
Every refusal is OpenAI's error body ``{"error": {"message", "type", "param", "code"}}`` with a 4xx status:
400 for a malformed or invalid body (wrong types are not coerced: ``"max_tokens": "5"`` or ``true`` is an
error, as at OpenAI), 404 for an unknown route or model, 405 for a wrong method, 413 for a body over
``server.max_body_bytes``, 415 for a body whose Content-Type is not JSON (or is missing), 503 when the queue
is full or the server is shutting down. Messages name request fields as the client wrote them
(``prompt[0]``, ``messages[0].content``), never pydantic's internal validator names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from honeybee.data.schema import Unicode, lone_surrogate
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
    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)

    model: Unicode
    max_tokens: int | None = Field(default=None, ge=1)  # the server's max_tokens_limit is checked after
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0, le=10**6)
    n: int = Field(default=1, ge=1)  # the server's max_n is checked after
    stop: Unicode | list[Unicode] | None = None
    seed: int | None = Field(default=None, ge=0, le=2**64 - 1)  # torch.manual_seed's range
    stream: bool = False
    ignore_eos: bool = False  # vLLM's extension: answer to max_tokens (for throughput tests)


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Unicode | list[dict[str, Any]]  # null (tool-call turns) is refused: this server has no tools

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if any(
            part.get("type") != "text"
            or not isinstance(part.get("text"), str)
            or lone_surrogate(part["text"])
            for part in self.content
        ):
            raise ApiError(
                400, 'only text content parts ({"type": "text", "text": ...}) are supported', param="messages"
            )
        return "".join(part["text"] for part in self.content)


class ChatBody(_Body):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)


class CompletionBody(_Body):
    prompt: Unicode | list[Unicode]


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


def validation_error(errors: list[dict[str, Any]]) -> ApiError:
    """A request body's first problem (FastAPI's ``RequestValidationError.errors()``) as a 400 ApiError."""
    from honeybee.data.schema import EXPECTED, describe_error, field_name, json_type

    if not errors:
        return ApiError(400, "invalid request body")
    first = errors[0]
    if first.get("type") == "json_invalid":
        why = (first.get("ctx") or {}).get("error", "")
        return ApiError(400, f"malformed JSON body{f': {why}' if why else ''}", code="invalid_json")
    loc = [x for x in first.get("loc", ()) if x != "body"]
    if not loc and first.get("type") == "missing":
        return ApiError(400, "the request body is empty: expected a JSON object")
    # A union field (``str | list[str]``) fails once per member, and pydantic puts the member's validator in
    # the loc (``prompt.function-after[_unicode(), str]``): the user's field path is the loc without those.
    # The deepest path is the most specific problem (``prompt[1]`` rather than ``prompt``).
    paths = [tuple(user_path(e.get("loc", ()))) for e in errors]
    deepest = max(range(len(errors)), key=lambda i: len(paths[i]))
    path, chosen = paths[deepest], errors[deepest]
    param = str(path[0]) if path else None
    members = [e for e, p in zip(errors, paths) if p == path]
    if len(members) > 1:
        kinds = " or ".join(dict.fromkeys(EXPECTED.get(e["type"], str(e["type"])) for e in members))
        problem = f"field {field_name(path)!r}: expected {kinds}, got {json_type(chosen.get('input'))}"
    else:
        problem = describe_error({**chosen, "loc": path})
    if path and path[0] == "prompt" and _token_ids(errors[0].get("input")):
        problem += " (token-id prompts are not supported: send the prompt as text)"
    return ApiError(400, problem, param=param)


def _is_validator_tag(part: Any) -> bool:
    """A pydantic union member's name in an error loc (``str``, ``function-after[...]``, ``list[...]``)."""
    return isinstance(part, str) and (
        "[" in part or part in ("str", "int", "float", "bool", "none", "bytes", "list", "dict")
    )


def user_path(loc: Any) -> list[Any]:
    """An error loc as the client's field path: without ``body`` and without validator names."""
    return [x for x in loc if x != "body" and not _is_validator_tag(x)]


def _token_ids(value: Any) -> bool:
    """A prompt given as token ids (a list of integers, or a list of such lists), as OpenAI allows."""
    if not isinstance(value, list) or not value:
        return False
    rows = value if all(isinstance(v, list) for v in value) else [value]
    return all(r and all(isinstance(t, int) and not isinstance(t, bool) for t in r) for r in rows)


def _json_response(status: int, err: ApiError) -> tuple[dict[str, Any], bytes]:
    body = json.dumps(err.body()).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    return start, body


class BodyGuard:
    """ASGI middleware run before FastAPI: refuses POST bodies that are not JSON (415) or larger than
    ``max_body_bytes`` (413, whether announced by Content-Length or only found while reading), so neither
    reaches the JSON parser. The body is read here, at most ``max_body_bytes`` of it, and handed on."""

    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"content-type")
        kind = (given or b"").split(b";")[0].strip().lower()
        if kind != b"application/json" and not kind.endswith(b"+json"):
            got = f"got {kind.decode('latin-1')!r}" if given is not None else "got no Content-Type header"
            err = ApiError(
                415, f"Content-Type must be application/json, {got}", code="unsupported_media_type"
            )
            return await self._refuse(send, err)
        too_big = ApiError(
            413,
            f"request body over this server's limit of {self.max_body_bytes} bytes",
            code="request_too_large",
        )
        declared = headers.get(b"content-length", b"").strip()
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return await self._refuse(send, too_big)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return await self._refuse(send, too_big)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send: Any, err: ApiError) -> None:
        start, body = _json_response(err.status, err)
        await send(start)
        await send({"type": "http.response.body", "body": body})

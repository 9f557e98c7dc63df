"""An OpenAI-compatible HTTP server (FastAPI + uvicorn) over one ``Generator``.

One worker owns the model (``honeybee.generation.worker.BatchWorker``): request handlers put jobs on its queue
and await them, and it answers waiting jobs with the same sampling settings in one batch.

``serve`` runs the worker on the main thread and uvicorn on a second one: PyTorch's OpenMP runtime (libgomp)
keeps its idle threads spinning only for the first thread that used them, so generating from any other thread
was ~25 % slower (SmolLM2, 2 cores: batch 16 in 10.2-11.0 s vs 8.1-8.5 s on the main thread).

Shutdown (SIGTERM, Ctrl-C): uvicorn stops accepting connections, the batch in generation stops at its next
decoding step (``BatchWorker.shutdown`` sets the engine's cancel event), and every request still waiting or
in generation is answered 503 ``shutting_down``, so clients get an answer rather than a dropped connection and
the process exits 0 within seconds whatever the answers' lengths.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from honeybee.generation.api import (
    ApiError,
    BodyGuard,
    ChatBody,
    CompletionBody,
    _Body,
    sampling_of,
    sse,
    stops_of,
    usage,
    validation_error,
)
from honeybee.generation.engine import Completion, Request
from honeybee.generation.generator import Generator
from honeybee.generation.worker import BatchWorker, ShuttingDown
from honeybee.utils.errors import HoneybeeError

__all__ = ["BatchWorker", "ServeError", "ServerSettings", "ShuttingDown", "create_app", "serve"]

log = logging.getLogger(__name__)


class ServeError(HoneybeeError):
    """The server could not start."""


@dataclass
class ServerSettings:
    """The served model's id and the request limits (``server.*`` in conf/generate.yaml)."""

    model_id: str
    default_max_tokens: int = 256
    max_tokens_limit: int = 2048
    max_n: int = 8
    max_prompt_tokens: int = 4096
    max_body_bytes: int = 1 << 20
    max_queued: int = 256  # prompts waiting or in generation; more are answered 503 (bounded memory and wait)


def create_app(worker: BatchWorker, settings: ServerSettings, start_worker: bool = True) -> Any:
    """The ASGI app: ``/v1/models``, ``/v1/completions`` and ``/v1/chat/completions`` (FastAPI, behind
    ``api.BodyGuard``).

    The app's lifespan closes ``worker`` at shutdown, and starts it on its own thread first unless
    ``start_worker`` is False (``serve`` runs it on the main thread). Prompt lengths are counted with a copy of
    the tokenizer owned by the HTTP thread (the worker changes its own copy's padding side while it batches).

    ``stream=true`` is answered in server-sent-event form with the whole answer in one chunk (generation is
    batched, so there are no partial tokens to send earlier).
    """
    from fastapi import FastAPI
    from fastapi import Request as HttpRequest
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.exceptions import HTTPException

    gen = worker.generator
    tokenizer = getattr(gen, "tokenizer", None)
    counter = copy.deepcopy(tokenizer) if tokenizer is not None else None
    queued = 0

    @asynccontextmanager
    async def lifespan(app: Any):
        if start_worker:
            worker.start()
        try:
            yield
        finally:
            worker.close()

    app = FastAPI(title="honeybee", lifespan=lifespan)

    @app.exception_handler(ApiError)
    async def _api_error(request: HttpRequest, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: HttpRequest, exc: RequestValidationError) -> JSONResponse:
        err = validation_error(list(exc.errors()))
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(HTTPException)
    async def _http(request: HttpRequest, exc: HTTPException) -> JSONResponse:
        route = f"{request.method} {request.url.path}"
        if exc.status_code == 404:
            err = ApiError(404, f"Invalid URL ({route})", code="unknown_url")
        elif exc.status_code == 405:
            err = ApiError(405, f"Method not allowed ({route})", code="method_not_allowed")
        else:
            err = ApiError(exc.status_code, str(exc.detail))
        return JSONResponse(err.body(), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _internal(request: HttpRequest, exc: Exception) -> JSONResponse:
        log.error("request failed", exc_info=exc)
        return JSONResponse(ApiError(500, f"internal error: {exc}", "server_error").body(), status_code=500)

    def check(body: _Body, max_tokens: int | None) -> int:
        if body.model != settings.model_id:
            raise ApiError(
                404,
                f"The model '{body.model}' does not exist; this server serves '{settings.model_id}'",
                param="model",
                code="model_not_found",
            )
        budget = max_tokens or settings.default_max_tokens
        if budget > settings.max_tokens_limit:
            raise ApiError(
                400,
                f"max_tokens={budget} is over this server's limit of {settings.max_tokens_limit}",
                param="max_tokens",
            )
        if body.n > settings.max_n:
            raise ApiError(400, f"n={body.n} is over this server's limit of {settings.max_n}", param="n")
        return budget

    def check_length(prompts: list[str], param: str) -> None:
        for p in prompts:
            n = len(counter(p, add_special_tokens=True)["input_ids"]) if counter is not None else len(p)
            if n > settings.max_prompt_tokens:
                raise ApiError(
                    400,
                    f"the prompt has {n} tokens, over this server's limit of {settings.max_prompt_tokens}",
                    param=param,
                    code="context_length_exceeded",
                )

    async def run(prompts: list[str], budget: int, body: _Body) -> list[Completion]:
        nonlocal queued
        stops = stops_of(body, gen.stops)
        reqs = [Request(p, budget, stops) for p in prompts for _ in range(body.n)]
        if len(reqs) > settings.max_queued:  # could never fit, however long the client waits
            raise ApiError(
                400,
                f"{len(prompts)} prompt(s) x n={body.n} = {len(reqs)} completions is over this server's "
                f"limit of {settings.max_queued} queued completions (server.max_queued); split the request",
                param="prompt" if len(prompts) > 1 else "n",
                code="too_many_prompts",
            )
        if queued + len(reqs) > settings.max_queued:
            raise ApiError(
                503,
                "the server is busy: too many prompts queued; retry later",
                "server_error",
                code="overloaded",
            )
        queued += len(reqs)
        try:
            return await asyncio.wrap_future(worker.submit(reqs, sampling_of(body)))
        except ShuttingDown:
            raise ApiError(
                503, "the server is shutting down; retry later", "server_error", code="shutting_down"
            ) from None
        finally:
            queued -= len(reqs)

    def envelope(kind: str) -> dict[str, Any]:
        return {
            "id": f"{kind}-{uuid.uuid4().hex[:24]}",
            "created": int(time.time()),
            "model": settings.model_id,
        }

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        card = {"id": settings.model_id, "object": "model", "created": 0, "owned_by": "honeybee"}
        return {"object": "list", "data": [card]}

    @app.post("/v1/completions")
    async def completions(body: CompletionBody) -> Any:
        budget = check(body, body.max_tokens)
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if not prompts:
            raise ApiError(400, "prompt: must not be empty", param="prompt")
        check_length(prompts, "prompt")
        outs = await run(prompts, budget, body)
        head = envelope("cmpl")
        choices = [
            {"index": i, "text": o.text, "finish_reason": o.finish_reason, "logprobs": None}
            for i, o in enumerate(outs)
        ]
        prompt_tokens = sum(o.prompt_tokens for o in outs[:: body.n])
        if body.stream:
            chunks = [{**head, "object": "text_completion", "choices": [c]} for c in choices]
            return StreamingResponse(sse(chunks), media_type="text/event-stream")
        return {**head, "object": "text_completion", "choices": choices, "usage": usage(outs, prompt_tokens)}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatBody) -> Any:
        budget = check(body, body.max_completion_tokens or body.max_tokens)
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        if messages[-1]["role"] != "user":
            raise ApiError(400, "messages: the last message must be from the user", param="messages")
        prompt = gen.chat_prompt(messages)
        check_length([prompt], "messages")
        outs = await run([prompt], budget, body)
        head = envelope("chatcmpl")
        if body.stream:
            chunks = [
                {
                    **head,
                    "object": "chat.completion.chunk",
                    "choices": [
                        {"index": i, "delta": {"role": "assistant", "content": o.text}, "finish_reason": None}
                    ],
                }
                for i, o in enumerate(outs)
            ]
            chunks += [
                {
                    **head,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": i, "delta": {}, "finish_reason": o.finish_reason}],
                }
                for i, o in enumerate(outs)
            ]
            return StreamingResponse(sse(chunks), media_type="text/event-stream")
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": o.text},
                "finish_reason": o.finish_reason,
            }
            for i, o in enumerate(outs)
        ]
        return {
            **head,
            "object": "chat.completion",
            "choices": choices,
            "usage": usage(outs, outs[0].prompt_tokens),
        }

    return BodyGuard(app, settings.max_body_bytes)


def serve(
    generator: Generator,
    settings: ServerSettings,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_batch_size: int = 16,
    batch_wait_ms: float = 50.0,
) -> None:
    """Run the server until interrupted (Ctrl-C / SIGTERM shut it down cleanly).

    Raises:
        ServeError: the server could not start (e.g. the port is taken).
    """
    import signal

    import uvicorn

    worker = BatchWorker(generator, max_batch_size, batch_wait_ms)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(worker, settings, start_worker=False),
            host=host,
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=5,  # a client that never reads its 503 does not hold the exit up
        )
    )

    def shut_down(sig: int, frame: Any) -> None:
        if server.should_exit:  # a second Ctrl-C: stop now, even mid-batch
            raise KeyboardInterrupt
        # uvicorn stops accepting and waits for open requests, which the cancelled worker answers 503 at its
        # next decoding step; then uvicorn's lifespan closes the worker and serve() returns.
        server.should_exit = True
        worker.shutdown()

    # uvicorn installs signal handlers only on the main thread, which here belongs to the worker
    handlers = {sig: signal.signal(sig, shut_down) for sig in (signal.SIGINT, signal.SIGTERM)}
    http = threading.Thread(target=server.run, name="honeybee-http", daemon=True)
    http.start()
    try:
        while not server.started:
            if not http.is_alive():
                raise ServeError(f"could not serve on {host}:{port} (is the port taken? see the log above)")
            time.sleep(0.05)
        log.info("serving %s at http://%s:%d/v1 (OpenAI-compatible)", settings.model_id, host, port)
        worker.run()
    finally:
        server.should_exit = True
        http.join(timeout=30)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

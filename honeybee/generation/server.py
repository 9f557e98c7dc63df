"""An OpenAI-compatible HTTP server (FastAPI + uvicorn) over one ``Generator``.

One worker owns the model. Request handlers put jobs on a queue and await them; the worker takes the
oldest job, waits until no new job has arrived for ``batch_wait_ms`` (or the batch is full), and answers every
waiting job with the same sampling settings in one batch. Jobs with other settings wait for the next round, in
arrival order, so no client starves.

``serve`` runs the worker on the main thread and uvicorn on a second one: PyTorch's OpenMP runtime (libgomp)
keeps its idle threads spinning only for the first thread that used them, so generating from any other thread
was ~25 % slower (SmolLM2, 2 cores: batch 16 in 10.2-11.0 s vs 8.1-8.5 s on the main thread).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import queue
import threading
import time
import uuid
from collections import deque
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

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
from honeybee.generation.engine import Completion, Request, Sampling
from honeybee.generation.generator import Generator
from honeybee.utils.errors import HoneybeeError

log = logging.getLogger(__name__)


class ServeError(HoneybeeError):
    """The server could not start."""


@dataclass
class Job:
    requests: list[Request]
    sampling: Sampling
    future: Future = field(default_factory=Future)


class BatchWorker:
    """Owns the model: batches queued jobs and resolves their futures, on its own thread (``start``) or on
    the caller's (``run``)."""

    def __init__(self, generator: Generator, max_batch_size: int = 16, batch_wait_ms: float = 50.0) -> None:
        self.generator = generator
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_ms / 1000
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self.waiting: deque[Job] = deque()
        self.thread = threading.Thread(target=self._loop, name="honeybee-generator", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def run(self) -> None:
        """Work on the calling thread until ``close``."""
        self._loop()

    def close(self) -> None:
        """Stop after the batch in progress (jobs still waiting fail); joins the worker's own thread."""
        self.queue.put(None)
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout=30)

    def submit(self, requests: list[Request], sampling: Sampling) -> Future:
        job = Job(requests, sampling)
        self.queue.put(job)
        return job.future

    def _take(self, timeout: float) -> Job | Literal[False] | None:
        """The next job (waiting ones first); False when none arrived in time, None on shutdown."""
        if self.waiting:
            return self.waiting.popleft()
        try:
            return self.queue.get(timeout=timeout) if timeout > 0 else self.queue.get_nowait()
        except queue.Empty:
            return False

    def _collect(self, first: Job) -> tuple[list[Job], bool]:
        """``first`` plus jobs with the same sampling that arrive within the wait, up to the batch size."""
        batch, size, stop = [first], len(first.requests), False
        deadline = time.monotonic() + self.batch_wait_s
        others: list[Job] = []
        while size < self.max_batch_size and len(others) <= 4 * self.max_batch_size:
            job = self._take(deadline - time.monotonic())
            if job is False:
                break
            if job is None:
                stop = True
                break
            if job.sampling == first.sampling and size + len(job.requests) <= self.max_batch_size:
                batch.append(job)
                size += len(job.requests)
                # Clients of one burst arrive over several milliseconds: keep waiting while they still come.
                deadline = time.monotonic() + self.batch_wait_s
            else:
                others.append(job)
        self.waiting.extendleft(reversed(others))
        return batch, stop

    def _loop(self) -> None:
        while True:
            first = self.waiting.popleft() if self.waiting else self.queue.get()
            if first is None:
                break
            batch, stop = self._collect(first)
            self._run(batch)
            if stop:
                break
        for job in list(self.waiting):
            job.future.set_exception(RuntimeError("server is shutting down"))

    def _run(self, batch: list[Job]) -> None:
        reqs = [r for job in batch for r in job.requests]
        start = time.monotonic()
        try:
            outs = self.generator.complete(reqs, batch[0].sampling, batch_size=self.max_batch_size)
        except Exception as e:
            log.exception("generation failed")
            for job in batch:
                job.future.set_exception(e)
            return
        tokens = sum(o.completion_tokens for o in outs)
        secs = time.monotonic() - start
        log.info(
            "batch: %d prompts from %d requests, %d tokens in %.1f s", len(reqs), len(batch), tokens, secs
        )
        i = 0
        for job in batch:
            job.future.set_result(outs[i : i + len(job.requests)])
            i += len(job.requests)


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
            create_app(worker, settings, start_worker=False), host=host, port=port, log_level="warning"
        )
    )

    def shut_down(sig: int, frame: Any) -> None:
        if server.should_exit:  # a second Ctrl-C: stop now, even mid-batch
            raise KeyboardInterrupt
        server.should_exit = True  # uvicorn finishes open requests, then its lifespan closes the worker

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

"""The OpenAI-compatible server over real HTTP with the official `openai` client, and its batching worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from conftest import ONE_THREAD, ROOT, run_script

from honeybee.generation.engine import Completion, Request, Sampling
from honeybee.generation.launch import free_port
from honeybee.generation.server import BatchWorker


@pytest.fixture(scope="module")
def client(tiny_server):
    return openai.OpenAI(base_url=tiny_server, api_key="unused", max_retries=0, timeout=60)


def test_models_chat_and_completions(client):
    assert [m.id for m in client.models.list().data] == ["tiny"]
    chat = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Is Cu a metal?"}], max_tokens=5
    )
    assert chat.object == "chat.completion" and chat.choices[0].message.role == "assistant"
    assert chat.usage.completion_tokens <= 5 and chat.usage.prompt_tokens > 5
    assert chat.choices[0].finish_reason in ("stop", "length")
    comp = client.completions.create(model="tiny", prompt=["silicon", "copper"], max_tokens=4)
    assert (
        len(comp.choices) == 2
        and comp.usage.total_tokens == comp.usage.prompt_tokens + comp.usage.completion_tokens
    )


def test_greedy_answers_do_not_depend_on_batching(client):
    prompts = [f"What is the band gap of material number {i}?" for i in range(8)]

    def ask(p):
        return client.completions.create(model="tiny", prompt=p, max_tokens=6).choices[0].text

    alone = [ask(p) for p in prompts]
    with ThreadPoolExecutor(8) as pool:  # concurrent clients: the worker batches them
        together = list(pool.map(ask, prompts))
    assert together == alone


def test_streaming_returns_the_same_text(client):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Is Cu a metal?"}]
    full = (
        client.chat.completions.create(model="tiny", messages=msgs, max_tokens=6).choices[0].message.content
    )
    chunks = list(client.chat.completions.create(model="tiny", messages=msgs, max_tokens=6, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == full
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_bad_requests_get_openai_errors(client, tiny_server):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "x"}])
    assert e.value.body["code"] == "model_not_found"
    for kwargs in (
        {"messages": []},
        {"messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
        {"messages": [{"role": "user", "content": "x"}], "temperature": 5},
        {"messages": [{"role": "assistant", "content": "x"}]},
    ):
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="tiny", **kwargs)
        assert e.value.body["type"] == "invalid_request_error" and e.value.body["message"]
    r = httpx.post(
        f"{tiny_server}/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and set(r.json()["error"]) == {"message", "type", "param", "code"}


class FakeGenerator:
    """Stands in for the model: records each batch, answers with the prompt."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], Sampling]] = []

    def complete(
        self, requests: list[Request], sampling: Sampling, batch_size: int | None = None, cancel=None
    ) -> list[Completion]:
        self.calls.append(([r.prompt for r in requests], sampling))
        time.sleep(0.05)
        return [Completion(r.prompt.upper(), 1, 1, "stop") for r in requests]


def test_worker_batches_waiting_requests_and_separates_sampling():
    gen = FakeGenerator()
    worker = BatchWorker(gen, max_batch_size=4, batch_wait_ms=200)
    worker.start()
    try:
        greedy, sampled = Sampling(), Sampling(do_sample=True, temperature=0.7)
        futures = [worker.submit([Request(f"p{i}")], greedy if i % 3 else sampled) for i in range(9)]
        results = [f.result(timeout=10) for f in futures]
    finally:
        worker.close()
    assert [r[0].text for r in results] == [f"P{i}" for i in range(9)]
    assert all(len(prompts) <= 4 for prompts, _ in gen.calls)
    assert any(len(prompts) > 1 for prompts, _ in gen.calls)  # waiting requests were batched
    for prompts, sampling in gen.calls:  # one batch never mixes sampling settings
        assert {int(p[1:]) % 3 == 0 for p in prompts} == {sampling.do_sample}
    assert not worker.thread.is_alive()


def test_worker_reports_failures_to_every_waiting_client():
    class Broken(FakeGenerator):
        def complete(self, requests, sampling, batch_size=None, cancel=None):
            raise RuntimeError("out of memory")

    worker = BatchWorker(Broken(), max_batch_size=4, batch_wait_ms=50)
    worker.start()
    try:
        futures = [worker.submit([Request("x")], Sampling()) for _ in range(3)]
        for f in futures:
            with pytest.raises(RuntimeError, match="out of memory"):
                f.result(timeout=10)
        ok = threading.Event()
        worker.generator = FakeGenerator()  # the worker thread survives a failed batch
        worker.submit([Request("y")], Sampling()).add_done_callback(lambda f: ok.set())
        assert ok.wait(10)
    finally:
        worker.close()


def test_a_taken_port_is_one_error_line(tiny_run_dir, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run_script(
            "generate.py", [f"adapter={tiny_run_dir}", "serve=true", f"port={port}"], tmp_path, env=ONE_THREAD
        )
    assert r.returncode == 2, r.stderr[-2000:]
    assert (
        r.last_err_line.startswith("honeybee: error: could not serve on 127.0.0.1:")
        and str(port) in r.last_err_line
    )
    assert "Traceback" not in r.stderr


def test_sigterm_stops_the_server_cleanly_after_answering(tiny_run_dir, tmp_path):
    port = free_port()
    cmd = [
        sys.executable,
        str(ROOT / "generate.py"),
        f"adapter={tiny_run_dir}",
        "serve=true",
        "served_model_name=tiny",
        f"port={port}",
        f"hydra.run.dir={tmp_path}",
    ]
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **ONE_THREAD}
        )
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=60)
        deadline = time.monotonic() + 120
        while True:
            try:
                client.models.list()
                break
            except openai.APIConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.5)
        answer = client.completions.create(model="tiny", prompt="Is copper a metal?", max_tokens=4)
        assert answer.usage.completion_tokens >= 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()[-2000:]
    finally:
        proc.kill()
    assert "Traceback" not in log.read_text()

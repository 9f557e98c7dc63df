"""The server stops and refuses like a server, through real HTTP on 127.0.0.1.

SIGTERM with a 2,048-token generation in flight: the client gets a 503 JSON error (not a dropped connection),
new connections are refused, and the process exits 0 within 10 s. Requests that can never fit are a 400
naming the limit (503 stays for a full queue), a body without Content-Type is a 415, validation errors name
the request field as the client wrote it, and a null message content is a 400.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ONE_THREAD
from readme import readme_examples

from honeybee.generation.launch import free_port

VALIDATOR_WORDS = ("function-after", "function-plain", "_unicode", "list[", "str]", "union", "Input should")


def assert_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"], err
    assert not any(w in err["message"] for w in VALIDATOR_WORDS), err["message"]
    return err


def test_requests_that_can_never_fit_are_400_naming_the_limit(tiny_server):
    r = httpx.post(f"{tiny_server}/completions", json={"model": "tiny", "prompt": ["x"] * 1000}, timeout=60)
    err = assert_error(r, 400)
    assert err["code"] == "too_many_prompts" and err["param"] == "prompt"
    assert "1000 prompt(s) x n=1 = 1000 completions" in err["message"]
    assert "limit of 256 queued completions (server.max_queued)" in err["message"]
    many = {"model": "tiny", "prompt": ["x"] * 40, "n": 8}  # 320 > 256, though each part is within its limit
    assert (
        assert_error(httpx.post(f"{tiny_server}/completions", json=many, timeout=60), 400)["param"]
        == "prompt"
    )
    fits = {"model": "tiny", "prompt": ["Is Cu a metal?"] * 3, "max_tokens": 2}
    assert httpx.post(f"{tiny_server}/completions", json=fits, timeout=120).status_code == 200


@pytest.mark.parametrize(
    ("body", "message", "param"),
    [
        (
            {"model": "tiny", "prompt": [1, 2, 3]},
            "field 'prompt[0]': expected a string, got a number (token-id prompts are not supported: send the "
            "prompt as text)",
            "prompt",
        ),
        (
            {"model": "tiny", "prompt": [[1, 2], [3]]},
            "field 'prompt[0]': expected a string, got a list (token-id prompts are not supported: send the "
            "prompt as text)",
            "prompt",
        ),
        (
            {"model": "tiny", "prompt": ["ok", 5]},
            "field 'prompt[1]': expected a string, got a number",
            "prompt",
        ),
        (
            {"model": "tiny", "prompt": "x", "stop": [7]},
            "field 'stop[0]': expected a string, got a number",
            "stop",
        ),
        (
            {"model": "tiny", "messages": [{"role": "user", "content": None}]},
            "field 'messages[0].content': expected a string or a list, got null",
            "messages",
        ),
        (
            {"model": "tiny", "messages": [{"role": "bot", "content": "hi"}]},
            "field 'messages[0].role': expected 'system', 'developer', 'user', 'assistant' or 'tool', got \"bot\"",
            "messages",
        ),
    ],
    ids=["token-ids", "token-id-lists", "mixed-list", "stop", "null-content", "role"],
)
def test_validation_errors_name_the_field_as_the_client_wrote_it(tiny_server, body, message, param):
    route = "/chat/completions" if "messages" in body else "/completions"
    err = assert_error(httpx.post(f"{tiny_server}{route}", json=body, timeout=60), 400)
    assert (err["message"], err["param"]) == (message, param)


def test_a_body_without_content_type_is_415(tiny_server):
    body = json.dumps({"model": "tiny", "prompt": "x"}).encode()
    r = httpx.post(f"{tiny_server}/completions", content=body, timeout=60)  # httpx sends no Content-Type
    assert "content-type" not in {k.lower() for k in r.request.headers}
    err = assert_error(r, 415)
    assert err["code"] == "unsupported_media_type" and "no Content-Type header" in err["message"]


def test_the_readme_server_examples_are_what_it_answers(tiny_server):
    examples = [(c, p) for c, p in readme_examples() if c.startswith("POST ")]
    assert examples
    for command, printed in examples:
        _, route, body = command.split(" ", 2)
        payload = {**json.loads(body), "model": "tiny"}
        r = httpx.post(f"{tiny_server}{route.removeprefix('/v1')}", json=payload, timeout=60)
        assert f"{r.status_code} {r.json()['error']['message']}" == printed


def _serve(run_dir: Path, log: Path, extra: list[str], port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "honeybee", "generate", *extra, "served_model_name=m", "serve=true"]
    cmd += [f"port={port}", f"hydra.run.dir={log.parent}"]
    with open(log, "w") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **ONE_THREAD})


def shutdown_with_a_long_request(extra: list[str], tmp_path: Path, wait_s: float) -> dict[str, Any]:
    """Serve, start a 2,048-token request, SIGTERM the server ``wait_s`` seconds later; what happened."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    log = tmp_path / "server" / "server.log"
    log.parent.mkdir()
    proc = _serve(tmp_path, log, extra, port)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                httpx.get(f"{url}/models", timeout=2)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.3)
        got: dict[str, Any] = {}

        def client() -> None:
            body = {"model": "m", "prompt": "Hello", "max_tokens": 2048, "ignore_eos": True, "n": 4}
            try:
                got["response"] = httpx.post(f"{url}/completions", json=body, timeout=300)
            except httpx.HTTPError as e:  # a dropped connection: what must not happen
                got["error"] = repr(e)
            got["answered"] = time.monotonic()

        thread = threading.Thread(target=client)
        thread.start()
        time.sleep(wait_s)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        while time.monotonic() - sent < 5:  # how soon new connections are refused
            try:
                httpx.get(f"{url}/models", timeout=1)
                time.sleep(0.02)
            except httpx.HTTPError:
                break
        got["refusing_s"] = time.monotonic() - sent
        thread.join(timeout=60)
        got["client_s"] = got.get("answered", time.monotonic()) - sent
        got["code"] = proc.wait(timeout=60)
        got["exit_s"] = time.monotonic() - sent
        got["log"] = log.read_text()
        return got
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def check_shutdown(got: dict[str, Any]) -> None:
    assert "error" not in got, got.get("error")
    err = assert_error(got["response"], 503)
    assert err["code"] == "shutting_down", err
    assert "cancelled by shutdown" in got["log"], got["log"][-2000:]  # it was generating when signalled
    assert got["refusing_s"] < 1, got["refusing_s"]  # uvicorn closes its socket at its next 0.1 s tick
    assert got["code"] == 0, got["log"][-2000:]
    assert got["exit_s"] < 10, got["exit_s"]


def test_sigterm_cancels_a_long_generation_and_exits_0(tiny_run_dir, tmp_path):
    # 2,048 tokens x 4 take the tiny model several seconds on 2 cores; 0.8 s in, it is surely generating.
    got = shutdown_with_a_long_request([f"adapter={tiny_run_dir}"], tmp_path, wait_s=0.8)
    check_shutdown(got)
    print(f"tiny: 503 after {got['client_s']:.2f} s, exit 0 after {got['exit_s']:.2f} s")


@pytest.mark.slow
def test_sigterm_cancels_a_long_smollm2_generation_and_exits_0(tmp_path):
    got = shutdown_with_a_long_request(["model=smollm2_135m"], tmp_path, wait_s=5)
    check_shutdown(got)
    print(f"SmolLM2: 503 after {got['client_s']:.2f} s, exit 0 after {got['exit_s']:.2f} s")

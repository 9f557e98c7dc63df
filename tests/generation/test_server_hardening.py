"""The OpenAI-compatible server under malformed and excessive requests: always an OpenAI error body and a 4xx
(or 503 when full), never a 500 or a hang; and 64 concurrent clients on loopback all get answers.

Generated requests run in-process against the real app with a stand-in model (fast); the table of bad
requests and the load test run against a live ``generate.py serve=true`` of the tiny model on 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from starlette.testclient import TestClient
from strategies import JSON, dumps, mutated

from honeybee.generation.engine import Completion, Request, Sampling
from honeybee.generation.server import BatchWorker, ServerSettings, create_app

ERROR_KEYS = {"message", "type", "param", "code"}
VALIDATOR_WORDS = (
    "function-after",
    "function-plain",
    "function-wrap",
    "_unicode(",
    "list[",
    "str]",
    "Input should",
)


class FakeGenerator:
    """Stands in for the model: answers each prompt upper-cased; a prompt's tokens are its characters."""

    stops = ("\n### Instruction:",)

    def tokenizer(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": list(range(len(text)))}

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        return "\n".join(m["content"] for m in messages)

    def complete(
        self, requests: list[Request], sampling: Sampling, batch_size: int | None = None, cancel=None
    ) -> list[Any]:
        return [Completion(r.prompt.upper()[: r.max_new_tokens], 1, len(r.prompt), "stop") for r in requests]


SETTINGS = ServerSettings("tiny", 16, 64, max_n=3, max_prompt_tokens=200, max_body_bytes=4096, max_queued=64)


@pytest.fixture(scope="module")
def app_client():
    with TestClient(create_app(BatchWorker(FakeGenerator(), 8, 1), SETTINGS)) as c:
        yield c


def assert_openai_error(r: httpx.Response, status: int | tuple[int, ...]) -> dict[str, Any]:
    assert r.status_code in ((status,) if isinstance(status, int) else status), (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    # fields are named as the client wrote them, never by pydantic's validators (prompt.function-after[...])
    assert not any(w in body["error"]["message"] for w in VALIDATOR_WORDS), body
    return body["error"]


CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
COMPLETION = {"model": "tiny", "prompt": ["hi", "there"], "max_tokens": 4, "n": 2}
PARAMS = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        ("temperature", "top_p", "top_k", "n", "seed", "stop", "stream", "max_tokens", "ignore_eos"), JSON
    ),
)


@given(
    body=st.sampled_from([CHAT, COMPLETION]).flatmap(lambda b: st.builds(lambda p, b=b: {**b, **p}, PARAMS)),
    data=st.data(),
)
@example(body={**CHAT, "max_tokens": 10**30}, data=None)
@example(body={**CHAT, "seed": 2**70}, data=None)
@example(body={**CHAT, "messages": [{"role": "user", "content": "\ud800"}]}, data=None)
def test_generated_requests_get_an_answer_or_an_openai_error(app_client, body, data):
    if data is not None and data.draw(st.booleans()):
        body = data.draw(mutated(body))
    route = "/v1/chat/completions" if "messages" in str(body) else "/v1/completions"
    r = app_client.post(route, content=dumps(body).encode(), headers={"content-type": "application/json"})
    if r.status_code == 200:
        assert r.json().get("choices") or r.text.startswith("data:"), r.text
    else:
        assert_openai_error(r, (400, 404, 413))


@given(raw=st.binary(max_size=64) | JSON.map(lambda v: dumps(v).encode()))
def test_any_bytes_as_a_body_are_a_400(app_client, raw):
    r = app_client.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
    assert_openai_error(r, 400)


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=st.sampled_from(
        ["/", "/v1", "/v1/models", "/v1/chat/completions", "/v1/completions", "/v1/embeddings"]
    )
    | st.text("abc/", max_size=8).map(lambda p: "/v1/" + p),
    ctype=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]),
)
def test_routes_methods_and_content_types(app_client, method, path, ctype):
    headers = {"content-type": ctype} if ctype else {}
    body = COMPLETION if path.endswith("/completions") and "chat" not in path else CHAT
    r = app_client.request(method, path, content=json.dumps(body).encode(), headers=headers)
    known = {"/v1/models": "GET", "/v1/chat/completions": "POST", "/v1/completions": "POST"}
    if path not in known:
        assert_openai_error(r, (404, 405, 415))
    elif method != known[path]:
        assert_openai_error(r, (405, 415) if method == "POST" else 405)
    elif method == "POST" and ctype != "application/json":  # none at all is a 415 too
        assert assert_openai_error(r, 415)["code"] == "unsupported_media_type"
    else:
        assert r.status_code == 200, r.text


def test_limits_are_the_configured_ones(app_client):
    post = app_client.post
    n = post("/v1/completions", json={**COMPLETION, "n": 4})
    assert assert_openai_error(n, 400)["param"] == "n"
    assert post("/v1/completions", json={**COMPLETION, "n": 3}).status_code == 200
    long = post("/v1/completions", json={**COMPLETION, "prompt": "x" * 201})
    assert assert_openai_error(long, 400)["code"] == "context_length_exceeded"
    big = post(
        "/v1/completions",
        content=b'{"prompt": "' + b"x" * 5000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert assert_openai_error(big, 413)["code"] == "request_too_large"
    for tokens in (65, 10**30):
        assert assert_openai_error(post("/v1/chat/completions", json={**CHAT, "max_tokens": tokens}), 400)
    chunked = post(
        "/v1/chat/completions",
        content=iter([b"{", b" " * 5000, b"}"]),
        headers={"content-type": "application/json"},
    )
    assert assert_openai_error(chunked, 413)["code"] == "request_too_large"  # no Content-Length: counted


def test_a_full_queue_is_a_503_not_a_wait():
    class Slow(FakeGenerator):
        def complete(
            self, requests: list[Request], sampling: Sampling, batch_size: int | None = None, cancel=None
        ) -> list[Any]:
            time.sleep(0.5)
            return super().complete(requests, sampling, batch_size)

    settings = ServerSettings("tiny", 16, 64, max_n=8, max_queued=8)
    with TestClient(create_app(BatchWorker(Slow(), 8, 1), settings)) as c, ThreadPoolExecutor(4) as pool:
        rs = list(
            pool.map(
                lambda _: c.post("/v1/completions", json={**COMPLETION, "n": 4, "prompt": "x"}), range(4)
            )
        )
    codes = sorted(r.status_code for r in rs)
    assert codes.count(200) >= 1 and set(codes) <= {200, 503}, codes
    for r in rs:
        if r.status_code == 503:
            assert assert_openai_error(r, 503)["code"] == "overloaded"


# ------------------------------------------------------------------------------ live server, on loopback

LIVE_BAD = [
    ("post", "/chat/completions", b"{not json", "application/json", 400),
    ("post", "/chat/completions", b"", "application/json", 400),
    ("post", "/chat/completions", b"[1, 2]", "application/json", 400),
    ("post", "/chat/completions", {"model": "tiny"}, None, 400),
    ("post", "/chat/completions", {"model": "tiny", "messages": []}, None, 400),
    ("post", "/chat/completions", {"model": "tiny", "messages": "hi"}, None, 400),
    ("post", "/chat/completions", {**CHAT, "messages": [{"role": "user", "content": 7}]}, None, 400),
    ("post", "/chat/completions", {**CHAT, "max_tokens": -1}, None, 400),
    ("post", "/chat/completions", {**CHAT, "max_tokens": 10**12}, None, 400),
    ("post", "/chat/completions", {**CHAT, "max_tokens": "5"}, None, 400),
    ("post", "/chat/completions", {**CHAT, "temperature": 3}, None, 400),
    ("post", "/chat/completions", {**CHAT, "temperature": "hot"}, None, 400),
    ("post", "/chat/completions", {**CHAT, "top_p": 0}, None, 400),
    ("post", "/chat/completions", {**CHAT, "n": 100}, None, 400),
    ("post", "/completions", {"model": "tiny", "prompt": "a " * 5000, "max_tokens": 1}, None, 400),
    ("post", "/completions", {"model": "tiny", "prompt": "a" * (2 << 20)}, None, 413),
    ("post", "/chat/completions", {**CHAT, "model": "gpt-4"}, None, 404),
    ("post", "/embeddings", CHAT, None, 404),
    ("get", "/chat/completions", None, None, 405),
    ("post", "/chat/completions", b"model=tiny", "application/x-www-form-urlencoded", 415),
    ("post", "/chat/completions", json.dumps(CHAT).encode(), "text/plain", 415),
]


@pytest.mark.parametrize(("method", "path", "body", "ctype", "status"), LIVE_BAD)
def test_live_server_refuses_bad_requests(tiny_server, method, path, body, ctype, status):
    kw: dict[str, Any] = {"timeout": 60}
    if isinstance(body, dict):
        kw["json"] = body
    elif body is not None:
        kw["content"], kw["headers"] = body, {"content-type": ctype}
    assert_openai_error(httpx.request(method.upper(), f"{tiny_server}{path}", **kw), status)


@pytest.mark.timeout(300)
def test_64_concurrent_clients_all_get_answers(tiny_server):
    """64 clients at once, half valid and half malformed: every request is answered (200, or a 4xx/503
    OpenAI error), within bounded time, and the server still answers afterwards."""
    bad = [b"{not json", json.dumps({**CHAT, "model": "tiny", "n": 100}).encode(), b"[]"]

    def client(i: int) -> list[int]:
        with httpx.Client(base_url=tiny_server, timeout=120) as c:
            codes = []
            for j in range(2):
                if (i + j) % 2:
                    r = c.post(
                        "/chat/completions", content=bad[i % 3], headers={"content-type": "application/json"}
                    )
                    assert_openai_error(r, 400)
                else:
                    msg = {"role": "user", "content": f"Is material {i} a metal?"}
                    r = c.post(
                        "/chat/completions", json={"model": "tiny", "messages": [msg], "max_tokens": 3}
                    )
                    if r.status_code != 200:
                        assert_openai_error(r, 503)
                codes.append(r.status_code)
            return codes

    start = time.monotonic()
    with ThreadPoolExecutor(64) as pool:
        codes = [c for cs in pool.map(client, range(64)) for c in cs]
    assert len(codes) == 128 and codes.count(200) >= 32 and time.monotonic() - start < 240, codes
    assert httpx.get(f"{tiny_server}/models", timeout=30).json()["data"][0]["id"] == "tiny"

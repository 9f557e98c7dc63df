"""The LLM call layer against a fault-injecting local server: retries, cache, budget, both SDK backends."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from honeybee.curation.backends import BackendError, make_backend
from honeybee.curation.budget import Budget, BudgetExhausted, count_messages, count_tokens
from honeybee.curation.cache import CallCache
from honeybee.curation.client import CallFailed, LLMClient, RetryPolicy
from honeybee.utils.errors import ConfigError
from tests.curation.fake_llm import FakeLLM

MSG = [{"role": "user", "content": "Score this instruction-following example: x"}]
FAST = RetryPolicy(max_attempts=6, base_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture
def fake():
    with FakeLLM(fault_timeout_s=1.5) as srv:
        yield srv


def client(srv, tmp_path, kind="openai", budget=None, retry=FAST, cache=True, **kw):
    cfg = OmegaConf.create(
        {
            "type": kind,
            "base_url": srv.url + ("/v1" if kind == "openai" else ""),
            "model": "fake",
            "api_key_env": "HB_TEST_KEY",
            "timeout_s": 0.5,
            **kw,
        }
    )
    return LLMClient(
        "verifier",
        make_backend(cfg, "verifier"),
        CallCache(tmp_path / "cache" if cache else None),
        budget or Budget(),
        retry,
        concurrency=2,
    )


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_every_fault_is_retried_and_counted(fake, tmp_path, kind, monkeypatch):
    monkeypatch.setenv("HB_TEST_KEY", "sk-test-retries")
    fake.faults.extend(["429", "500", "timeout", "truncated", "nonjson"])
    c = client(fake, tmp_path, kind)
    reply = c.call(MSG, 64)
    assert json.loads(reply)["relevance"] == 97
    assert c.stats["retries"] == 5 and c.stats["paid_calls"] == 1
    # a body cut short by a closed connection is a dropped connection to httpx; the HTML page a bad body
    assert {k: v for k, v in c.stats.items() if k.startswith("error_")} == {
        "error_rate_limit": 1,
        "error_server_error": 1,
        "error_timeout": 1,
        "error_connection": 1,
        "error_bad_body": 1,
    }
    assert len(fake.requests) == 6 and len(fake.paid) == 1
    assert {k.removeprefix("Bearer ") for k in fake.keys} == {
        "sk-test-retries"
    }  # anthropic: x-api-key or Bearer


def test_gives_up_after_max_attempts(fake, tmp_path):
    fake.faults.extend(["500"] * 3)
    c = client(fake, tmp_path, retry=RetryPolicy(3, 0.01, 0.02))
    with pytest.raises(CallFailed, match="server_error after 3 attempts"):
        c.call(MSG, 64)
    assert c.stats["failed_calls"] == 1 and len(fake.requests) == 3 and not fake.paid
    assert c.budget.tokens == 0 and c.budget.reserved_tokens == 0  # a failed call costs nothing


def test_cache_answers_repeats_without_a_request(fake, tmp_path):
    c = client(fake, tmp_path)
    first = c.call(MSG, 64)
    again = client(fake, tmp_path)  # a new process would build a new client over the same folder
    assert again.call(MSG, 64) == first
    assert len(fake.requests) == 1 and again.stats["cache_hits"] == 1 and again.stats["paid_calls"] == 0
    again.call(MSG, 64, temperature=0.7, sample=1)  # another sample of the same prompt is another call
    again.call(MSG, 32)  # so are other parameters
    assert len(fake.requests) == 3


def test_budget_stops_before_sending(fake, tmp_path):
    need = count_messages(MSG) + 64
    budget = Budget(max_tokens=need + 40)
    c = client(fake, tmp_path, budget=budget)
    c.call(MSG, 64)
    spent = budget.tokens
    assert 0 < spent <= need
    with pytest.raises(BudgetExhausted, match="budget exhausted"):
        c.call(MSG + [{"role": "user", "content": "another"}], 64)
    assert len(fake.requests) == 1 and budget.exhausted
    assert c.call(MSG, 64)  # a cached answer is free even when the budget is spent


def test_cost_budget(fake, tmp_path):
    budget = Budget(max_cost_usd=1e-4)
    c = client(fake, tmp_path, budget=budget)
    c.price = {"input_per_mtok": 1.0, "output_per_mtok": 1000.0}
    with pytest.raises(BudgetExhausted):
        c.call(MSG, 256)  # 256 output tokens at $1000/M would cost $0.256
    assert not fake.requests


def test_client_errors_are_not_retried(fake, tmp_path):
    fake.faults.append("400")
    c = client(fake, tmp_path)
    with pytest.raises(BackendError, match="answered 400"):
        c.call(MSG, 16)
    assert len(fake.requests) == 1


def test_map_keeps_input_order_and_stops_at_the_first_fatal_error(fake, tmp_path, monkeypatch):
    import threading
    import time

    monkeypatch.setenv("HB_TEST_KEY", "sk-test-map")
    c = client(fake, tmp_path)
    assert c.map(lambda x: (time.sleep(0.05 * (3 - x)), x)[1], [0, 1, 2]) == [0, 1, 2]

    started, lock = [], threading.Lock()

    def work(x):
        with lock:
            started.append(x)
        if x == 0:
            raise BackendError("refused")
        time.sleep(0.2)
        return x

    with pytest.raises(BackendError, match="refused"):
        c.map(work, range(20))
    assert len(started) < 20  # queued items were cancelled, not sent


def test_unknown_backend_and_missing_key(monkeypatch):
    with pytest.raises(ConfigError, match="not a backend"):
        make_backend(OmegaConf.create({"type": "cohere", "model": "x"}), "verifier")
    monkeypatch.delenv("HB_NO_SUCH_KEY", raising=False)
    with pytest.raises(BackendError, match=r"\$HB_NO_SUCH_KEY is not set"):
        make_backend(
            OmegaConf.create({"type": "openai", "model": "x", "api_key_env": "HB_NO_SUCH_KEY"}), "verifier"
        )


def test_unreachable_endpoint_fails_fast():
    from honeybee.generation.launch import free_port

    cfg = OmegaConf.create({"type": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1", "model": "x"})
    with pytest.raises(BackendError, match="unreachable"):
        make_backend(cfg, "instructor").check()


def test_tiktoken_is_offline_cl100k():
    assert count_tokens("hello world") == 2  # cl100k: "hello", " world"
    assert count_tokens("") == 0

"""The local backend's batching: concurrent calls share engine batches, answers equal one-at-a-time generation,
an error reaches only its own caller, and closing never hangs."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from omegaconf import OmegaConf

from honeybee.curation.backends import LocalBackend, make_backend
from honeybee.curation.batching import PromptBatcher
from honeybee.generation.engine import Completion, Request, Sampling

GREEDY = Sampling()
# Different lengths and topics, so a batch needs padding and the rows' answers differ.
QUESTIONS = [
    "Score this.",
    "What is the band gap of silicon?",
    "Name a perovskite.",
    "Explain, in one sentence, why copper conducts electricity better than iron at room temperature.",
    "List two ferroelectric materials and one use of each.",
    "Hi",
]


def echo_run(calls: list[list[str]]):
    """A fake engine: records each batch's prompts and answers each prompt with itself reversed."""

    def run(requests: list[Request], sampling: Sampling) -> list[Completion]:
        prompts = [r.prompt for r in requests]
        calls.append(prompts)
        if "bad" in prompts:
            raise ValueError("bad prompt")
        return [Completion(p[::-1], len(p), 1, "stop") for p in prompts]

    return run


def submit_together(batcher: PromptBatcher, prompts: list[str], samplings: list[Sampling] | None = None):
    """All prompts submitted by concurrent callers; returns each caller's answer text or its exception."""
    samplings = samplings or [GREEDY] * len(prompts)
    with ThreadPoolExecutor(len(prompts)) as pool:
        futures = [pool.submit(batcher.submit, Request(p), s) for p, s in zip(prompts, samplings)]
        inner = [f.result() for f in futures]
    out = []
    for f in inner:
        try:
            out.append(f.result(timeout=10).text)
        except Exception as e:
            out.append(e)
    return out


def test_concurrent_prompts_share_one_batch_in_caller_order():
    calls: list[list[str]] = []
    b = PromptBatcher(echo_run(calls), batch_size=8, batch_wait_s=0.3)
    try:
        prompts = [f"p{i}" for i in range(5)]
        assert submit_together(b, prompts) == [p[::-1] for p in prompts]
        assert len(calls) == 1 and sorted(calls[0]) == prompts
    finally:
        b.close()


def test_batches_never_exceed_batch_size():
    calls: list[list[str]] = []
    b = PromptBatcher(echo_run(calls), batch_size=3, batch_wait_s=0.2)
    try:
        prompts = [f"p{i}" for i in range(7)]
        assert submit_together(b, prompts) == [p[::-1] for p in prompts]
        assert max(len(c) for c in calls) <= 3 and sum(len(c) for c in calls) == 7
    finally:
        b.close()


def test_error_reaches_only_its_caller():
    calls: list[list[str]] = []
    b = PromptBatcher(echo_run(calls), batch_size=8, batch_wait_s=0.3)
    try:
        out = submit_together(b, ["a1", "bad", "c3"])
        assert out[0] == "1a" and out[2] == "3c"
        assert isinstance(out[1], ValueError) and "bad prompt" in str(out[1])
        assert len(calls[0]) == 3  # the failure happened in a shared batch, then each prompt ran alone
    finally:
        b.close()


def test_different_or_seeded_sampling_is_not_mixed():
    seen: list[tuple[list[str], Sampling]] = []

    def run(requests, sampling):
        seen.append(([r.prompt for r in requests], sampling))
        return [Completion(r.prompt, 0, 0, "stop") for r in requests]

    b = PromptBatcher(run, batch_size=8, batch_wait_s=0.3)
    try:
        hot = Sampling(do_sample=True, temperature=0.7)
        seeded = Sampling(do_sample=True, temperature=0.7, seed=3)
        out = submit_together(
            b, ["g1", "h1", "g2", "s1", "h2", "s2"], [GREEDY, hot, GREEDY, seeded, hot, seeded]
        )
        assert out == ["g1", "h1", "g2", "s1", "h2", "s2"]
        for prompts, sampling in seen:
            assert {p[0] for p in prompts} == {"g": {"g"}, "h": {"h"}, "s": {"s"}}[prompts[0][0]]
            if sampling.seed is not None:
                assert len(prompts) == 1  # a seed reproduces an answer only without other rows
    finally:
        b.close()


def test_close_does_not_hang_and_fails_what_is_left():
    release = threading.Event()

    def slow(requests, sampling):
        release.wait(5)
        return [Completion("x", 0, 0, "stop") for _ in requests]

    b = PromptBatcher(slow, batch_size=1, batch_wait_s=0.0)
    first = b.submit(Request("one"), GREEDY)
    time.sleep(0.1)  # the worker is now inside the first batch
    second = b.submit(Request("two"), GREEDY)
    closer = threading.Thread(target=b.close)
    closer.start()
    time.sleep(0.1)  # close() has begun waiting for the batch in progress
    release.set()
    closer.join(10)
    assert not closer.is_alive()
    assert first.result(timeout=5).text == "x"  # the batch in progress finishes
    with pytest.raises(RuntimeError, match="closed"):
        second.result(timeout=5)
    with pytest.raises(RuntimeError, match="closed"):
        b.submit(Request("three"), GREEDY)
    PromptBatcher(slow).close()  # never started: returns at once
    b.close()  # twice: no-op


def _local(run_dir, batch_size: int) -> LocalBackend:
    cfg = {"type": "local", "adapter": str(run_dir), "device": "cpu", "prompt_style": None}
    b = make_backend(OmegaConf.create({**cfg, "batch_size": batch_size, "batch_wait_s": 0.3}), "verifier")
    assert isinstance(b, LocalBackend)
    return b


def test_batched_greedy_answers_equal_one_at_a_time(tiny_run_dir):
    messages = [[{"role": "user", "content": q}] for q in QUESTIONS]
    alone, batched = _local(tiny_run_dir, 1), _local(tiny_run_dir, 8)
    try:
        expected = [alone.complete(m, 12, 0.0, None) for m in messages]
        batched.check()  # load before the burst, so the callers arrive together
        with ThreadPoolExecutor(len(messages)) as pool:
            got = list(pool.map(lambda m: batched.complete(m, 12, 0.0, None), messages))
        assert [r.text for r in got] == [r.text for r in expected]
        assert [r.completion_tokens for r in got] == [r.completion_tokens for r in expected]
        assert [r.prompt_tokens for r in got] == [r.prompt_tokens for r in expected]
        assert batched._batcher is not None and batched._batcher.batches < len(messages)  # really batched
        assert len({r.text for r in expected}) > 1  # the prompts are not all answered alike
    finally:
        alone.close()
        batched.close()


def test_local_config_ties_concurrency_to_batch_size():
    from test_loop import compose

    from honeybee.curation.inputs import validate

    cfg = compose("backend@verifier=local")
    assert cfg.verifier.batch_size == 8 and cfg.verifier.concurrency == 8
    cfg = compose("backend@verifier=local", "verifier.batch_size=3")
    assert cfg.verifier.concurrency == 3 and validate(cfg) == []
    assert any(
        "verifier.batch_size" in p
        for p in validate(compose("backend@verifier=local", "verifier.batch_size=0"))
    )


def test_a_round_verifies_through_batches_and_closes_the_batcher(tiny_run_dir, tmp_path, monkeypatch):
    """curate's loop with the Verifier on the local backend: its calls share engine batches, and the round
    closes the batcher's thread when it ends."""
    from test_loop import compose

    from honeybee.curation.loop import run_curate
    from tests.curation.fake_llm import FakeLLM

    made: list[LocalBackend] = []
    real_init = LocalBackend.__init__

    def spy(self, cfg, role):
        real_init(self, cfg, role)
        made.append(self)

    monkeypatch.setattr(LocalBackend, "__init__", spy)
    with FakeLLM() as srv:
        cfg = compose(
            f"curation_dir={tmp_path / 'curation'}",
            "experiment_name=t",
            "instructor.calls=4",
            f"instructor.base_url={srv.url}/v1",
            "instructor.model=fake",
            "backend@verifier=local",
            f"verifier.adapter={tiny_run_dir}",
            "verifier.prompt_style=null",
            "verifier.max_tokens=8",
            "verifier.max_repairs=0",
            "verifier.batch_wait_s=0.2",
            "cache.enabled=false",
            f"paths.log_dir={tmp_path / 'logs'}",  # outside a Hydra run its ${hydra:...} default has no value
        )
        report = run_curate(cfg)
    assert len(made) == 1 and made[0]._batcher is not None
    verified = report["counts"]["generated"] - report["counts"]["duplicates"]
    assert verified > 1
    assert 0 < made[0]._batcher.batches < verified  # calls shared batches
    assert not made[0]._batcher._thread.is_alive()  # closed with the round

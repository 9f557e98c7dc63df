"""Round planning: work items from targeted requests, seed topics and source texts."""

from __future__ import annotations

import json

import pytest

from honeybee.cli import check_overrides
from honeybee.curation.instructor import WorkItem
from honeybee.curation.loop import validate, work_items
from honeybee.utils.errors import DataError


def compose(*overrides):
    problem, cfg = check_overrides(list(overrides), "curate")
    assert problem is None, problem
    return cfg


def test_targeted_first_then_topics_and_sources_in_turn(tmp_path):
    f = tmp_path / "abstracts.jsonl"
    rows = [
        {"input": "GaN is a wide band gap semiconductor."},
        {"input": ""},
        {"input": "GaN is a wide band gap semiconductor."},
        {"input": "Perovskite films degrade in humid air."},
        {"instruction": "no input field"},
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = compose("instructor.calls=7", "sources.topics=[alloys]", f"sources.file={f}")
    assert validate(cfg) == []
    targeted = [WorkItem("targeted", "density", "examples", sample=0)]
    items = work_items(cfg, targeted)
    assert [(i.kind, i.source_id, i.sample) for i in items] == [
        ("targeted", None, 0),
        ("topic", None, 0),
        ("source", "abstracts.jsonl#0", 0),
        ("source", "abstracts.jsonl#3", 0),
        ("topic", None, 1),
        ("source", "abstracts.jsonl#0", 1),
        ("source", "abstracts.jsonl#3", 1),
    ]  # empty and repeated texts skipped; repeats of the pool get the next sample index (a new seed)
    assert items[2].text == "GaN is a wide band gap semiconductor."


def test_sources_without_the_field_and_no_topics(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps([{"text": "x"}]))
    with pytest.raises(DataError, match="no record has a non-empty 'input'"):
        work_items(compose("sources.topics=[]", f"sources.file={f}"), [])
    from honeybee.utils.errors import ConfigError

    with pytest.raises(ConfigError, match="no seed topics and no source texts"):
        work_items(compose("sources.topics=[]"), [])


@pytest.mark.parametrize(
    "override, message",
    [
        ("verifier.min_mean=150", "verifier.min_mean=150 must be a number in [0, 100]"),
        ("verifier.min_mean=abc", "verifier.min_mean='abc' must be a number"),
        ("budget.max_tokens=0", "budget.max_tokens=0 must be an integer in (0, 1000000000000000] (or null)"),
        ("instructor.calls=-1", "instructor.calls=-1 must be an integer 0..10000000"),
        ("retry.max_attempts=0", "retry.max_attempts=0 must be an integer 1..100"),
        ("round=0", "round=0 must be an integer 1..1000000"),
        ("curate_prompt.verifier.user=Score it", "curate_prompt.verifier.user must contain {instruction}"),
        ("verifier.type=cohere", "verifier.type='cohere' is not a backend"),
        ("sources.file=/nope/abstracts.json", "sources.file: file not found: /nope/abstracts.json"),
        ("feedback.fallback=bleu", "feedback.fallback='bleu' must be null or f1"),
    ],
)
def test_every_bad_value_is_named(override, message):
    problems = validate(compose(override))
    assert len(problems) == 1 and message in problems[0], problems


@pytest.mark.parametrize("backend", ["openai", "anthropic", "local"])
@pytest.mark.parametrize("role", ["instructor", "verifier", "evaluator"])
def test_every_backend_composes_for_every_role(role, backend):
    cfg = compose(f"backend@{role}={backend}")
    assert cfg[role].type == backend and validate(cfg) == []
    assert cfg[role].get("api_key_env", "NONE_API_KEY").endswith("_API_KEY")  # a variable name, never a key

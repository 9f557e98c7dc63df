"""Instructor parsing/repair, Verifier rule, Evaluator feedback, the quality classifier and the local backend."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from honeybee.curation.budget import Budget
from honeybee.curation.cache import CallCache
from honeybee.curation.client import LLMClient, RetryPolicy
from honeybee.curation.evaluator import Evaluator, read_questions, targeted_items, topic_of
from honeybee.curation.instructor import Instructor, WorkItem, records_from_json, records_from_sections
from honeybee.curation.verifier import QualityClassifier, Verifier
from tests.conftest import ROOT, SHARED_DATA, needs_shared

PROMPTS = OmegaConf.load(ROOT / "conf" / "curate_prompt" / "honeybee.yaml")


class Scripted:
    """A backend answering from a list, recording what it was sent."""

    type = "scripted"

    def __init__(self, replies):
        self.replies, self.sent, self.model = list(replies), [], "scripted"

    def describe(self):
        return {"backend": "scripted", "model": "scripted"}

    def complete(self, messages, max_tokens, temperature, seed):
        from honeybee.curation.backends import Reply

        self.sent.append(messages)
        return Reply(self.replies.pop(0))


def scripted_client(replies, tmp_path=None):
    backend = Scripted(replies)
    return LLMClient("t", backend, CallCache(None), Budget(), RetryPolicy(1, 0, 0), 1), backend


def test_json_records_are_found_in_prose_and_fences():
    text = (
        'Here you go:\n```json\n[{"Instruction": "Q1", "input": "", "output": "A1"},\n'
        ' {"question": "Q2", "context": "c", "answer": 2.5}, {"instruction": "no answer"}]\n```'
    )
    assert records_from_json(text) == [
        {"instruction": "Q1", "input": "", "output": "A1"},
        {"instruction": "Q2", "input": "c", "output": "2.5"},
    ]
    assert records_from_json("no json at all {broken") == []


def test_sections_are_read_leniently():
    text = "**Instruction:** What is the band gap of Si?\nInput: none given\n**Output**: About 1.1 eV."
    assert records_from_sections(text) == [
        {"instruction": "What is the band gap of Si?", "input": "none given", "output": "About 1.1 eV."}
    ]
    assert records_from_sections("Instruction: only a question") == []


def test_instructor_repairs_and_counts():
    client, backend = scripted_client(
        [
            "I cannot do JSON",
            '[{"instruction": "Q", "input": "", "output": "A"}]',
            "still nothing",
            "nope",
            '{"instruction": "Q3", "output": "A3"}',
        ]
    )
    ins = Instructor(client, PROMPTS.instructor, records_per_call=2, max_repairs=1)
    ok = ins.generate(WorkItem("topic", "alloys"))
    assert ok.how == "repaired" and ok.records[0]["output"] == "A" and ok.records[0]["topic"] == "alloys"
    assert backend.sent[1][-1]["content"].startswith("Your answer could not be used")
    assert backend.sent[1][-2] == {"role": "assistant", "content": "I cannot do JSON"}
    bad = ins.generate(WorkItem("topic", "glass"))
    assert bad.how == "failed" and bad.records == []
    first = ins.generate(WorkItem("source", "source text a", "An abstract about GaN."))
    assert first.how == "json" and "An abstract about GaN." in backend.sent[-1][-1]["content"]
    assert dict(ins.counts) == {
        "answers_repaired": 1,
        "answers_failed": 1,
        "answers_json": 1,
        "repair_requests": 2,
        "records": 2,
    }


def test_verifier_keep_rule_is_honeybees_and_configurable():
    good = '{"accuracy": 96, "relevance": 97, "completeness": 95, "reasonableness": 99}'
    weak = '{"accuracy": 89, "relevance": 100, "completeness": 100, "reasonableness": 100}'
    rec = {"instruction": "Q", "input": "", "output": "A"}
    client, _ = scripted_client([good, weak, "accuracy high", weak])
    v = Verifier(client, PROMPTS.verifier, max_repairs=1)
    assert v.verify(rec).kept
    out = v.verify(rec)
    assert not out.kept and out.failed == ["accuracy"]  # mean 97.25 passes, accuracy 89 < 90 does not
    repaired = v.verify(rec)  # unreadable first, then the repair answers
    assert repaired.scores["accuracy"] == 89 and v.counts["repaired"] == 1
    client, _ = scripted_client([weak])
    assert Verifier(client, PROMPTS.verifier, min_mean=80, min_each=80).verify(rec).kept
    client, _ = scripted_client(["no scores", "still none"])
    gone = Verifier(client, PROMPTS.verifier, max_repairs=1).verify(rec)
    assert not gone.kept and gone.failed == ["unscored"]


def test_evaluator_finds_weakest_topics_and_targets_them():
    def score(x):
        return json.dumps(dict.fromkeys(("accuracy", "relevance", "completeness", "reasonableness"), x))

    rows = [
        {"instruction": f"Q{i}", "input": "", "reference": "R", "answer": f"ans{i}", "topic": t}
        for i, t in enumerate(["density", "density", "band_gap", "band_gap", "melting"])
    ]
    client, _ = scripted_client([score(90), score(80), score(10), score(30), score(60)])
    fb = Evaluator(client, PROMPTS.evaluator).feedback("exp/stage1", rows, weakest_k=2, examples_per_topic=1)
    assert fb["by_topic"] == {
        "density": {"n": 2, "mean": 85.0},
        "band_gap": {"n": 2, "mean": 20.0},
        "melting": {"n": 1, "mean": 60.0},
    }
    assert [w["topic"] for w in fb["weakest"]] == ["band_gap", "melting"]
    assert fb["weakest"][0]["examples"][0]["answer"] == "ans2"  # the worst answer of the weakest topic
    items = targeted_items(fb, calls_per_topic=2)
    assert [(i.kind, i.topic, i.sample) for i in items] == [
        ("targeted", "band_gap", 0),
        ("targeted", "band_gap", 1),
        ("targeted", "melting", 0),
        ("targeted", "melting", 1),
    ]
    assert "Q2" in items[0].text and "ans2" in items[0].text


def test_unreadable_evaluator_falls_back_to_f1_when_asked():
    from honeybee.curation.evaluator import token_f1

    assert token_f1("The band gap is 1.12 eV", "1.12 eV") == pytest.approx(0.5)  # p = 2/6, r = 1
    assert token_f1("no overlap", "1.12 eV") == 0.0
    row = {"instruction": "Q", "input": "", "reference": "1.12 eV", "answer": "about 1.12 eV", "topic": "gap"}
    client, _ = scripted_client(["I think it is fine", "still fine"])
    plain = Evaluator(client, PROMPTS.evaluator, max_repairs=1).score(row)
    assert plain["overall"] is None and plain["scored_by"] is None
    client, _ = scripted_client(["I think it is fine", "still fine"])
    ev = Evaluator(client, PROMPTS.evaluator, max_repairs=1, fallback="f1")
    out = ev.score(row)
    assert (
        out["scored_by"] == "f1" and out["overall"] == pytest.approx(80.0) and ev.counts["fallback_f1"] == 1
    )


def test_questions_round_robin_over_topics(tmp_path):
    p = tmp_path / "test.jsonl"
    rows = [
        {"instruction": f"q{i}", "output": "a", "meta": {"property": "density" if i < 8 else "band_gap"}}
        for i in range(10)
    ]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    picked = read_questions(p, 4)
    assert [topic_of(r) for r in picked] == ["density", "band_gap", "density", "band_gap"]


def test_quality_classifier_learns_and_is_cached(tmp_path):
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    good = "The answer is derived step by step: first compute the density, then the mass. The answer is 5 g."
    bad = "idk maybe 7?? random guess without reasoning"
    for f, n in ((train, 40), (test, 10)):
        f.write_text(
            "".join(
                json.dumps({"prompt_answer": f"Question {i}? " + (good if i % 2 else bad), "label": i % 2})
                + "\n"
                for i in range(n)
            )
        )
    clf = QualityClassifier.train(train, test, tmp_path / "cache", max_features=2000)
    assert clf.metrics["test_accuracy"] == 1.0
    assert clf.prob("Question 99?", good) > 0.5 > clf.prob("Question 99?", bad)
    assert len(list((tmp_path / "cache").glob("quality_*.pkl"))) == 1
    again = QualityClassifier.train(train, test, tmp_path / "cache", max_features=2000)
    assert again.metrics == clf.metrics


@pytest.mark.slow
@needs_shared(SHARED_DATA / "sciinstruct" / "sciglm_rm_test.json")
def test_quality_classifier_on_sciglm_data(tmp_path):
    d = SHARED_DATA / "sciinstruct"
    clf = QualityClassifier.train(d / "sciglm_rm_valid.first1058.json", d / "sciglm_rm_test.json", None)
    assert clf.metrics["n_train"] == 1058 and clf.metrics["n_test"] == 942
    assert clf.metrics["test_accuracy"] > clf.metrics["majority_baseline"]


def test_local_backend_answers_in_process(tiny_run_dir):
    from honeybee.curation.backends import make_backend

    b = make_backend(
        OmegaConf.create(
            {"type": "local", "adapter": str(tiny_run_dir), "device": "cpu", "prompt_style": None}
        ),
        "verifier",
    )
    assert b.describe() == {"backend": "local", "model": str(tiny_run_dir)}
    r = b.complete([{"role": "user", "content": "Score this."}], 5, 0.0, None)
    assert isinstance(r.text, str) and 0 < r.completion_tokens <= 5
    assert b.complete([{"role": "user", "content": "Score this."}], 5, 0.0, None).text == r.text  # greedy

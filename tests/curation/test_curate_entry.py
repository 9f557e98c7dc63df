"""curate.py end to end against a fake OpenAI/Anthropic server: outputs, resume after SIGKILL, budget, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from honeybee.generation.launch import free_port
from tests.conftest import ROOT, run_script
from tests.curation.fake_llm import FakeLLM

FAKE_KEY = "sk-hb-fake-0123456789abcdef"
FAKE_KEY_2 = "sk-ant-hb-fake-fedcba9876543210"


def args_for(
    srv: FakeLLM, tmp: Path, *extra: str, roles=("instructor", "verifier", "evaluator")
) -> list[str]:
    out = [
        f"curation_dir={tmp / 'curation'}",
        "experiment_name=t",
        "instructor.calls=4",
        "retry.base_delay_s=0.01",
        "retry.max_delay_s=0.05",
    ]
    for r in roles:
        out += [f"{r}.base_url={srv.url}/v1", f"{r}.model=fake", f"{r}.timeout_s=2"]
    return out + list(extra)


def round_dir(tmp: Path, r: int = 1) -> Path:
    return tmp / "curation" / "t" / f"round{r}"


def read_jsonl(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


@pytest.fixture
def fake():
    with FakeLLM(fault_timeout_s=3) as srv:
        yield srv


def test_round_outputs_provenance_and_no_key_anywhere(fake, tmp_path):
    # a "garbled" topic answers prose first: the repair request must recover it, counted
    fake.faults.extend(["429", "500"])
    # the Instructor on the OpenAI API, the Verifier on the Anthropic API (HoneyBee's Claude verifier)
    main = args_for(
        fake,
        tmp_path,
        "sources.topics=[perovskites,garbled oxides]",
        "instructor.concurrency=1",
        "backend@verifier=anthropic",
        f"verifier.base_url={fake.url}",
        "verifier.model=claude-fake",
        roles=("instructor",),
    )
    keys = {"OPENAI_API_KEY": FAKE_KEY, "ANTHROPIC_API_KEY": FAKE_KEY_2}
    r = run_script("curate.py", main, tmp_path / "hydra", env=keys)
    assert r.returncode == 0, r.stderr[-3000:]
    d = round_dir(tmp_path)
    report = json.loads((d / "report.json").read_text())
    c = report["counts"]
    assert c["work_items"] == 4 and c["generated"] == 8 and c["kept"] + c["rejected"] == 8
    assert c["kept"] > 0 and c["rejected"] > 0
    assert report["instructor"] == {
        "answers_json": 2,
        "answers_repaired": 2,
        "repair_requests": 2,
        "records": 8,
    }
    assert report["calls"]["instructor"]["retries"] == 2
    assert sum(report["rejected_by"].values()) >= c["rejected"] and "mean" in report["rejected_by"]
    kept = read_jsonl(d / "records.jsonl")
    assert len(kept) == c["kept"]
    for rec in kept:
        s = rec["scores"]
        assert sum(s.values()) / 4 >= 95 and min(s.values()) >= 90
        prov = rec["provenance"]
        assert prov["round"] == 1 and prov["generator"] == {"backend": "openai", "model": "fake"}
        assert prov["verifier"] == {"backend": "anthropic", "model": "claude-fake"}
        assert prov["source"]["kind"] == "topic"
    assert (d / "verifier_histograms.png").stat().st_size > 1000 and (d / "report.md").is_file()
    # the keys went to the server ...
    assert {k.removeprefix("Bearer ") for k in fake.keys} == {FAKE_KEY, FAKE_KEY_2}
    # ... and into no written file: round, cache, Hydra's run folder and log
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) > 10
    for p in written:
        assert FAKE_KEY.encode() not in p.read_bytes() and FAKE_KEY_2.encode() not in p.read_bytes(), p
    assert FAKE_KEY not in r.stdout + r.stderr and FAKE_KEY_2 not in r.stdout + r.stderr

    # the round loads as `data=matsci_instruct data.path=<records.jsonl>` with HoneyBee's rule
    from omegaconf import OmegaConf

    from honeybee.data.sources import load_records

    cfg = OmegaConf.load(ROOT / "conf" / "data" / "matsci_instruct.yaml")
    cfg.path = str(d / "records.jsonl")
    loaded = load_records(cfg)
    assert [x.instruction for x in loaded] == [k["instruction"] for k in kept]
    assert loaded[0].meta["provenance"]["round"] == 1

    # the same command again: refused (a finished round is never replaced silently) ...
    again = run_script("curate.py", args_for(fake, tmp_path), tmp_path / "hydra2")
    assert again.returncode == 2 and "already exists" in again.last_err_line
    # ... and with overwrite=true answered entirely from the cache
    n = len(fake.requests)
    again = run_script("curate.py", [*main, "overwrite=true"], tmp_path / "hydra3", env=keys)
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(fake.requests) == n
    assert read_jsonl(d / "records.jsonl") == kept


def test_killed_run_resumes_from_cache(fake, tmp_path):
    """SIGKILL mid-round, re-run: no record lost, no answered call asked again."""
    common = ["instructor.calls=5", "instructor.concurrency=1", "verifier.concurrency=1"]
    # reference: the same round, uninterrupted, with its own cache
    ref = run_script("curate.py", args_for(fake, tmp_path / "ref", *common), tmp_path / "ref" / "hydra")
    assert ref.returncode == 0, ref.stderr[-2000:]
    want = (round_dir(tmp_path / "ref") / "records.jsonl").read_text()
    total = len(fake.paid)
    assert total == 15  # 5 instructor + 10 verifier calls

    fake.paid.clear()
    fake.requests.clear()
    env = {**os.environ}
    env.pop("HYDRA_FULL_ERROR", None)
    cmd = [
        sys.executable,
        str(ROOT / "curate.py"),
        *args_for(fake, tmp_path, *common),
        f"hydra.run.dir={tmp_path / 'hydra'}",
    ]
    fake.kill_after = 8  # 5 instructor answers and 3 verifier answers, then SIGKILL on the next request
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    fake.kill_pid = proc.pid
    assert proc.wait(timeout=120) == -signal.SIGKILL
    paid_before = list(fake.paid)
    assert len(paid_before) == 8
    assert not round_dir(tmp_path).exists()  # no partial round

    fake.kill_after, fake.requests[:] = None, []
    again = run_script("curate.py", args_for(fake, tmp_path, *common), tmp_path / "hydra2")
    assert again.returncode == 0, again.stderr[-2000:]
    assert not set(paid_before) & set(fake.requests)  # no answered call was asked again
    assert len(fake.requests) == total - len(paid_before)  # exactly the unanswered ones
    assert (round_dir(tmp_path) / "records.jsonl").read_text() == want  # nothing lost
    report = json.loads((round_dir(tmp_path) / "report.json").read_text())
    assert report["calls"]["instructor"]["cache_hits"] == 5 and report["calls"]["verifier"]["cache_hits"] == 3


def test_budget_stops_cleanly(fake, tmp_path):
    r = run_script(
        "curate.py",
        args_for(
            fake,
            tmp_path,
            "instructor.calls=6",
            "instructor.concurrency=1",
            "instructor.max_tokens=300",
            "budget.max_tokens=2500",
        ),
        tmp_path / "hydra",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((round_dir(tmp_path) / "report.json").read_text())
    assert report["status"] == "stopped" and report["budget"]["exhausted"]
    assert report["budget"]["tokens"] <= 2500
    c = report["counts"]
    assert c["instructor_items_not_done_budget"] > 0 or c["not_verified_budget"] > 0
    assert len(fake.paid) < 6 + 12
    kept = read_jsonl(round_dir(tmp_path) / "records.jsonl")
    assert len(kept) == c["kept"] and all(k["scores"] for k in kept)  # what was kept is complete
    assert "budget" in (r.stdout + r.stderr)


# Through the real entry point: an unknown group option (precheck), an unknown key (Hydra compose) and a bad
# value (validate() inside the task) each end in one line and exit 2. The other validate() messages are
# checked in-process in test_loop.py.
@pytest.mark.parametrize(
    "extra, message",
    [
        (["backend@verifier=gemini"], "unknown option 'gemini' for backend@verifier="),
        (["instructor.nonsense=1"], "nonsense"),
        (
            ["verifier.min_mean=abc", "feedback.stage=/nope/stage1"],
            "verifier.min_mean='abc' must be a number in [0, 100]; feedback.stage: /nope/stage1: no such folder",
        ),
    ],
)
def test_bad_input_one_line(fake, tmp_path, extra, message):
    r = run_script("curate.py", args_for(fake, tmp_path, *extra), tmp_path / "hydra")
    assert r.returncode == 2, r.stderr[-2000:]
    assert message in r.last_err_line and r.last_err_line.startswith("honeybee: error:")
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not round_dir(tmp_path).exists()
    assert not fake.requests


def test_unreachable_endpoint(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    t = time.monotonic()
    r = run_script(
        "curate.py",
        [
            f"curation_dir={tmp_path / 'curation'}",
            "experiment_name=t",
            f"instructor.base_url={url}",
            f"verifier.base_url={url}",
        ],
        tmp_path / "hydra",
    )
    assert r.returncode == 2 and "is unreachable" in r.last_err_line and url in r.last_err_line
    assert len(r.stderr.strip().splitlines()) == 1
    assert not round_dir(tmp_path).exists()
    assert time.monotonic() - t < 60


def test_all_roles_on_the_projects_own_server(tiny_server, tiny_run_dir, tmp_path):
    """generate.py serve=true plays Instructor, Verifier and Evaluator over real HTTP; feedback from a stage.

    The tiny random model writes no JSON: the round must still finish, with every failure counted.
    """
    args = [
        f"curation_dir={tmp_path / 'curation'}",
        "experiment_name=t",
        "instructor.calls=3",
        "instructor.max_tokens=24",
        "instructor.max_repairs=1",
        "verifier.min_mean=0",
        "verifier.min_each=0",
        f"feedback.stage={tiny_run_dir}",
        "feedback.limit=4",
        "feedback.max_new_tokens=4",
        "feedback.weakest_k=1",
        "feedback.calls_per_topic=1",
        "feedback.fallback=f1",
    ]
    for r in ("instructor", "verifier", "evaluator"):
        args += [f"{r}.base_url={tiny_server}", f"{r}.model=tiny", f"{r}.max_tokens=24"]
    r = run_script("curate.py", args, tmp_path / "hydra", env={"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((round_dir(tmp_path) / "report.json").read_text())
    calls = report["calls"]
    assert calls["evaluator"]["paid_calls"] >= 4 and calls["instructor"]["paid_calls"] >= 3
    fb = report["feedback"]
    assert fb["n_answers"] == 4 and fb["n_scored"] == 4
    # the random model cannot grade: its unreadable replies are scored by F1 against the reference, counted
    assert fb["counts"]["fallback_f1"] == fb["scored_by"].get("f1", 0) >= 1
    assert fb["counts"]["fallback_f1"] == fb["counts"].get("unreadable", 0)
    assert report["counts"]["targeted_items"] == 1 and len(fb["weakest"]) == 1
    ins = report["instructor"]
    assert sum(v for k, v in ins.items() if k.startswith("answers_")) == 3  # every answer accounted for
    assert ins.get("repair_requests", 0) == ins.get("answers_failed", 0) + ins.get("answers_repaired", 0)
    assert (round_dir(tmp_path) / "feedback.json").is_file()

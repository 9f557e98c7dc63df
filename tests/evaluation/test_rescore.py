"""`python -m honeybee.evaluation.rescore`: a finished evaluation's numbers, recomputed from its predictions."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import pytest
from conftest import ONE_THREAD, ROOT, run_script


@pytest.fixture(scope="module")
def evaluated(tiny_run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("rescore") / "e"
    r = run_script(
        "evaluate.py",
        [
            f"runs=[{tiny_run_dir}]",
            "tasks=[darwin_fair,perplexity]",
            "limit=24",
            "eval_task.darwin_fair.scoring=loglikelihood",
            "eval_task.darwin_fair.max_new_tokens=6",
            "bootstrap.resamples=100",
        ],
        out,
        env=ONE_THREAD,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r.run_dir / tiny_run_dir.name


def _rescore(*args):
    return subprocess.run(
        [sys.executable, "-m", "honeybee.evaluation.rescore", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_reported_number_comes_back_from_the_predictions(evaluated):
    p = _rescore(evaluated)
    assert p.returncode == 0, p.stderr
    got = {}
    for line in p.stdout.splitlines():
        folder, key, value = line.split("\t")
        assert folder == str(evaluated)
        got[key] = float(value)
    results = json.loads((evaluated / "results.json").read_text())["results"]
    reported = {f"{t}/{k}": v for t, ms in results.items() for k, v in ms.items() if v is not None}
    assert set(got) == set(reported)
    assert all(math.isclose(got[k], reported[k], rel_tol=1e-12, abs_tol=1e-12) for k in got)
    assert any(k.endswith(".kappa") for k in got)


def test_kappa_is_scikit_learns_on_the_rows(evaluated):
    from sklearn.metrics import cohen_kappa_score

    rows = [json.loads(x) for x in (evaluated / "predictions" / "darwin_fair.jsonl").read_text().splitlines()]
    p = _rescore(evaluated, "--metrics", "kappa")
    lines = [line.split("\t") for line in p.stdout.splitlines()]
    assert lines and all(key.endswith(".kappa") for _, key, _ in lines)
    for _, key, value in lines:
        prop = key.split("/")[1].rsplit(".", 1)[0]
        mine = [r for r in rows if r["property"] == prop]
        gold, pred = [r["label"] for r in mine], [str(r["prediction"]) for r in mine]
        if len(set(gold) | set(pred)) > 1:
            assert float(value) == pytest.approx(cohen_kappa_score(gold, pred), abs=1e-9), prop


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            lambda d: (d / "predictions" / "darwin_fair.jsonl").write_text(
                '{"property": "band_gap"}\nnot json\n'
            ),
            "darwin_fair.jsonl: line 2: not JSON",
        ),
        (
            lambda d: (d / "predictions" / "darwin_fair.jsonl").write_text("[1, 2]\n"),
            "darwin_fair.jsonl: line 1: expected a JSON object, got list",
        ),
        (
            lambda d: (d / "predictions" / "darwin_fair.jsonl").write_text('{"label": "Yes"}\n'),
            "darwin_fair.jsonl: rows lack what darwin_fair's metrics read",
        ),
        (
            lambda d: (d / "predictions" / "nonsense.jsonl").write_text("{}\n"),
            "'nonsense' is not a honeybee task",
        ),
        (lambda d: shutil.rmtree(d / "predictions"), "no predictions/<task>.jsonl files"),
    ],
)
def test_bad_predictions_are_one_line_exit_2_and_nothing_printed(evaluated, tmp_path, damage, expected):
    copy = tmp_path / "copy"
    shutil.copytree(evaluated, copy)
    damage(copy)
    p = _rescore(evaluated, copy)  # the good folder first: nothing of it is printed either
    assert p.returncode == 2 and p.stdout == ""
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("honeybee: error: ") and expected in err[0], err

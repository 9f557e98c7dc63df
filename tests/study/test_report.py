"""honeybee.study.report on a synthetic study folder: every shown number recomputed from the result.json files."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import stats as sps
from synthetic_study import BASE_REC, CELLS, ROWS, S2_REC, TASKS, cell_id, finished_values, write_study

from honeybee.study import render
from honeybee.study.report import log_wandb_table, main, write_report

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    d = write_study(tmp_path_factory.mktemp("study"))
    return d, write_report(d)


def results_table(md: str) -> dict[str, dict[str, str]]:
    """The '## Results' table of report.md as {row label: {column: cell text}}."""
    section = md.split("## Results\n", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("| ")]
    cols = [c.strip() for c in lines[0].strip("|").split("|")]
    out = {}
    for ln in lines[2:]:  # after the header and the '| --- |' line
        cells = [c.strip() for c in ln.strip("|").split(" | ")]
        out[cells[0]] = dict(zip(cols[1:], cells[1:]))
    return out


def col(task: dict) -> str:
    return f"{task['key']} {'↑' if task['higher_is_better'] else '↓'}"


def test_table_shows_mean_and_std_of_the_result_files(study):
    d, s = study
    table = results_table((d / "report.md").read_text())
    assert list(table) == [r["label"] for r in ROWS]  # study.json order
    for row in ROWS:
        for t in TASKS:
            xs = finished_values(d, row["row"], t["key"])
            text = table[row["label"]][col(t)].replace("**", "").rstrip("†‡")
            if len(xs) >= 2:
                expect = f"{render.fmt(float(np.mean(xs)))} ± {render.fmt(float(np.std(xs, ddof=1)))}"
                assert text.startswith(expect), (row, t, text)
                assert ("(n=2)" in text) == (len(xs) == 2)  # fewer seeds than planned finished
            elif row["row"] == "base":
                assert text == render.fmt(xs[0])
            else:
                assert text == f"{render.fmt(xs[0])} (n=1)"
            agg = next(r for r in s["rows"] if r["row"] == row["row"])["metrics"][t["key"]]
            assert agg["n"] == len(xs) and agg["mean"] == pytest.approx(np.mean(xs))
            if len(xs) >= 2:
                assert agg["std"] == pytest.approx(np.std(xs, ddof=1))
            else:
                assert agg["std"] is None


def test_best_is_bold_by_direction(study):
    d, _ = study
    table = results_table((d / "report.md").read_text())
    bold = {t["key"]: [r for r, cells in table.items() if cells[col(t)].startswith("**")] for t in TASKS}
    assert bold["darwin_fair/mae"] == ["progressive, stage 2"]  # lowest mae (↓)
    assert bold["matsci_nlp/micro_f1"] == ["one-shot"]  # highest f1 (↑)
    assert bold["darwin_fair/accuracy"] == ["progressive, stage 2"]
    assert bold["perplexity/perplexity"] == ["progressive, stage 2"]  # 8.2 over 2 finite values (one NaN)


def test_dagger_marks_exactly_the_seed_tests_below_alpha(study):
    d, _ = study
    table = results_table((d / "report.md").read_text())
    base = {t["key"]: finished_values(d, "base", t["key"])[0] for t in TASKS}
    seen = {True: 0, False: 0}
    for row in ROWS[1:]:
        for t in TASKS:
            xs = finished_values(d, row["row"], t["key"])
            p = sps.ttest_1samp(xs, base[t["key"]]).pvalue if len(xs) >= 2 and np.ptp(xs) > 0 else None
            sig = p is not None and p < 0.05
            assert ("†" in table[row["label"]][col(t)]) == sig, (row, t, p)
            seen[sig] += 1
    assert seen[True] >= 2 and seen[False] >= 2  # both sides of the threshold are exercised
    assert "†" in table["progressive, stage 2"][col(TASKS[0])]  # mae 1.0 ± 0.1 vs 2.0
    assert "†" not in table["one-shot"][col(TASKS[0])]  # mae 1.9, 2.3 vs 2.0
    assert "†" not in table["progressive, stage 1"][col(TASKS[0])]  # n=1: no test


def test_double_dagger_marks_the_paired_per_record_test(study):
    d, s = study
    table = results_table((d / "report.md").read_text())
    acc = col(TASKS[2])
    assert table["progressive, stage 2"][acc].endswith("‡")
    m = next(r for r in s["rows"] if r["row"] == "progressive/stage2")["metrics"]["darwin_fair/accuracy"]
    assert m["paired_test"]["p"] == pytest.approx(sps.binomtest(15, 15, 0.5).pvalue)
    assert [t["c"] for t in m["paired_test"]["per_seed"]] == [15, 15, 15]
    assert sum(b != r for b, r in zip(BASE_REC, S2_REC)) == 15
    assert "‡" not in table["one-shot"][acc]  # no per-record data


def test_missing_cells_are_counted_and_shown(study):
    d, s = study
    md = (d / "report.md").read_text()
    missing = [cell_id(r, seed) for (r, seed), m in CELLS.items() if m is None or m == "failed"]
    assert s["cells_total"] == len(CELLS) and s["cells_finished"] == len(CELLS) - len(missing)
    assert f"{len(CELLS) - len(missing)} of {len(CELLS)} cells finished" in md
    assert sorted(s["cells_missing"]) == sorted(missing) and all(c in md for c in missing)
    walls = [json.loads(p.read_text()) for p in (d / "cells").glob("*/result.json")]
    total = sum(w["cost"]["wall_s"] for w in walls if w["status"] == "done")
    assert s["total_wall_s"] == pytest.approx(total) and f"total wall time {render.fmt(total)} s" in md


def test_missing_metric_shows_a_dash(tmp_path):
    d = write_study(tmp_path)
    for seed in (1, 2):
        q = d / "cells" / cell_id("one-shot", seed) / "result.json"
        r = json.loads(q.read_text())
        del r["metrics"]["perplexity/perplexity"]
        q.write_text(json.dumps(r))
    write_report(d)
    table = results_table((d / "report.md").read_text())
    assert table["one-shot"][col(TASKS[3])] == "–"


def test_progressive_vs_one_shot_line(study):
    d, s = study
    md = (d / "report.md").read_text()
    a = finished_values(d, "progressive/stage2", "darwin_fair/mae")
    b = finished_values(d, "one-shot", "darwin_fair/mae")
    p = sps.ttest_ind(a, b, equal_var=False).pvalue
    line = next(ln for ln in md.splitlines() if ln.startswith("- darwin_fair/mae:"))
    assert (
        f"= {render.fmt(float(np.mean(a) - np.mean(b)))}" in line and f"p = {render.fmt_p(p)} (Welch)" in line
    )
    assert len(s["progressive_vs_one_shot"]) == len(TASKS)


def test_plots_are_valid_images(study):
    d, _ = study
    for name in ("metric_by_stage.png", "loss_curves.png", "cost.png"):
        with Image.open(d / "plots" / name) as im:
            im.verify()
        with Image.open(d / "plots" / name) as im:
            assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 200


def test_html_holds_the_table_and_the_plots(study):
    d, s = study
    page = (d / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page and page.rstrip().endswith("</html>")
    cols, rows = render.results_table(s)
    assert '<table class="results">' in page
    for c in cols:
        assert f"<th>{c}</th>" in page
    for r in rows:
        for cell in r:
            assert f">{cell}</td>" in page
    assert "<td class=best>1 ± 0.1†</td>" in page
    for name in ("metric_by_stage.png", "loss_curves.png", "cost.png"):
        assert f'src="plots/{name}"' in page


def test_report_json_has_every_cell(study):
    d, s = study
    body = json.loads((d / "report.json").read_text())
    assert body == s
    for p in (d / "cells").glob("*/result.json"):
        r = json.loads(p.read_text())
        if r["status"] != "done":
            assert r["cell"] not in body["cells"]
            continue
        got = body["cells"][r["cell"]]
        assert got["cost"] == r["cost"] and got["seed"] == r["seed"]
        for k, v in r["metrics"].items():
            assert got["metrics"][k] == (None if math.isnan(v) else v)
    rows = {r["row"]: r for r in body["rows"]}
    assert rows["progressive/stage2"]["metrics"]["darwin_fair/mae"]["seed_test"]["p"] < 0.05
    assert rows["progressive/stage2"]["metrics"]["perplexity/perplexity"]["values"] == [8.0, None, 8.4]


def test_wandb_table_offline_reads_back_the_same_values(study, tmp_path, monkeypatch):
    from wandb_offline import read_offline_run

    d, s = study
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    log_wandb_table(d, {"project": "honeybee-test"})
    runs = list((d / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    # finish() can return before the W&B service has flushed and closed the run file: wait for its exit record.
    deadline = time.monotonic() + 30
    while (run := read_offline_run(runs[0]))["exit_code"] is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run["group"] == "synthetic-t1" and run["job_type"] == "report" and run["exit_code"] == 0
    # files are media/table/<key>_<step>_<hash>.table.json
    tables = {
        p.name.rsplit("_", 2)[0]: p for p in (runs[0] / "files" / "media" / "table").glob("*.table.json")
    }
    logged = json.loads(tables["results"].read_text())
    cols, rows = render.results_table(s)
    assert logged["columns"] == cols and logged["data"] == rows
    long = json.loads(tables["results_long"].read_text())
    got = {(r[0], r[1]): r for r in long["data"]}
    for row in s["rows"]:
        for t in TASKS:
            m = row["metrics"][t["key"]]
            assert got[(row["row"], t["key"])][2:5] == [m["mean"], m["std"], m["n"]]


def _break(d: Path, what: str) -> Path:
    if what == "no study.json":
        (d / "study.json").unlink()
        return d / "study.json"
    if what == "study.json not JSON":
        (d / "study.json").write_text("{not json")
        return d / "study.json"
    if what == "study.json without tasks":
        s = json.loads((d / "study.json").read_text())
        del s["tasks"]
        (d / "study.json").write_text(json.dumps(s))
        return d / "study.json"
    p = d / "cells" / cell_id("progressive/stage2", 2) / "result.json"
    if what == "result.json not JSON":
        p.write_text('{"row": "progressive/stage2", "metr')
    else:  # metrics not an object
        r = json.loads(p.read_text())
        r["metrics"] = [1, 2]
        p.write_text(json.dumps(r))
    return p


@pytest.mark.parametrize(
    "what",
    [
        "no study.json",
        "study.json not JSON",
        "study.json without tasks",
        "result.json not JSON",
        "metrics a list",
    ],
)
def test_malformed_input_exits_2_naming_the_file(tmp_path, capsys, what):
    d = write_study(tmp_path)
    bad = _break(d, what)
    assert main([str(d)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0], err
    assert not any((d / n).exists() for n in ("report.md", "report.json", "report.html", "plots"))


def test_cli_renders_and_refuses_bad_input(tmp_path):
    d = write_study(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ok = subprocess.run(
        [sys.executable, "-m", "honeybee.study.report", str(d)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert (d / "report.md").is_file() and "7 of 10 cells finished" in ok.stderr
    (d / "report.md").unlink()
    _break(d, "result.json not JSON")
    bad = subprocess.run(
        [sys.executable, "-m", "honeybee.study.report", str(d)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "result.json" in bad.stderr
    assert not (d / "report.md").exists()


def test_swept_rows_are_named_and_compared_per_setting(tmp_path):
    task = {"key": "t/acc", "task": "t", "metric": "acc", "higher_is_better": True}
    rows = [{"row": "base", "label": "base model", "variant": "base", "stage": 0, "swept": {}}]
    values = {
        "8": {"progressive": [0.6, 0.64], "one-shot": [0.5, 0.52]},
        "16": {"progressive": [0.69, 0.71], "one-shot": [0.7, 0.74]},
    }
    cells = {"base": ("base", "base", 0, 0, {}, 0.4)}
    for r, by_variant in values.items():
        for variant, vals in by_variant.items():
            row = f"{'progressive/stage1' if variant == 'progressive' else 'one-shot'} lora.r={r}"
            label = "progressive, stage 1" if variant == "progressive" else "one-shot"
            rows.append(
                {"row": row, "label": label, "variant": variant, "stage": 1, "swept": {"lora.r": int(r)}}
            )
            for seed, v in zip((1, 2), vals):
                cells[f"{variant}-r{r}-s{seed}"] = (row, variant, 1, seed, {"lora.r": int(r)}, v)
    study = {
        "name": "sw",
        "tag": "",
        "seeds": [1, 2],
        "swept": {"lora.r": [8, 16]},
        "rows": rows,
        "tasks": [task],
    }
    (tmp_path / "study.json").write_text(json.dumps({**study, "cells": list(cells)}))
    for cid, (row, variant, stage, seed, swept, v) in cells.items():
        (tmp_path / "cells" / cid).mkdir(parents=True)
        body = {"cell": cid, "row": row, "variant": variant, "stage": stage, "seed": seed, "swept": swept}
        (tmp_path / "cells" / cid / "result.json").write_text(
            json.dumps({**body, "status": "done", "metrics": {"t/acc": v}})
        )
    s = write_report(tmp_path)
    table = results_table((tmp_path / "report.md").read_text())
    assert list(table) == [
        "base model",
        "progressive, stage 1 [lora.r=8]",
        "one-shot [lora.r=8]",
        "progressive, stage 1 [lora.r=16]",
        "one-shot [lora.r=16]",
    ]
    pvo = {c["setting"]: c for c in s["progressive_vs_one_shot"]}
    assert set(pvo) == {"lora.r=8", "lora.r=16"}
    assert pvo["lora.r=8"]["diff"] == pytest.approx(0.62 - 0.51)
    assert pvo["lora.r=8"]["p"] == pytest.approx(
        sps.ttest_ind([0.6, 0.64], [0.5, 0.52], equal_var=False).pvalue
    )
    assert pvo["lora.r=16"]["p"] == pytest.approx(
        sps.ttest_ind([0.69, 0.71], [0.7, 0.74], equal_var=False).pvalue
    )
    assert table["one-shot [lora.r=16]"]["t/acc ↑"] == "**0.72 ± 0.02828**†"  # best; 0.7, 0.74 vs 0.4
    assert s["cells_finished"] == s["cells_total"] == 9

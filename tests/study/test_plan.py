"""Study planning: cells, waves and rows from a study config; every bad config named in one line (exit 2);
the paper-scale seed studies compose and dry-run with GPU-hour totals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from honeybee.study.entry import check_train, compose_study
from honeybee.study.plan import check, estimate, plan, study_record, validate, waves
from honeybee.utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PAPER = ["honeybee_7b", "honeybee_13b", "darwin15"]


def study_cfg(*overrides: str):
    problem, cfg = compose_study(list(overrides))
    assert problem is None, problem
    return cfg


def test_smoke_plan_cells_waves_and_record():
    cfg = study_cfg("study=smoke_tiny")
    cells = check(cfg.study)
    ids = [c.id for c in cells]
    assert ids == [
        "base",
        "progressive-s1-seed1",
        "progressive-s1-seed2",
        "progressive-s2-seed1",
        "progressive-s2-seed2",
    ]
    s2 = cells[3]
    assert s2.depends_on == "progressive-s1-seed1" and s2.stage == 2 and s2.seed == 1
    assert "stage=2" in s2.train and "seed=1" in s2.train and "trainer.max_steps=2" in s2.train
    assert "model=tiny_llama" in s2.train and s2.job_type == "stage2"
    assert [[c.id for c in w] for w in waves(cells)] == [ids[:3], ids[3:]]
    rec = study_record(cfg.study, cells)
    assert rec["cells"] == ids and rec["seeds"] == [1, 2] and rec["tag"] == ""
    assert [r["row"] for r in rec["rows"]] == ["base", "progressive/stage1", "progressive/stage2"]
    assert rec["tasks"] == [
        {
            "key": "perplexity/perplexity",
            "task": "perplexity",
            "metric": "perplexity",
            "higher_is_better": False,
        },
        {"key": "perplexity/loss", "task": "perplexity", "metric": "loss", "higher_is_better": False},
    ]


def test_grid_one_shot_and_steps_scale():
    cfg = study_cfg(
        "study=smoke_tiny", "+study.grid={lora.r:[4,8]}", "study.one_shot=true", "study.steps_scale=3"
    )
    cells = plan(cfg.study)
    assert len(cells) == 1 + 2 * 2 * 2 + 2 * 2  # base + stages x seeds x ranks + one-shot x seeds x ranks
    c = next(c for c in cells if c.id == "progressive-r8-s2-seed2")
    assert c.swept == {"lora.r": 8} and "lora.r=8" in c.train and c.steps == 6
    assert c.depends_on == "progressive-r8-s1-seed2" and c.row == "progressive-r8/stage2"
    one = next(c for c in cells if c.id == "one-shot-r4-seed1")
    assert one.kind == "one-shot" and one.steps == 12 and one.depends_on is None  # equal budget: 6 + 6
    assert one.union and "data.templates_per_property=2" in one.union[0] and "lora.r=4" in one.union[0]
    assert {c.id for c in waves(cells)[0]} >= {"base", "one-shot-r4-seed1", "progressive-r4-s1-seed1"}


def test_followups_set_tag_and_knobs():
    more = study_cfg("study=smoke_tiny", "+study/followup=more_steps").study
    assert more.tag == "-more_steps" and plan(more)[1].steps == 4
    assert study_cfg("study=smoke_tiny", "+study/followup=lower_lr").study.lr_scale == 0.5
    replay = study_cfg("study=progressive_smollm2", "+study/followup=replay").study
    assert replay.replay is True and replay.tag == "-replay" and replay.name == "progressive_smollm2"


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["study.eval.tasks=[perplexity,nope]"], "study.eval.tasks: unknown task 'nope'"),
        (["study.eval.tasks=[]"], "study.eval.tasks: empty"),
        (["~study.stages.1"], "study.stages: stage 1 is missing"),
        (["+study.stages.4={steps:1}"], "study.stages: stage 3 is missing"),
        (["+study.grid={lora.r:[]}"], "study.grid.lora.r: empty list"),
        (["study.seeds=[]"], "study.seeds: empty"),
        (["study.seeds=[1,1]"], "study.seeds: [1, 1] repeats"),
        (["study.stages.1.steps=0"], "study.stages.1.steps=0"),
        (["study.steps_scale=0"], "study.steps_scale=0"),
        (["~study.stages", "study.base=false"], "study.stages: empty grid"),
    ],
)
def test_bad_study_config_names_the_key(overrides, key):
    problems = validate(study_cfg("study=smoke_tiny", *overrides).study)
    assert any(p.startswith(key) for p in problems), problems
    with pytest.raises(ConfigError, match=key.split(":")[0].replace("[", r"\[").replace(".", r"\.")):
        check(study_cfg("study=smoke_tiny", *overrides).study)


def test_every_problem_at_once():
    problems = validate(study_cfg("study=smoke_tiny", "study.seeds=[]", "study.eval.tasks=[nope]").study)
    assert len(problems) == 2 and problems[0].startswith("study.seeds") and "nope" in problems[1]


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["+study.grid={lora.rr:[4]}"], "study.grid.lora.rr:"),
        (['study.stages.2.overrides=["data=nodata"]'], "study.stages.2.overrides: unknown option 'nodata'"),
        (["study.model=llama99b"], "study.model / study.train_overrides: unknown option 'llama99b'"),
    ],
)
def test_overrides_that_do_not_compose_are_named(overrides, key):
    problems = validate(study_cfg("study=smoke_tiny", *overrides).study, check_train)
    assert len(problems) == 1 and problems[0].startswith(key), problems


def test_entry_fails_fast_with_one_line_and_exit_2(tmp_path):
    cmd = [sys.executable, "study.py", "study=smoke_tiny", "study.eval.tasks=[nope]", "~study.stages.1"]
    p = subprocess.run(
        [*cmd, f"paths.log_dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 2
    err = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("honeybee: error: study.stages: stage 1 is missing")
    assert "study.eval.tasks: unknown task 'nope'" in err[0]
    assert not any(tmp_path.iterdir())  # nothing written


def test_harness_columns_and_a_harness_only_evaluation():
    cfg = study_cfg(
        "study=smoke_tiny",
        "study.eval.tasks=[]",
        "+study.eval.overrides=['harness=lm_eval','harness.tasks=[honeybee_darwin_fair_is_metal]']",
        "+study.eval.metrics.lm_eval=[honeybee_darwin_fair_is_metal/acc]",
    )
    assert validate(cfg.study) == []
    from honeybee.study.plan import task_columns

    assert task_columns(cfg.study) == [
        {
            "key": "lm_eval/honeybee_darwin_fair_is_metal/acc",
            "task": "lm_eval",
            "metric": "honeybee_darwin_fair_is_metal/acc",
            "higher_is_better": True,
        }
    ]
    bare = study_cfg("study=smoke_tiny", "study.eval.tasks=[]")
    assert any("study.eval.tasks: empty" in p for p in validate(bare.study))


@pytest.mark.parametrize("name", PAPER)
def test_paper_studies_compose_and_estimate(name):
    cfg = study_cfg(f"study={name}")
    assert (
        validate(cfg.study, check_train) == []
    )  # every stage / grid override composes into train.py's config
    cells = check(cfg.study)
    stages = {c.stage for c in cells if c.kind == "stage"}
    assert stages == ({1, 2, 3} if name.startswith("honeybee") else {1, 2})
    assert sorted({c.seed for c in cells if c.seed is not None}) == [1, 2, 3]
    assert any(c.kind == "one-shot" for c in cells) and cells[0].id == "base"
    est = estimate(cfg.study, cells)
    assert est["total_gpu_hours"] > 0 and est["train_gpu_hours"] > 0
    one = next(c for c in cells if c.kind == "stage" and c.stage == 1)
    # steps x tokens/step / (tokens/s/GPU x GPUs) x GPUs / 3600, from the config's documented knobs
    cost, st = cfg.study.cost, cfg.study.stages["1"]
    expect = st.est_steps * cost.tokens_per_step / cost.train_tokens_per_s_per_gpu / 3600
    assert est["cells"][one.id]["train_gpu_h"] == pytest.approx(expect)
    assert OmegaConf.select(cfg, "study.train_overrides")[0].startswith("experiment=")


def test_dry_run_prints_cells_and_gpu_hours(tmp_path):
    p = subprocess.run(
        [sys.executable, "study.py", "study=honeybee_7b", "study.dry_run=true", f"paths.log_dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    out = p.stdout
    assert "progressive-r16-s3-seed3" in out and "one-shot-r8-seed1" in out
    total = float(out.split("estimated GPU hours:")[1].split("=")[1].split("(")[0])
    cfg = study_cfg("study=honeybee_7b")
    assert total == pytest.approx(estimate(cfg.study, check(cfg.study))["total_gpu_hours"], abs=0.05)
    assert not (tmp_path / "honeybee_7b" / "cells").exists()  # a dry run runs nothing


SHARED = ROOT.parent / "shared" / "data"


@pytest.mark.slow  # ~15 s: loads and splits the DARWIN / MatSci-NLP files
@pytest.mark.skipif(not (SHARED / "darwin_fair").is_dir(), reason=f"real data not found at {SHARED}")
def test_embedded_study_evaluates_only_held_out_records(tmp_path):
    """Every record the embedded study scores is outside the train/val splits its stages (and the control) train on."""
    from honeybee.data.datamodule import prepare_splits
    from honeybee.evaluation.task import configured_records
    from honeybee.evaluation.tasks import EvalTask, balanced_subset
    from honeybee.study.runner import compose, hydra_job

    study = study_cfg("study=progressive_smollm2").study
    seen, trained = set(), {}
    for cell in plan(study):
        if cell.id in ("progressive-s1-seed1", "progressive-s2-seed1"):
            with hydra_job(compose("train", cell.train, tmp_path)) as t:
                splits = prepare_splits(t.data, int(t.seed))
            keys = {(r.instruction, r.input, r.output) for part in ("train", "val") for r in splits[part]}
            trained[cell.id] = len(keys)
            seen |= keys
    # both stages really contributed: the facts' train split, and the ~20 % of the DARWIN files stage 2 keeps
    assert trained["progressive-s1-seed1"] > 500, trained
    assert 200 < trained["progressive-s2-seed1"] < 600, trained
    ov = [
        "runs=[base]",
        "model=smollm2_135m",
        "use_run_splits=false",
        f"tasks=[{','.join(study.eval.tasks)}]",
    ]
    with hydra_job(compose("evaluate", [*ov, *study.eval.overrides], tmp_path)) as e:
        for name in study.eval.tasks:
            task = EvalTask.create(name, e.eval_task[name])
            usable = [r for r in configured_records(e.eval_task[name].data, "test") if task.usable(r)]
            assert study.eval.limit is None  # every held-out record
            chosen = balanced_subset(usable, None, task.group)
            assert not {(r.instruction, r.input, r.output) for r in chosen} & seen, name
            if name == "darwin_fair":
                # ~80 % of each file held out: enough records per property for an interval of about +-5 points
                per = {p: sum(task.group(r) == p for r in chosen) for p in {task.group(r) for r in chosen}}
                assert min(per.values()) >= 370, per
            if name == "matsci_nlp":
                assert len(chosen) == 558  # sc 200 + sar 358: every test sample

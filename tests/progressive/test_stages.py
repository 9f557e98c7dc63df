"""Progressive stages on the tiny model: conventions, continue/merge, lineage, plateau, errors."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import TINY, run_script
from safetensors.torch import load_file

QUICK = [
    *TINY,
    "trainer.max_steps=4",
    "data.batch_size=8",
    "trainer.val_check_interval=4",
    "trainer.limit_val_batches=2",
    "experiment_name=prog",
]


@pytest.fixture(scope="module")
def stage_tree(tmp_path_factory):
    """Stage 1 then stage 2 (continue) under one outputs/ root, as `python train.py stage=N` would."""
    root = tmp_path_factory.mktemp("outputs")
    runs = {}
    for n in (1, 2):
        runs[n] = run_script(
            "train.py",
            [*QUICK, f"stage={n}", f"paths.log_dir={root}"],
            root / "prog" / "tiny_llama" / f"stage{n}",
        )
        assert runs[n].returncode == 0, runs[n].stderr[-2000:]
    return root, runs


def _manifest(run):
    return json.loads((run.run_dir / "manifest.json").read_text())


def test_stage_folders_follow_the_convention(stage_tree):
    root, _ = stage_tree
    for n in (1, 2):
        d = root / "prog" / "tiny_llama" / f"stage{n}"
        assert (d / "adapter" / "adapter_model.safetensors").is_file() and (d / "manifest.json").is_file()


def test_stage2_continues_stage1_adapter_with_lineage(stage_tree):
    root, runs = stage_tree
    m1, m2 = _manifest(runs[1]), _manifest(runs[2])
    assert m1["parent"] is None and m1["stage"] == 1
    s1_adapter = root / "prog" / "tiny_llama" / "stage1" / "adapter"
    assert m2["parent"]["path"] == str(s1_adapter)
    from honeybee.utils.runinfo import file_sha256

    assert m2["parent"]["sha256"] == file_sha256(s1_adapter / "adapter_model.safetensors")
    assert (
        m2["base_model"]["name"] == "tiny_llama" and m2["config"]["optim"]["lr"] == 1.0e-4
    )  # stage 2's own lr
    assert m2["code"]["git"]["commit"] is None or len(m2["code"]["git"]["commit"]) == 40
    assert any(f.get("note") == "embedded" and len(f["sha256"]) == 64 for f in m2["data"]["files"])
    assert m2["score"]["metric"] == "val/loss" and m2["score"]["previous_best"] == m1["score"]["best"]
    assert m2["score"]["plateau"] == (m1["score"]["best"] - m2["score"]["best"] < 0.001)
    # Continue: same adapter shape, weights moved on from stage 1's.
    a1 = load_file(s1_adapter / "adapter_model.safetensors")
    a2 = load_file(runs[2].run_dir / "adapter" / "adapter_model.safetensors")
    assert a1.keys() == a2.keys() and any(float((a1[k] - a2[k]).abs().max()) > 0 for k in a1)


def test_finished_stage_is_not_overwritten(stage_tree):
    root, runs = stage_tree
    r = run_script("train.py", [*QUICK, "stage=1", f"paths.log_dir={root}"], runs[1].run_dir)
    assert (
        r.returncode != 0
        and "already holds a finished run" in r.last_err_line
        and "overwrite=true" in r.last_err_line
    )


def test_merge_mode_starts_a_fresh_adapter(stage_tree, tmp_path):
    root, _ = stage_tree
    r = run_script(
        "train.py",
        [*QUICK, "stage=2", "stage.mode=merge", "lora.r=4", f"paths.log_dir={root}", "experiment_name=prog"],
        tmp_path / "merged",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = json.loads((r.run_dir / "adapter" / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and _manifest(r)["mode"] == "merge" and _manifest(r)["parent"] is not None


def test_missing_parent_is_one_line(train_run, tmp_path):
    r = train_run([*QUICK, "stage=2", f"paths.log_dir={tmp_path}/empty"])
    assert r.returncode != 0 and "Traceback" not in r.stderr
    line = r.last_err_line
    assert line.startswith("honeybee: error: stage=2 continues stage 1") and "stage.init_from=" in line
    assert f"{tmp_path}/empty/prog/tiny_llama/stage1/adapter" in line


def test_parent_from_another_base_model_is_refused(stage_tree, train_run, tmp_path):
    _, runs = stage_tree
    foreign = tmp_path / "foreign"
    shutil.copytree(runs[1].run_dir / "adapter", foreign)
    meta = json.loads((foreign / "honeybee.json").read_text())
    meta["base_model"] = {"name": "llama7b", "name_or_path": "huggyllama/llama-7b", "source": "hub"}
    (foreign / "honeybee.json").write_text(json.dumps(meta))
    r = train_run([*QUICK, "stage=2", f"stage.init_from={foreign}"])
    assert r.returncode != 0 and "trained on base model llama7b" in r.last_err_line


def test_continue_with_other_rank_is_refused(stage_tree, train_run):
    _, runs = stage_tree
    r = train_run([*QUICK, "stage=2", f"stage.init_from={runs[1].run_dir}", "lora.r=16"])
    assert r.returncode != 0 and "stage.mode=continue" in r.last_err_line and "lora.r=16" in r.last_err_line


def test_extra_train_files_join_only_the_train_split(stage_tree, train_run, tmp_path):
    _, runs = stage_tree
    extra = tmp_path / "round1.jsonl"
    extra.write_text(
        "".join(
            json.dumps({"instruction": f"Curated Q{i}", "input": "", "output": "A"}) + "\n" for i in range(5)
        )
    )
    r = train_run(
        [*QUICK, "stage=2", f"stage.init_from={runs[1].run_dir}", f"stage.extra_train_files=[{extra}]"]
    )
    assert r.returncode == 0, r.stderr[-2000:]
    splits = {s: (r.run_dir / "splits" / f"{s}.jsonl").read_text() for s in ("train", "val", "test")}
    assert splits["train"].count("Curated Q") == 5 and "Curated" not in splits["val"] + splits["test"]
    files = _manifest(r)["data"]["files"]
    assert any(f["path"] == str(extra) and len(f["sha256"]) == 64 for f in files)


def test_task_score_as_stage_score(train_run):
    """S_val by generation: the callback logs val/task_score, the best checkpoint and manifest follow it."""
    r = train_run(
        [
            *QUICK,
            "score.metric=val/task_score",
            "score.mode=max",
            "score.max_records=12",
            "score.max_new_tokens=4",
            "trainer.log_every_n_steps=1",
        ]
    )
    assert r.returncode == 0, r.stderr[-2000:]
    m = _manifest(r)
    assert m["score"]["metric"] == "val/task_score" and m["score"]["mode"] == "max"
    assert 0.0 <= m["score"]["best"] <= 1.0 and "val/task_score" in m["metrics"]
    assert (r.run_dir / "checkpoints" / "best.ckpt").is_file()
    summary = json.loads((r.run_dir / "summary.json").read_text())
    assert summary["best_checkpoint"].endswith("best.ckpt")

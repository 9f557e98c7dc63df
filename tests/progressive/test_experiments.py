"""The paper recipes in conf/experiment/: each composes as documented and dry-runs on the tiny model."""

from __future__ import annotations

import json

import pytest
from conftest import MATSCI_INSTRUCT, SHARED_DATA, TINY, needs_shared

from honeybee.cli import stage_overrides
from honeybee.progressive.stages import compose_train_config

PAPERS = ["honeybee_7b", "honeybee_13b", "darwin15", "sciglm", "polymetis"]
DRY = [*TINY, "hardware=cpu", "strategy=auto", "debug=fdr"]


@pytest.mark.parametrize("name", PAPERS)
def test_recipe_composes(name):
    cfg = compose_train_config([f"experiment={name}"])
    assert cfg.experiment_name == name
    expected = {
        "honeybee_7b": ("llama7b", 8, "matsci_instruct", 2, "ddp"),
        "honeybee_13b": ("llama13b", 8, "matsci_instruct", 4, "ddp"),
        "darwin15": ("llama7b", 16, "matsci_instruct", 2, "auto"),
        "sciglm": ("llama2_7b", 0, "sciinstruct", 8, "deepspeed"),
        "polymetis": ("glm4_9b", 16, "matsci_instruct", 2, "auto"),
    }[name]
    got = (cfg.model.name, cfg.lora.r, cfg.data.source, cfg.trainer.devices, cfg.strategy.name)
    assert got == expected
    assert cfg.trainer.precision == "bf16-mixed" and cfg.hardware.global_batch_size
    if name == "sciglm":
        assert cfg.lora.enabled is False and cfg.strategy.stage == 3 and cfg.strategy.offload_optimizer


def test_darwin15_stage2_brings_its_own_data():
    s1 = stage_overrides(compose_train_config(["experiment=darwin15", "stage=1"]))
    assert (
        len(s1) == 1
        and s1[0].startswith("data.path=")
        and s1[0].endswith("train_instruction_from_chatgpt.json")
    )
    over = stage_overrides(compose_train_config(["experiment=darwin15", "stage=2"]))
    assert over == ["data=darwin_fair"]
    cfg = compose_train_config(["experiment=darwin15", "stage=2", *over])
    assert cfg.data.source == "darwin_fair" and cfg.stage.index == 2 and cfg.optim.lr == 1.0e-4


def test_hardware_presets_hold_the_global_batch():
    from honeybee.training.hardware import apply_hardware

    seen = {}
    for hw in ("a100x2", "a100x4", "a100x8", "h100x8"):
        cfg = compose_train_config([f"hardware={hw}"])
        plan = apply_hardware(cfg)
        assert (
            plan["global_batch_size"]
            == plan["micro_batch_size"] * plan["world_size"] * plan["accumulate_grad_batches"]
        )
        assert cfg.trainer.accumulate_grad_batches == plan["accumulate_grad_batches"]
        seen[hw] = plan["accumulate_grad_batches"]
    assert seen == {"a100x2": 16, "a100x4": 8, "a100x8": 4, "h100x8": 2}
    bad = compose_train_config(["hardware=a100x2", "hardware.micro_batch_size=3"])
    from honeybee.utils.errors import ConfigError

    with pytest.raises(ConfigError, match="global_batch_size=128 is not a multiple"):
        apply_hardware(bad)


@needs_shared(MATSCI_INSTRUCT)
@pytest.mark.parametrize("name", ["honeybee_7b", "polymetis", "darwin15"])
def test_recipe_dry_run_on_tiny_model(name, train_run):
    r = train_run([f"experiment={name}", *DRY])
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((r.run_dir / "adapter" / "honeybee.json").read_text())["experiment"] == name


def test_sciglm_dry_run_on_tiny_model(train_run, tmp_path):
    data = tmp_path / "sci.jsonl"
    rows = [
        {
            "content": f"What is {i} + {i}?",
            "summary": f"Adding gives {2 * i}. The answer is {2 * i}.",
            "subject": "math",
        }
        for i in range(40)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = train_run(["experiment=sciglm", *DRY, f"data.path={data}", "hardware.gradient_checkpointing=false"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert (r.run_dir / "model" / "model.safetensors").is_file()  # full finetune exports the whole model


@needs_shared(SHARED_DATA / "darwin_fair")
def test_darwin15_stage2_dry_run_continues_stage1(train_run, tmp_path):
    common = ["experiment=darwin15", *DRY, f"paths.log_dir={tmp_path}"]
    s1 = train_run([*common, "stage=1"], name="s1")
    assert s1.returncode == 0, s1.stderr[-2000:]
    s2 = train_run([*common, "stage=2", f"stage.init_from={s1.run_dir}"], name="s2")
    assert s2.returncode == 0, s2.stderr[-2000:]
    manifest = json.loads((s2.run_dir / "manifest.json").read_text())
    assert manifest["config"]["data"]["source"] == "darwin_fair" and manifest["parent"]["path"].startswith(
        str(s1.run_dir)
    )

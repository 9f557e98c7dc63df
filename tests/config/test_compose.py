"""Every option of every config group composes, and overrides behave as documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from honeybee.progressive.stages import compose_train_config
from honeybee.config.validate import train_config_problems

CONF = Path(__file__).resolve().parents[2] / "conf"
GROUPS = ["model", "lora", "data", "strategy", "stage", "trainer", "callbacks", "logger", "paths", "hydra", "debug",
          "experiment"]


def _compose(overrides: list[str]):
    """Compose like ``train.py`` would, with Hydra's runtime filled in so every interpolation resolves."""
    return compose_train_config(overrides)


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_every_group_exists_with_options():
    for g in GROUPS:
        assert _options(g), f"conf/{g}/ has no options"


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS if g != "hydra" for o in _options(g)])
def test_every_option_composes(group, option):
    cfg = _compose([f"{group}={option}"])
    choices = cfg.hydra.runtime.choices
    assert choices[group] == option
    body = OmegaConf.masked_copy(cfg, [k for k in cfg.keys() if k != "hydra"])
    OmegaConf.to_container(body, resolve=True)  # every interpolation resolves
    assert train_config_problems(cfg) == []


def test_lora_rank_override_and_full_finetune():
    cfg = _compose(["lora.r=32"])
    assert cfg.lora.r == 32 and cfg.lora.alpha == 16 and list(cfg.lora.target_modules) == ["q_proj", "v_proj"]
    none = _compose(["lora=none"])
    assert none.lora.enabled is False
    assert train_config_problems(none) == []


def test_defaults_are_the_embedded_demo():
    cfg = _compose([])
    assert cfg.model.name == "smollm2_135m" and cfg.model.source == "gguf_package"
    assert cfg.lora.r == 8 and cfg.lora.alpha == 16
    assert cfg.data.source == "materials_facts"
    assert cfg.model.trust_remote_code is False
    for name in ("llama7b", "llama13b", "llama2_7b", "llama2_13b", "llama3_8b"):
        m = OmegaConf.load(CONF / "model" / f"{name}.yaml")
        assert m.source == "hub" and "/" in m.name_or_path and m.trust_remote_code is False


def test_validation_reports_every_problem_at_once():
    cfg = _compose(["lora.r=0", "optim.lr=-1", "data.batch_size=0", "stage.mode=sideways"])
    problems = train_config_problems(cfg)
    joined = " | ".join(problems)
    for key in ("lora.r=0", "optim.lr=-1", "data.batch_size=0", "stage.mode='sideways'"):
        assert key in joined
    assert len(problems) == 4


def test_wandb_logger_names_from_groups():
    cfg = _compose(["logger=wandb", "lora=r16", "experiment_name=abl"])
    assert cfg.logger.wandb.group == "abl"
    assert cfg.logger.wandb.job_type == "stage1"
    assert cfg.logger.wandb.name == "smollm2_135m-r16-materials_facts-s1"
    many = _compose(["logger=many"])
    assert set(many.logger) == {"csv", "wandb", "tensorboard"}


def test_experiment_is_a_delta():
    cfg = _compose(["experiment=materials_facts_r16"])
    assert cfg.lora.r == 16 and cfg.trainer.max_epochs == 2 and cfg.experiment_name == "materials_facts_r16"

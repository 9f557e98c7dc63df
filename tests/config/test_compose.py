"""Every option of every config group composes, and overrides behave as documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from honeybee.config.validate import train_config_problems
from honeybee.progressive.stages import compose_train_config

CONF = Path(__file__).resolve().parents[2] / "conf"
GROUPS = [
    "model",
    "lora",
    "data",
    "strategy",
    "stage",
    "trainer",
    "callbacks",
    "logger",
    "paths",
    "hydra",
    "debug",
    "experiment",
    "hardware",
    "hparams_search",
]


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
    body = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
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


# --- scale-out: hardware presets x strategies, launchers, hyperparameter searches, QLoRA ---------------------

HARDWARE = _options("hardware")
GPU_PRESETS = ["a100x2", "a100x4", "a100x8", "h100x8", "multinode"]


def test_scaleout_groups_have_their_options():
    assert {"cpu", "a100x2", "a100x4", "a100x8", "h100x8", "multinode"} <= set(HARDWARE)
    assert {"deepspeed_stage2", "deepspeed_stage3", "deepspeed_stage3_offload", "ddp"} <= set(
        _options("strategy")
    )
    assert {"slurm", "slurm_local"} <= set(_options("hydra/launcher"))
    assert "lora_optuna" in _options("hparams_search")


@pytest.mark.parametrize(
    "hardware,strategy",
    [(h, "deepspeed_stage3") for h in HARDWARE] + [("a100x4", s) for s in _options("strategy")],
)
def test_hardware_and_strategy_options_compose_and_hold_the_global_batch(hardware, strategy):
    from honeybee.training.hardware import apply_hardware

    cfg = _compose([f"hardware={hardware}", f"strategy={strategy}"])
    assert train_config_problems(cfg) == []
    plan = apply_hardware(cfg)
    if hardware in GPU_PRESETS:
        hw = cfg.hardware
        assert cfg.trainer.precision == "bf16-mixed" and cfg.trainer.accelerator == "gpu"
        assert cfg.trainer.devices == hw.gpus_per_node and "gradient_checkpointing" in hw
        world = hw.gpus_per_node * cfg.trainer.num_nodes
        assert plan["world_size"] == world
        assert plan["micro_batch_size"] * world * plan["accumulate_grad_batches"] == hw.global_batch_size
        assert cfg.data.batch_size == hw.micro_batch_size


def test_gpu_presets_share_one_global_batch_on_one_node():
    from honeybee.training.hardware import apply_hardware

    globals_ = {apply_hardware(_compose([f"hardware={h}"]))["global_batch_size"] for h in GPU_PRESETS[:-1]}
    assert globals_ == {128}
    accum = {h: apply_hardware(_compose([f"hardware={h}"]))["accumulate_grad_batches"] for h in GPU_PRESETS}
    assert accum == {"a100x2": 16, "a100x4": 8, "a100x8": 4, "h100x8": 2, "multinode": 4}
    three = apply_hardware(_compose(["hardware=multinode", "trainer.num_nodes=4"]))
    assert three["world_size"] == 32 and three["accumulate_grad_batches"] == 2


@pytest.mark.parametrize("launcher", _options("hydra/launcher"))
def test_every_launcher_composes(launcher):
    from hydra.utils import instantiate  # noqa: F401 - the plugin's config classes must import

    cfg = _compose([f"hydra/launcher={launcher}", "hardware=a100x4"])
    assert cfg.hydra.runtime.choices["hydra/launcher"] == launcher
    launch = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launch["_target_"].startswith("hydra_plugins.hydra_submitit_launcher")
    if launcher == "slurm":
        assert (launch["nodes"], launch["gpus_per_node"], launch["tasks_per_node"]) == (1, 4, 4)
        assert {"partition", "account", "timeout_min"} <= set(launch)
        multi = OmegaConf.to_container(
            _compose(["hydra/launcher=slurm", "hardware=multinode", "trainer.num_nodes=3"]).hydra.launcher,
            resolve=True,
        )
        assert (multi["nodes"], multi["gpus_per_node"]) == (3, 8)


def test_optuna_search_maximises_the_configured_validation_score():
    cfg = _compose(["hparams_search=lora_optuna"])
    assert cfg.hydra.runtime.choices["hydra/sweeper"] == "optuna"
    assert cfg.hydra.sweeper.direction == "maximize" and cfg.score.mode == "max"
    assert cfg.optimized_metric == cfg.score.metric == "val/task_score"
    assert set(cfg.hydra.sweeper.params) == {"lora.r", "optim.lr", "lora.dropout"}
    assert train_config_problems(cfg) == []


def test_qlora_is_refused_under_zero3_and_on_cpu_with_clear_messages():
    zero3 = " | ".join(
        train_config_problems(_compose(["model.quantization=4bit", "strategy=deepspeed_stage3_offload"]))
    )
    assert "cannot run under DeepSpeed ZeRO-3" in zero3 and "deepspeed_stage2" in zero3
    cpu = " | ".join(
        train_config_problems(
            _compose(["model.quantization=4bit", "strategy=deepspeed_stage2", "hardware=cpu"])
        )
    )
    assert "ZeRO-3" not in cpu and "needs a CUDA GPU" in cpu
    full = " | ".join(
        train_config_problems(_compose(["model.quantization=4bit", "lora=none", "hardware=a100x2"]))
    )
    assert "lora=none cannot" in full
    bad = train_config_problems(_compose(["model.quantization=3bit"]))
    assert bad == ["model.quantization='3bit' is not one of: null, 4bit"]


def test_qlora_with_zero2_or_ddp_on_gpu_passes_validation_when_bitsandbytes_is_present(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: object() if n == "bitsandbytes" else real(n, *a)
    )
    for strategy in ("deepspeed_stage2", "ddp"):
        assert (
            train_config_problems(
                _compose(["model.quantization=4bit", f"strategy={strategy}", "hardware=a100x2"])
            )
            == []
        )

"""Build the Lightning strategy named by ``conf/strategy/*.yaml``, on GPU or (for DeepSpeed) on CPU.

Lightning's ``DeepSpeedStrategy`` refuses any accelerator but CUDA, yet DeepSpeed itself runs ZeRO stages 0-3 on
CPU over gloo. :class:`CPUDeepSpeedStrategy` lifts exactly that refusal (three small overrides), so the same
``strategy=deepspeed_*`` configs train on a laptop or CI box as on a GPU cluster; it is picked automatically
when the trainer's accelerator is ``cpu`` (or ``auto`` on a machine without CUDA). It is a test and
development path: on CPU, ZeRO saves no memory worth having and costs speed (see experiments/bench/scaling.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from honeybee.utils.errors import ConfigError

try:  # deepspeed is optional: `pip install 'honeybee[deepspeed]'` (the dev extra includes it)
    from lightning.pytorch.strategies import DDPStrategy, DeepSpeedStrategy
except ImportError:  # pragma: no cover - lightning always ships the class; deepspeed is imported lazily
    DeepSpeedStrategy = object


def ensure_extensions_dir() -> str:
    """Point DeepSpeed's JIT op builds (``cpu_adam`` for optimizer offload) at a persistent cache.

    torch keeps compiled extensions in ``$TORCH_EXTENSIONS_DIR``; defaulting it under honeybee's cache means the
    one-off ~1 min compile happens once per machine (or CI cache), not once per run.
    """
    from honeybee.utils.paths import cache_dir

    path = os.environ.get("TORCH_EXTENSIONS_DIR") or str(cache_dir() / "torch_extensions")
    os.environ["TORCH_EXTENSIONS_DIR"] = path
    Path(path).mkdir(parents=True, exist_ok=True)
    return path


class CPUDeepSpeedStrategy(DeepSpeedStrategy):
    """Lightning's DeepSpeed strategy on CPU processes talking over gloo.

    Overrides only what ties the parent to CUDA: the accelerator check, the per-process device-index check
    (CPU devices have no index) and the device index handed to ``deepspeed.initialize``, which must be a
    number (``cpu`` maps every rank to index 0; DeepSpeed's CPU accelerator ignores it).
    """

    def setup_environment(self) -> None:
        DDPStrategy.setup_environment(self)  # skips DeepSpeedStrategy's "CUDA only" check

    def setup_distributed(self) -> None:
        from lightning.fabric.utilities.seed import reset_seed

        reset_seed()
        self.set_world_ranks()
        self._init_deepspeed_distributed()

    @property
    def root_device(self) -> Any:
        import torch

        return torch.device("cpu", 0)


def wants_cpu(accelerator: str | None) -> bool:
    """Whether a trainer with this accelerator setting runs on CPU."""
    acc = str(accelerator or "auto").lower()
    if acc == "cpu":
        return True
    if acc == "auto":
        import torch

        return not torch.cuda.is_available()
    return False


def build_strategy(cfg: Any, accelerator: str | None = "auto", micro_batch_size: int | None = None) -> Any:
    """Return a strategy object (or Lightning's ``"auto"``) for a ``strategy`` config node.

    Args:
        cfg: The ``strategy`` node (``name`` plus its options).
        accelerator: ``trainer.accelerator``; ``cpu`` (or ``auto`` without CUDA) selects the CPU DeepSpeed path.
        micro_batch_size: Per-device batch, given to DeepSpeed for its throughput logging.
    """
    name = cfg.name
    if name == "auto":
        return "auto"
    if name == "ddp":
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(
            find_unused_parameters=bool(cfg.get("find_unused_parameters", False)),
            process_group_backend=cfg.get("process_group_backend"),
        )
    if name == "deepspeed":
        try:
            import deepspeed  # noqa: F401
        except ImportError:
            raise ConfigError(
                "strategy=deepspeed_* needs DeepSpeed: pip install 'honeybee[deepspeed]'"
            ) from None
        ensure_extensions_dir()
        cpu = wants_cpu(accelerator)
        cls = CPUDeepSpeedStrategy if cpu else DeepSpeedStrategy
        return cls(
            stage=int(cfg.stage),
            offload_optimizer=bool(cfg.offload_optimizer),
            offload_parameters=bool(cfg.offload_parameters),
            allgather_bucket_size=int(cfg.allgather_bucket_size),
            reduce_bucket_size=int(cfg.reduce_bucket_size),
            # Checkpoints hold the trainable weights (and their optimizer state) only, never the frozen base.
            exclude_frozen_parameters=True,
            logging_batch_size_per_gpu=int(micro_batch_size or 1),
            process_group_backend=cfg.get("process_group_backend") or ("gloo" if cpu else None),
        )
    raise ConfigError(f"strategy.name={name!r} is not one of: auto, ddp, deepspeed")


def is_deepspeed(strategy: Any) -> bool:
    return isinstance(strategy, DeepSpeedStrategy) if DeepSpeedStrategy is not object else False


def zero_stage(strategy: Any) -> int:
    """The ZeRO stage a trainer's strategy runs (0 when it is not DeepSpeed)."""
    if not is_deepspeed(strategy) or not isinstance(strategy.config, dict):
        return 0
    return int((strategy.config.get("zero_optimization") or {}).get("stage", 0))


def offloads_optimizer(strategy: Any) -> bool:
    if not is_deepspeed(strategy) or not isinstance(strategy.config, dict):
        return False
    off = (strategy.config.get("zero_optimization") or {}).get("offload_optimizer") or {}
    return str(off.get("device", "none")) != "none"


@contextlib.contextmanager
def zero3_generation(trainer: Any) -> Iterator[None]:
    """Make ``model.generate`` keep every rank stepping until all ranks finish (``synced_gpus``) under ZeRO-3.

    With sharded parameters each forward is a collective; a rank that stops generating early would leave the
    others waiting forever. transformers turns ``synced_gpus`` on by itself when it sees a live DeepSpeed
    ZeRO-3 config object, so one is held for the duration of the block only (outside it, ``from_pretrained``
    must not start partitioning new models).
    """
    if zero_stage(trainer.strategy) != 3 or trainer.world_size < 2:
        yield
        return
    from transformers.integrations import HfDeepSpeedConfig

    holder = HfDeepSpeedConfig(trainer.strategy.config)
    try:
        yield
    finally:
        del holder


def gathered_trainable_state(module: Any, trainer: Any) -> dict[str, Any] | None:
    """Full (unsharded) copies of the trainable weights of ``module.model``, on CPU, on global rank 0.

    Under ZeRO-3 each rank holds a shard only, so this is a collective that every rank must enter; ranks other
    than 0 get None. Reading ``module.model.state_dict()`` there instead is the known "empty adapter" bug.
    """
    named = [(n, p) for n, p in module.model.named_parameters() if p.requires_grad]
    if zero_stage(trainer.strategy) == 3:
        import deepspeed

        with deepspeed.zero.GatheredParameters([p for _, p in named], modifier_rank=None):
            state = {n: p.detach().clone().cpu() for n, p in named} if trainer.is_global_zero else None
        return state
    return {n: p.detach().clone().cpu() for n, p in named} if trainer.is_global_zero else None


def read_zero_checkpoint(path: str | Path) -> dict[str, Any]:
    """Consolidate a DeepSpeed checkpoint folder (any stage, any world size) into the trainable weights.

    Reads the files only (no process group needed), so rank 0 can do it alone after training. Keys are
    relative to the LightningModule's ``model`` (the ``model.`` prefix is removed).
    """
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    state = get_fp32_state_dict_from_zero_checkpoint(
        str(path), tag="checkpoint", exclude_frozen_parameters=True
    )
    return {k.removeprefix("model."): v for k, v in state.items()}

"""Build the Lightning strategy named by ``conf/strategy/*.yaml``."""

from __future__ import annotations

from typing import Any

from honeybee.utils.errors import ConfigError


def build_strategy(cfg: Any) -> Any:
    """Return a strategy object (or Lightning's ``"auto"``) for a ``strategy`` config node."""
    name = cfg.name
    if name == "auto":
        return "auto"
    if name == "ddp":
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(find_unused_parameters=bool(cfg.get("find_unused_parameters", False)),
                           process_group_backend=cfg.get("process_group_backend"))
    if name == "deepspeed":
        try:
            import deepspeed  # noqa: F401
        except ImportError:
            raise ConfigError("strategy=deepspeed_* needs DeepSpeed: pip install 'honeybee[deepspeed]'") from None
        from lightning.pytorch.strategies import DeepSpeedStrategy

        return DeepSpeedStrategy(
            stage=int(cfg.stage), offload_optimizer=bool(cfg.offload_optimizer),
            offload_parameters=bool(cfg.offload_parameters),
            allgather_bucket_size=int(cfg.allgather_bucket_size), reduce_bucket_size=int(cfg.reduce_bucket_size),
        )
    raise ConfigError(f"strategy.name={name!r} is not one of: auto, ddp, deepspeed")

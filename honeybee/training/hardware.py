"""Hardware presets: derive per-device batch and gradient accumulation from a fixed global batch size."""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import open_dict

from honeybee.utils.errors import ConfigError

log = logging.getLogger(__name__)


def world_size(cfg: Any) -> int:
    devices = cfg.trainer.devices
    per_node = (
        devices if isinstance(devices, int) and devices > 0 else int(cfg.hardware.get("gpus_per_node") or 1)
    )
    return max(1, per_node) * max(1, int(cfg.trainer.num_nodes))


def apply_hardware(cfg: Any) -> dict[str, int] | None:
    """Hold ``hardware.global_batch_size`` constant across presets by deriving gradient accumulation.

    Sets ``data.batch_size`` to the micro-batch and ``trainer.accumulate_grad_batches`` to
    ``global / (micro x world size)``; returns the numbers (logged and recorded) or None when the preset
    leaves batching alone.

    Raises:
        ConfigError: when the global batch is not a multiple of micro-batch x world size.
    """
    hw = cfg.get("hardware") or {}
    global_bs = hw.get("global_batch_size")
    if not global_bs:
        return None
    micro = int(hw.get("micro_batch_size") or cfg.data.batch_size)
    world = world_size(cfg)
    if int(global_bs) % (micro * world):
        raise ConfigError(
            f"hardware.global_batch_size={global_bs} is not a multiple of micro_batch_size={micro} x "
            f"{world} devices; change one of them"
        )
    accumulate = int(global_bs) // (micro * world)
    with open_dict(cfg):
        cfg.data.batch_size = micro
        cfg.trainer.accumulate_grad_batches = accumulate
    plan = {
        "global_batch_size": int(global_bs),
        "micro_batch_size": micro,
        "world_size": world,
        "accumulate_grad_batches": accumulate,
    }
    log.info("hardware %s: %s", hw.get("name"), plan)
    return plan

"""oneDNN weight pre-packing for fp32 inference on CPU.

A decode step multiplies a few rows by every weight matrix. PyTorch's default CPU linear re-lays-out the
weight for its GEMM kernel on every call, which dominates at these small row counts; torch.compile's CPU
"freezing" pass avoids that by packing each weight once into oneDNN's blocked layout. This module does the
same for an eager model: each ``nn.Linear`` keeps its weight (state dicts, merging and saving are untouched)
and gains a packed copy that its forward uses while it is safe to. Measured on SmolLM2-135M (2 AVX2 cores):
the LM head at 16 rows 24.6 ms -> 9.9 ms; see ``experiments/bench/generation.py`` for end-to-end numbers.

The packed path is taken only for inference: with autograd recording, or once the weight has been changed
in place (an optimizer step), or for an input of another dtype or device, the module falls back to the
plain ``F.linear`` on its live weight, so a packed model can never compute with a stale or untrainable copy.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from honeybee.utils.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)

# torch is imported inside the functions: config checks call mode_problem before any heavy work.
MODES = ("auto", "true", "false")
_PACKED = "_hb_packed"  # (packed weight, weight version at packing)


def mode_problem(mode: Any) -> str | None:
    """What is wrong with a ``cpu_prepack`` value, or None (booleans from the command line are fine)."""
    if str(mode).lower() in MODES:
        return None
    return f"cpu_prepack={mode} must be one of {', '.join(MODES)}"


def _packed_forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    packed, version = getattr(self, _PACKED)
    w = self.weight
    if (
        (torch.is_grad_enabled() and (w.requires_grad or x.requires_grad))
        or w._version != version
        or x.dtype != w.dtype
        or x.device.type != "cpu"
    ):
        return F.linear(x, w, self.bias)
    shape = x.shape
    y = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, shape[-1]), packed, self.bias, "none", [], "")
    return y.reshape(*shape[:-1], y.shape[-1])


def supported() -> bool:
    """Whether this torch build has oneDNN and the linear pre-packing ops."""
    import torch

    return (
        torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    )


def _why_not(model: nn.Module) -> str | None:
    import torch

    if not supported():
        return "this torch build has no oneDNN linear pre-packing"
    p = next(model.parameters(), None)
    if p is None or p.device.type != "cpu":
        return "the model is not on the CPU"
    if p.dtype != torch.float32:
        return f"the weights are {p.dtype}, not float32"
    return None


def _linears(model: nn.Module) -> list[nn.Linear]:
    from torch import nn

    return [m for m in model.modules() if type(m) is nn.Linear]


def _free_bytes() -> int | None:
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def prepack_linears(model: nn.Module, batch_size: int = 16, mode: str | bool = "auto") -> int:
    """Give every ``nn.Linear`` of an fp32 CPU model a oneDNN-packed weight copy for inference.

    Args:
        model: The model; packed in place (its parameters are not changed).
        batch_size: Rows per decode step the layout is tuned for (any row count works).
        mode: ``auto`` packs when the model is fp32 on a CPU, oneDNN is there and the packed copies (as
            large again as the linear weights) fit in free memory, and logs why not otherwise; ``true``
            packs or raises; ``false`` does nothing.

    Returns:
        How many layers now carry a packed weight (0 when nothing was packed).

    Raises:
        ConfigError: ``mode`` is not one of auto/true/false, or ``true`` and packing is not possible.
    """
    if problem := mode_problem(mode):
        raise ConfigError(problem)
    mode = str(mode).lower()
    if mode == "false":
        return 0
    why = _why_not(model)
    layers = _linears(model)
    extra = sum(m.weight.numel() * m.weight.element_size() for m in layers)
    free = _free_bytes()
    if why is None and mode == "auto" and free is not None and 2 * extra > free:
        why = f"the packed copies ({extra / 2**20:.0f} MiB) would not fit in free memory twice over"
    if why is not None:
        if mode == "true":
            raise ConfigError(f"cpu_prepack=true, but {why} (cpu_prepack=auto or false)")
        log.info("cpu_prepack: plain torch linears (%s)", why)
        return 0
    import torch

    with torch.no_grad():
        for m in layers:
            packed = torch.ops.mkldnn._reorder_linear_weight(m.weight.detach(), max(1, int(batch_size)))
            setattr(m, _PACKED, (packed, m.weight._version))
            m.forward = types.MethodType(_packed_forward, m)
    log.info("cpu_prepack: %d linear weights packed for oneDNN (+%.0f MiB)", len(layers), extra / 2**20)
    return len(layers)


def unpack_linears(model: nn.Module) -> int:
    """Drop the packed copies: every layer goes back to the plain ``nn.Linear`` forward.

    Returns:
        How many layers were unpacked.
    """
    n = 0
    for m in _linears(model):
        if hasattr(m, _PACKED):
            delattr(m, _PACKED)
            del m.forward
            n += 1
    return n


def is_packed(model: Any) -> bool:
    return any(hasattr(m, _PACKED) for m in _linears(model))


@contextmanager
def plain_linears(model: nn.Module) -> Iterator[None]:
    """Run ``model`` on plain torch linears for a while, keeping its packed copies for afterwards (the
    generation benchmark's baseline is a plain model)."""
    held = [(m, m.__dict__.pop("forward")) for m in _linears(model) if hasattr(m, _PACKED)]
    try:
        yield
    finally:
        for m, forward in held:
            m.forward = forward

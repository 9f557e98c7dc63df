"""``trainer.precision=auto``: bf16 mixed precision only where this machine runs bf16 faster than fp32.

On GPUs with bf16 support bf16-mixed is always the faster choice. On CPUs it depends on the instruction set:
with AVX-512-BF16 or AMX, oneDNN runs bf16 matmuls natively at ~2.5x the fp32 rate (the issue measured 359 vs
139 GFLOP/s on 2 threads); without them (e.g. AVX2-only AMD EPYC Zen 3, the build machine) PyTorch emulates
bf16 and a bf16 matmul runs ~30x *slower* than fp32. The CPU capability string alone does not say which, so
``auto`` measures: a short fp32 and bf16 matmul probe, picking bf16 only when it clearly wins.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from honeybee.utils.cpuinfo import matmul_gflops

log = logging.getLogger(__name__)

# bf16 must beat fp32 by this factor to be chosen: it also costs a little accuracy (rounding of activations),
# and the probe is short, so a near-tie should keep fp32.
BF16_MIN_SPEEDUP = 1.3


def cpu_bf16_probe(n: int = 256) -> dict[str, float]:
    """fp32 and bf16 matmul GFLOP/s on this CPU (quick; the bf16 side is slow where it is emulated)."""
    return {
        "fp32_gflops": matmul_gflops(torch.float32, n, 0.1),
        "bf16_gflops": matmul_gflops(torch.bfloat16, n, 0.1),
    }


def resolve_precision(requested: Any, accelerator: Any = "auto") -> tuple[str, dict[str, Any]]:
    """Turn ``trainer.precision`` into a Lightning precision string.

    ``auto`` gives ``bf16-mixed`` on a CUDA GPU that supports bf16, ``bf16-mixed`` on a CPU whose measured bf16
    matmul rate is at least :data:`BF16_MIN_SPEEDUP` x its fp32 rate, and ``32-true`` otherwise. Any other
    value is returned unchanged.

    Returns:
        ``(precision, info)``; ``info`` holds the probe's numbers and the reason (logged, and recorded in
        ``run_info.json``).
    """
    if str(requested) != "auto":
        return str(requested), {"requested": str(requested)}
    acc = str(accelerator)
    if acc in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        if torch.cuda.is_bf16_supported():
            return "bf16-mixed", {"requested": "auto", "reason": "CUDA GPU with bf16"}
        return "32-true", {"requested": "auto", "reason": "CUDA GPU without bf16"}
    probe = cpu_bf16_probe()
    ratio = probe["bf16_gflops"] / max(probe["fp32_gflops"], 1e-9)
    choice = "bf16-mixed" if ratio >= BF16_MIN_SPEEDUP else "32-true"
    info = {
        "requested": "auto",
        **{k: round(v, 1) for k, v in probe.items()},
        "bf16_over_fp32": round(ratio, 3),
        "reason": f"CPU bf16 matmul {ratio:.2f}x fp32 (bf16 needs >= {BF16_MIN_SPEEDUP}x)",
    }
    log.info("trainer.precision=auto -> %s: %s", choice, info["reason"])
    return choice, info

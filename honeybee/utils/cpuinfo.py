"""What kind of CPU this is, for throughput targets: its model, its bf16/AMX flags, and measured matmul rates.

Machines here differ: some hosts run bf16 matmuls natively (AVX-512-BF16 or AMX), others have only AVX2, where
PyTorch emulates bf16 at a small fraction of the fp32 rate. The two classes get different throughput targets
(README "Performance"), so the benchmarks print the class they ran on. Parsing is pure (text in, values out) so
it is testable with fixtures from either class; :func:`read_cpu` reads ``/proc/cpuinfo`` and falls back to
``lscpu`` where that file is absent.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

# The flags that decide the class, plus the vector widths worth printing beside them.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
SHOWN_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile", "amx_int8")

NATIVE_BF16 = "native-bf16"
AVX2 = "avx2"
OTHER = "other"


@dataclass(frozen=True)
class CpuInfo:
    """One CPU's model name and flag set (as the kernel reports them)."""

    model: str
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def hw_class(self) -> str:
        """``native-bf16`` (AVX-512-BF16 or AMX-BF16), ``avx2``, or ``other``."""
        return classify(self.flags)

    def shown_flags(self) -> dict[str, bool]:
        """The throughput-relevant flags, each present or not, in a fixed order."""
        return {f: f in self.flags for f in SHOWN_FLAGS}

    def summary(self) -> str:
        """One line: model, class and the relevant flags it has (``-flag`` for those it lacks)."""
        marks = " ".join(f if on else f"-{f}" for f, on in self.shown_flags().items())
        return f"{self.model} [{self.hw_class}] {marks}"


def classify(flags: frozenset[str] | set[str]) -> str:
    """The throughput class a flag set belongs to.

    Args:
        flags: Lower-case CPU flags (``/proc/cpuinfo`` spelling).

    Returns:
        :data:`NATIVE_BF16` if any of :data:`BF16_FLAGS` is present, else :data:`AVX2` if ``avx2`` is, else
        :data:`OTHER`.
    """
    if any(f in flags for f in BF16_FLAGS):
        return NATIVE_BF16
    if "avx2" in flags:
        return AVX2
    return OTHER


def parse_proc_cpuinfo(text: str) -> CpuInfo:
    """Model and flags from ``/proc/cpuinfo`` text (the first processor's block; all cores share them here).

    Args:
        text: The file's contents. ``model name`` (x86) or ``Model``/``cpu model`` (other arches) give the
            model; ``flags`` (x86) or ``Features`` (ARM) give the flags.

    Returns:
        The parsed :class:`CpuInfo`; ``model`` is ``"unknown"`` and ``flags`` empty where the text lacks them.
    """
    model, flags = None, None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if model is None and key in ("model name", "cpu model", "model") and not value.strip().isdigit():
            model = value.strip()
        elif flags is None and key in ("flags", "features"):
            flags = frozenset(value.lower().split())
        if model is not None and flags is not None:
            break
    return CpuInfo(model or "unknown", flags or frozenset())


def parse_lscpu(text: str) -> CpuInfo:
    """Model and flags from plain ``lscpu`` output (``Model name:`` and ``Flags:`` lines)."""
    model, flags = "unknown", frozenset[str]()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "model name" and model == "unknown":
            model = value.strip()
        elif key == "flags":
            flags = frozenset(value.lower().split())
    return CpuInfo(model, flags)


def read_cpu(proc: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    """This machine's :class:`CpuInfo`: ``/proc/cpuinfo`` if readable and useful, else ``lscpu``, else unknown."""
    try:
        info = parse_proc_cpuinfo(proc.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        info = CpuInfo("unknown")
    if info.flags and info.model != "unknown":
        return info
    lscpu = shutil.which("lscpu")
    if lscpu:
        try:
            out = subprocess.run([lscpu], capture_output=True, text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        alt = parse_lscpu(out)
        if alt.flags or alt.model != "unknown":
            return CpuInfo(alt.model if alt.model != "unknown" else info.model, alt.flags or info.flags)
    return info


def matmul_gflops(dtype: object, n: int = 512, seconds: float = 0.3, device: str = "cpu") -> float:
    """Measured GFLOP/s of an ``n x n @ n x n`` matmul in ``dtype`` (best of repeated timings).

    Args:
        dtype: Operand ``torch.dtype`` (e.g. ``torch.float32``, ``torch.bfloat16``).
        n: Matrix size (512 is large enough to reach the kernel's steady rate on a CPU core or two).
        seconds: Rough time budget for the timed repetitions (at least 3 are always timed).
        device: ``cpu`` or ``cuda``.
    """
    import torch  # lazily: parsing the CPU's flags must not need torch

    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    a @ b  # warm-up: kernel selection, page faults
    sync()
    best = float("inf")
    deadline = time.perf_counter() + seconds
    reps = 0
    while reps < 3 or (time.perf_counter() < deadline and reps < 50):
        t = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - t)
        reps += 1
    return 2 * n**3 / max(best, 1e-12) / 1e9


def matmul_rates(n: int = 512, seconds: float = 0.3, device: str = "cpu") -> dict[str, float]:
    """fp32 and bf16 matmul GFLOP/s (keys ``fp32``, ``bf16``); bf16 is slow where it is emulated."""
    import torch

    return {
        "fp32": matmul_gflops(torch.float32, n, seconds, device),
        "bf16": matmul_gflops(torch.bfloat16, n, seconds, device),
    }

"""CPU class detection from /proc/cpuinfo and lscpu text, and the matmul rate helper."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from honeybee.utils import cpuinfo
from honeybee.utils.cpuinfo import (
    AVX2,
    NATIVE_BF16,
    OTHER,
    CpuInfo,
    classify,
    matmul_gflops,
    matmul_rates,
    parse_lscpu,
    parse_proc_cpuinfo,
    read_cpu,
)

# Trimmed real blocks: an AMD EPYC Zen 3 (AVX2, no AVX-512) and a Sapphire Rapids Xeon (AVX-512-BF16 + AMX).
EPYC_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme de pse tsc msr sse sse2 ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 bmi2 sha_ni

processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme de pse tsc msr sse sse2 ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 bmi2 sha_ni
"""
XEON_AMX = """processor\t: 0
vendor_id\t: GenuineIntel
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse2 fma avx avx2 avx512f avx512bw avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8
"""
EPYC_BF16_ONLY = "model name\t: AMD EPYC 9B14\nflags\t\t: avx2 avx512f AVX512_BF16\n"
LSCPU = """Architecture:            x86_64
Model name:              AMD EPYC 7B13
  Thread(s) per core:    2
Flags:                   fpu sse2 fma avx avx2 bmi2
"""


def test_parse_avx2_epyc() -> None:
    info = parse_proc_cpuinfo(EPYC_AVX2)
    assert info.model == "AMD EPYC 7B13"  # the "model : 1" line is a number, not the name
    assert {"avx2", "fma"} <= info.flags and "avx512f" not in info.flags
    assert info.hw_class == AVX2
    assert info.shown_flags()["avx2"] and not info.shown_flags()["amx_bf16"]
    assert "[avx2]" in info.summary() and "-avx512_bf16" in info.summary()


def test_parse_native_bf16_xeon() -> None:
    info = parse_proc_cpuinfo(XEON_AMX)
    assert info.model.startswith("Intel(R) Xeon(R) Platinum 8481C")
    assert info.hw_class == NATIVE_BF16
    assert all(info.shown_flags()[f] for f in ("avx512_bf16", "amx_bf16", "amx_tile", "avx512f"))


def test_avx512_bf16_alone_is_native_and_flags_are_lowercased() -> None:
    assert parse_proc_cpuinfo(EPYC_BF16_ONLY).hw_class == NATIVE_BF16


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"avx2", "amx_bf16"}, NATIVE_BF16),
        ({"avx2", "avx512f"}, AVX2),  # AVX-512 without its bf16 extension still emulates bf16
        ({"sse2", "neon"}, OTHER),
        (set(), OTHER),
    ],
)
def test_classify(flags: set[str], expected: str) -> None:
    assert classify(flags) == expected


def test_parse_empty_and_arm_text() -> None:
    assert parse_proc_cpuinfo("") == CpuInfo("unknown")
    arm = parse_proc_cpuinfo("processor\t: 0\nFeatures\t: fp asimd bf16\nCPU part\t: 0xd40\n")
    assert arm.hw_class == OTHER and "asimd" in arm.flags


def test_parse_lscpu() -> None:
    info = parse_lscpu(LSCPU)
    assert info.model == "AMD EPYC 7B13" and info.hw_class == AVX2


def test_read_cpu_falls_back_to_lscpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpuinfo.shutil, "which", lambda name: "/usr/bin/lscpu")
    monkeypatch.setattr(
        cpuinfo.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=LSCPU)
    )
    info = read_cpu(tmp_path / "missing")
    assert info.model == "AMD EPYC 7B13" and info.hw_class == AVX2
    proc = tmp_path / "cpuinfo"
    proc.write_text(XEON_AMX)
    assert read_cpu(proc).hw_class == NATIVE_BF16  # a useful file wins over lscpu


def test_read_cpu_without_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpuinfo.shutil, "which", lambda name: None)
    assert read_cpu(tmp_path / "missing") == CpuInfo("unknown")


def test_read_cpu_on_this_machine() -> None:
    assert read_cpu().hw_class in (NATIVE_BF16, AVX2, OTHER)


def test_matmul_rates_are_positive_on_a_tiny_size() -> None:
    assert matmul_gflops(torch.float32, 32, 0.01) > 0
    rates = matmul_rates(n=32, seconds=0.01)
    assert set(rates) == {"fp32", "bf16"} and all(v > 0 for v in rates.values())

"""Table of tokens/s, peak GPU memory and MFU for finished train.py run folders (used by gpu_smoke.sh).

MFU = achieved model FLOP/s / (peak FLOP/s per device x devices). Model FLOPs per trained token follow the usual
dense-transformer count: 6N for a full finetune (forward 2N, backward 4N), 4N with LoRA (the frozen base needs
activation gradients, 2N, but no weight gradients; the adapter's own FLOPs are negligible), N = total parameters.
Attention's sequence-length term is left out, so MFU is slightly understated for long sequences.

    python experiments/smoke_report.py RUN_DIR [RUN_DIR ...] [--peak-tflops 989]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# Dense bf16 peak TFLOP/s per GPU (no sparsity), by a substring of torch.cuda.get_device_name().
PEAK_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10": 125.0,
    "4090": 165.0,
    "V100": 125.0,
}


def detect_peak_tflops() -> float | None:
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        name = torch.cuda.get_device_name(0)
    except (ImportError, RuntimeError):  # no torch / broken CUDA: fall back to --peak-tflops
        return None
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def run_row(run_dir: Path, peak_tflops: float | None) -> dict[str, Any]:
    """Numbers of one run folder (``run_info.json`` + ``summary.json`` + ``config.yaml``)."""
    import yaml

    info = json.loads((run_dir / "run_info.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    thr = summary.get("throughput") or {}
    tps = thr.get("tokens_per_s")
    world = int(thr.get("world_size") or 1)
    total = int(info["parameters"]["total"])
    lora = bool(cfg["lora"]["enabled"])
    flops_per_token = (4 if lora else 6) * total
    mfu = tps * flops_per_token / (peak_tflops * 1e12 * world) if tps and peak_tflops else None
    strategy = cfg["strategy"]["name"] + (
        f" ZeRO-{cfg['strategy']['stage']}" if cfg["strategy"]["name"] == "deepspeed" else ""
    )
    if cfg["strategy"].get("offload_optimizer"):
        strategy += " offload"
    return {
        "run": run_dir.name,
        "model": cfg["model"]["name"],
        "strategy": strategy,
        "devices": world,
        "precision": str(cfg["trainer"]["precision"]),
        "tokens_per_s": tps,
        "peak_gpu_mem_gib": thr.get("peak_gpu_mem_gib"),
        "mfu": mfu,
    }


def fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument(
        "--peak-tflops", type=float, default=None, help="per-device peak (default: detect the GPU)"
    )
    a = ap.parse_args(argv)
    peak = a.peak_tflops or detect_peak_tflops()
    rows = []
    for d in a.runs:
        if not (d / "summary.json").is_file():
            print(f"smoke_report: error: {d}: no summary.json (did the run finish?)", file=sys.stderr)
            return 2
        rows.append(run_row(d, peak))
    print(f"peak per device: {fmt(peak, '.0f')} TFLOP/s\n")
    print("| run | model | strategy | devices | precision | tokens/s | peak GPU mem (GiB) | MFU |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['run']} | {r['model']} | {r['strategy']} | {r['devices']} | {r['precision']} | "
            f"{fmt(r['tokens_per_s'], ',.0f')} | {fmt(r['peak_gpu_mem_gib'], '.2f')} | {fmt(r['mfu'], '.3f')} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scaling on CPU: tokens/s of 1 vs 2 data-parallel processes, and each DeepSpeed ZeRO stage vs plain DDP.

Every side is the real ``train.py`` path on the tiny Llama (LoRA r8, the embedded materials facts), launched as
its own process with a fixed number of optimizer steps; throughput is the TrainingStats callback's steady-state
figure (first batches excluded, all ranks summed) read from ``summary.json``. Sides alternate within each round
so machine noise hits all alike; the median over rounds is reported.

The ratio of a ZeRO stage to DDP is DeepSpeed's framework overhead at equal work (same processes, batches and
model). On CPU, ZeRO only adds communication and bookkeeping (nothing is short of memory), so this measures
its cost, not its benefit; on GPUs ZeRO buys memory (bigger models / micro-batches) with that cost.

    python experiments/bench/scaling.py [--rounds 2] [--steps 30] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SIDES = {
    "1 process": ["trainer.devices=1"],
    "2 processes, DDP (gloo)": ["trainer.devices=2", "strategy=ddp"],
    "2 processes, ZeRO-2": ["trainer.devices=2", "strategy=deepspeed_stage2"],
    "2 processes, ZeRO-3": ["trainer.devices=2", "strategy=deepspeed_stage3"],
    "2 processes, ZeRO-3 + offload": ["trainer.devices=2", "strategy=deepspeed_stage3_offload"],
}


def run_side(args: list[str], steps: int, batch_size: int, hidden: int, out: Path) -> dict:
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "model=tiny_llama",
        f"model.hidden_size={hidden}",
        "heldout_check.enabled=false",
        "callbacks.progress_bar.refresh_rate=0",
        "callbacks.model_checkpoint=null",
        "callbacks.early_stopping=null",
        "callbacks.last_checkpoint=null",
        "trainer.limit_val_batches=0",
        "trainer.accelerator=cpu",
        "trainer.precision=32-true",
        f"trainer.max_steps={steps}",
        f"data.batch_size={batch_size}",
        "lora.dropout=0.0",
        *args,
        f"hydra.run.dir={out}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    t0 = time.perf_counter()
    p = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, env=env, timeout=1200)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{p.stderr[-3000:]}")
    thr = json.loads((out / "summary.json").read_text())["throughput"]
    return {"tokens_per_s": thr["tokens_per_s"], "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=8, help="micro-batch per process")
    ap.add_argument(
        "--hidden", type=int, default=128, help="tiny model width (wider: compute dominates more)"
    )
    ap.add_argument("--sides", nargs="*", default=list(SIDES), help="subset of: " + ", ".join(SIDES))
    a = ap.parse_args()
    results: dict[str, list[dict]] = {s: [] for s in a.sides}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            order = a.sides if r % 2 == 0 else list(reversed(a.sides))
            for side in order:
                res = run_side(
                    SIDES[side],
                    a.steps,
                    a.batch_size,
                    a.hidden,
                    Path(tmp) / f"{r}-{len(results[side])}-{list(SIDES).index(side)}",
                )
                results[side].append(res)
                print(
                    f"round {r + 1}: {side:32s} {res['tokens_per_s']:9.0f} tok/s  ({res['wall_s']:.0f} s wall)",
                    flush=True,
                )
    med = {s: statistics.median(x["tokens_per_s"] for x in v) for s, v in results.items()}
    one = med.get("1 process")
    ddp = med.get("2 processes, DDP (gloo)")
    print(
        f"\ntiny Llama hidden={a.hidden}, LoRA r8, micro-batch {a.batch_size}/process, {a.steps} steps, "
        f"{a.rounds} round(s), OMP_NUM_THREADS=1, {os.cpu_count()} cores\n"
    )
    print("| side | median tokens/s | vs 1 process | vs DDP (ZeRO overhead ratio) |")
    print("| --- | --- | --- | --- |")
    for s, v in med.items():
        vs_one = f"{v / one:.2f}" if one else "-"
        vs_ddp = f"{v / ddp:.2f}" if ddp and s not in ("1 process",) else "-"
        print(f"| {s} | {v:,.0f} | {vs_one} | {vs_ddp} |")


if __name__ == "__main__":
    main()

"""Run progressive stages back to back: stage 1, 2, ... N, stopping when the validation score plateaus.

Each stage is a plain `python train.py stage=<k> ...` in its own process (the same command a user would type),
so a stage can also be re-run or resumed by hand. After each stage the driver reads the stage's manifest
(best S_val, improvement over the previous stage) and stops early on a plateau.

    python experiments/progressive.py --stages 3 -- experiment_name=demo_prog trainer.max_epochs=1
    python experiments/progressive.py --stages 3 -- model=tiny_llama experiment_name=smoke trainer.max_steps=20
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def stage_args(k: int) -> list[str]:
    """conf/stage has 1, 2, 3; later stages reuse stage 3's schedule with their own index."""
    return [f"stage={min(k, 3)}"] + ([f"stage.index={k}"] if k > 3 else [])


def stage_folder(overrides: list[str], k: int) -> Path:
    """Where stage k writes, from the composed config (the driver never re-derives the convention)."""
    from honeybee.progressive.stages import compose_train_config, stage_dir

    return stage_dir(compose_train_config(overrides + stage_args(k), cwd=ROOT), k)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", type=int, default=3, help="the most stages to run")
    ap.add_argument("overrides", nargs="*", help="train.py overrides shared by every stage (after --)")
    args = ap.parse_args()

    rows = []
    for k in range(1, args.stages + 1):
        cmd = [sys.executable, str(ROOT / "train.py"), *args.overrides, *stage_args(k)]
        print(f"\n=== stage {k}: {' '.join(cmd[1:])}", flush=True)
        if subprocess.run(cmd, cwd=ROOT).returncode != 0:
            print(f"stage {k} failed; stopping", file=sys.stderr)
            return 1
        manifest = json.loads((stage_folder(args.overrides, k) / "manifest.json").read_text())
        score = manifest["score"]
        rows.append(
            (
                k,
                manifest["parent"]["path"] if manifest["parent"] else "base model",
                manifest["data"]["counts"]["train"],
                score["metric"],
                score["best"],
                score["improvement"],
                score["plateau"],
            )
        )
        if score["plateau"]:
            break

    print(f"\n{'stage':<6}{'train recs':>11}{'metric':>16}{'best':>10}{'gain':>10}  plateau  parent")
    for k, parent, n, metric, best, gain, plateau in rows:
        gain_s = "-" if gain is None else f"{gain:+.4f}"
        print(f"{k:<6}{n:>11}{metric:>16}{best:>10.4f}{gain_s:>10}  {plateau!s:<7}  {parent}")
    if rows and rows[-1][-1]:
        print(f"stopped: stage {rows[-1][0]} did not improve on stage {rows[-1][0] - 1} (plateau)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The MatSci-Instruct loop end to end on CPU: round 1 curation -> stage 1 -> evaluation + round 2 -> stage 2.

SmolLM2-135M-Instruct, served once by ``generate.py serve=true``, plays Instructor, Verifier and Evaluator
(``conf/curate_experiment/smollm2_local.yaml``: tiny sizes, demo keep thresholds). Every step is the plain
command a user would type, in its own process:

    python curate.py curate_experiment=smollm2_local round=1
    python train.py stage=1 stage.extra_train_files=[curation/<exp>/round1/records.jsonl]
    python curate.py curate_experiment=smollm2_local round=2 feedback.stage=<exp>/stage1   # Evaluator + round 2
    python train.py stage=2 stage.extra_train_files=[curation/<exp>/round2/records.jsonl]

    python experiments/curate_loop.py                       # ~10-20 min on 2 CPU cores
    python experiments/curate_loop.py --max-steps 2 --calls 4 -- instructor.max_tokens=128

Re-running repeats no LLM call (the curation cache is kept; ``--fresh`` clears rounds, stages and cache).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from honeybee.generation.launch import served

ROOT = Path(__file__).resolve().parents[1]
SERVED = "smollm2"  # the model name the roles ask the server for (curate_experiment=smollm2_local)


def run(cmd: list[str], env: dict[str, str]) -> float:
    print(f"\n=== {' '.join(cmd[1:])}", flush=True)
    t = time.monotonic()
    if subprocess.run(cmd, check=False, cwd=ROOT, env=env).returncode != 0:
        raise SystemExit(f"step failed: {' '.join(cmd[1:])}")
    return time.monotonic() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment-name", default="curate_demo")
    ap.add_argument("--port", type=int, default=8011)
    ap.add_argument("--calls", type=int, default=6, help="Instructor requests per round")
    ap.add_argument("--max-steps", type=int, default=4, help="training steps per stage")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (server and trainer)")
    ap.add_argument(
        "--fresh", action="store_true", help="delete this experiment's rounds, stages and cache first"
    )
    ap.add_argument("--curation-dir", default=str(ROOT / "curation"), help="where rounds and the cache go")
    ap.add_argument(
        "--log-dir", default=str(ROOT / "outputs"), help="where stages go (train.py paths.log_dir)"
    )
    ap.add_argument("--limit", type=int, default=8, help="stage answers the Evaluator scores")
    ap.add_argument("overrides", nargs="*", help="extra curate.py overrides (after --)")
    args = ap.parse_args()

    exp, py = args.experiment_name, sys.executable
    threads = {"OMP_NUM_THREADS": str(args.threads)}
    env = {**os.environ, **threads}
    cur_dir, out_dir = Path(args.curation_dir) / exp, Path(args.log_dir) / exp
    if args.fresh:
        shutil.rmtree(cur_dir, ignore_errors=True)
        shutil.rmtree(out_dir, ignore_errors=True)
    url = f"http://127.0.0.1:{args.port}/v1"
    roles = [f"{r}.base_url={url}" for r in ("instructor", "verifier", "evaluator")]
    curate = [
        py,
        "curate.py",
        "curate_experiment=smollm2_local",
        f"experiment_name={exp}",
        f"instructor.calls={args.calls}",
        f"curation_dir={args.curation_dir}",
        f"paths.log_dir={args.log_dir}",
        f"feedback.limit={args.limit}",
        "overwrite=true",
        *roles,
        *args.overrides,
    ]
    train = [
        py,
        "train.py",
        f"experiment_name={exp}",
        f"trainer.max_steps={args.max_steps}",
        f"paths.log_dir={args.log_dir}",
        "data.batch_size=4",
        "heldout_check.enabled=false",
        "callbacks.progress_bar.refresh_rate=0",
        "overwrite=true",
    ]

    server = [
        "model=smollm2_135m",
        f"served_model_name={SERVED}",
        "prompt_style=chat",
        "server.max_batch_size=8",
        f"hydra.run.dir={out_dir}/server",
    ]
    t0 = time.monotonic()
    times: dict[str, float] = {}
    rows = []
    with served(server, out_dir / "server.log", port=args.port, env=threads, timeout_s=600):
        times["server start"] = time.monotonic() - t0
        for k in (1, 2):
            extra = [f"feedback.stage={out_dir}/smollm2_135m/stage1"] if k == 2 else []
            times[f"round {k} curation"] = run(curate + [f"round={k}", *extra], env)
            report = json.loads((cur_dir / f"round{k}" / "report.json").read_text())
            rows.append((k, report))
            records = cur_dir / f"round{k}" / "records.jsonl"
            files = f"[{records}]" if report["counts"]["kept"] else "[]"
            if not report["counts"]["kept"]:
                print(f"round {k} kept no record: stage {k} trains on the base data only")
            times[f"stage {k} training"] = run(
                train + [f"stage={k}", f"stage.extra_train_files={files}"], env
            )
    total = time.monotonic() - t0

    print(
        f"\n{'round':<6}{'items':>6}{'targeted':>9}{'generated':>10}{'kept':>6}{'rejected':>9}"
        f"{'paid calls':>11}{'cache hits':>11}{'retries':>8}  instructor answers"
    )
    for k, rep in rows:
        c, calls = rep["counts"], rep["calls"].values()
        paid = sum(s.get("paid_calls", 0) for s in calls)
        hits = sum(s.get("cache_hits", 0) for s in calls)
        retries = sum(s.get("retries", 0) for s in calls)
        print(
            f"{k:<6}{c['work_items']:>6}{c['targeted_items']:>9}{c['generated']:>10}{c['kept']:>6}"
            f"{c['rejected']:>9}{paid:>11}{hits:>11}{retries:>8}  {rep['instructor']}"
        )
        if rep.get("feedback"):
            fb = rep["feedback"]
            print(
                f"      evaluator: stage {fb['stage']} mean {fb['mean_overall']} over {fb['n_scored']} answers; "
                f"weakest: {[w['topic'] for w in fb['weakest']]}"
            )
    for step, s in times.items():
        print(f"{step:<22}{s:>8.1f} s")
    print(f"{'total':<22}{total:>8.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

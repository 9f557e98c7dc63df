"""Curation's local backend: the same prompts one call at a time vs batched through the generation engine.

Both sides are ``curate.py``'s ``local`` backend (``honeybee.curation.backends.LocalBackend``) on one loaded
model (SmolLM2-135M-Instruct, or the random tiny Llama with ``--model tiny``), answering the same
verifier-style chat prompts greedily:

* **one at a time**: ``batch_size: 1`` and ``concurrency: 1``, the backend's behaviour before batching: each
  call generates alone.
* **batched**: ``conf/backend/local.yaml``'s defaults (``batch_size: 8``, ``batch_wait_s: 0.02``, concurrency
  tied to the batch size): ``--batch-size`` callers at once, as ``LLMClient.map`` makes them, gathered by the
  ``PromptBatcher`` into engine batches.

It prints prompts/s for both, the ratio, and whether every answer is identical (greedy batching must change no
answer). Answers stop at EOS as in a real round, so the two sides do exactly the same decoding work per prompt.

    python experiments/bench/curation_local.py [--model smollm2|tiny] [--prompts 16] [--max-tokens 48]
                                               [--batch-size 8] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from omegaconf import OmegaConf

from honeybee.curation.backends import LocalBackend
from honeybee.data.datamodule import prepare_splits

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
MODELS = {"smollm2": ("smollm2_135m", "chat"), "tiny": ("tiny_llama", "alpaca")}
SYSTEM = "You grade instruction-tuning records. Answer with one line: a score from 0 to 100 and a reason."


def messages_for(n: int) -> list[list[dict[str, str]]]:
    """Verifier-style chat prompts built from the materials-facts records (question and reference answer)."""
    data = OmegaConf.load(CONF / "data" / "materials_facts.yaml")
    splits = prepare_splits(data, seed=0)
    records = [*splits["test"], *splits["val"], *splits["train"]][:n]
    if len(records) < n:
        sys.exit(f"--prompts {n}: only {len(records)} materials-facts records")
    return [
        [
            {"role": "system", "content": SYSTEM},
            {
                "role": "user",
                "content": f"Instruction: {r.instruction} {r.input}\nOutput: {r.output}\nScore:",
            },
        ]
        for r in records
    ]


def backend(model: str, batch_size: int, batch_wait_s: float) -> LocalBackend:
    base, style = MODELS[model]
    cfg = {
        "type": "local",
        "base_model": base,
        "prompt_style": style,
        "device": "cpu",
        "batch_size": batch_size,
        "batch_wait_s": batch_wait_s,
    }
    return LocalBackend(OmegaConf.create(cfg), "verifier")


def timed(fn: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(MODELS), default="smollm2")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=48, help="each answer's token budget")
    ap.add_argument("--batch-size", type=int, default=8, help="batched side: prompts per engine batch")
    ap.add_argument("--batch-wait-s", type=float, default=0.02)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    msgs = messages_for(args.prompts)

    alone = backend(args.model, 1, 0.0)
    batched = backend(args.model, args.batch_size, args.batch_wait_s)
    alone.check()
    batched._generator = alone._generator  # one loaded model for both sides: same weights, same kernels
    try:
        # Warm-up: kernel selection and first-call allocations, on both paths.
        alone.complete(msgs[0], 4, 0.0, None)
        batched.complete(msgs[0], 4, 0.0, None)

        one, t_one = timed(lambda: [alone.complete(m, args.max_tokens, 0.0, None) for m in msgs])
        with ThreadPoolExecutor(args.batch_size) as pool:
            many, t_many = timed(
                lambda: list(pool.map(lambda m: batched.complete(m, args.max_tokens, 0.0, None), msgs))
            )
        batches = batched._batcher.batches - 1 if batched._batcher else len(msgs)
    finally:
        alone.close()
        batched.close()

    same = sum(a.text == b.text for a, b in zip(one, many))
    tokens = sum(r.completion_tokens or 0 for r in one)
    name = MODELS[args.model][0]
    print(
        f"{name}, {len(msgs)} verifier-style chat prompts, greedy, max_tokens {args.max_tokens} "
        f"({tokens} tokens generated per side), torch threads {torch.get_num_threads()}"
    )
    rows = [
        ("one at a time (batch_size 1, concurrency 1)", t_one, len(msgs)),
        (f"batched (batch_size {args.batch_size}, {args.batch_size} callers)", t_many, batches),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'side'.ljust(width)}  seconds  prompts/s  engine batches")
    for label, secs, n in rows:
        print(f"{label.ljust(width)}  {secs:7.1f}  {len(msgs) / secs:9.2f}  {n}")
    print(
        f"speed-up: {t_one / t_many:.2f}x; identical answers: {same}/{len(msgs)}"
        f"{'' if same == len(msgs) else ' (DIFFERENT: batching changed greedy answers)'}"
    )
    la = os.getloadavg()
    print(f"load: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} (1/5/15 min)")


if __name__ == "__main__":
    main()

"""Likelihood scoring: honeybee's shared-prefix scorer vs lm-evaluation-harness on the same (prompt, option) pairs.

The pairs are what ``evaluate.py ... scoring=loglikelihood`` scores: DARWIN is-metal / glass-forming records with
their two answer sentences, and MatSci-NLP pc (abstracts, ~270 tokens) and sar (8 labels) records with their
labels, in the alpaca prompt style. Three sides, one loaded model (SmolLM2-135M-Instruct fp32, or the tiny Llama
with ``--model tiny``), each timed in every round, in turn:

* **lm-eval**: ``HFLM.loglikelihood`` (0.4.13): one forward pass per (prompt, option) pair, batched.
* **per context**: honeybee's scorer with the cross-prompt prefix turned off (``MIN_SHARED_PREFIX`` set above any
  prompt): one pass per distinct prompt, its cache copied to the options.
* **honeybee**: ``score_options`` as evaluate.py runs it (a batch's shared prefix once, passes sized by tokens).

It prints the CPU class header, options/s per side and task, the paired speed-ups (median over rounds), and the
largest log-likelihood difference to lm-eval with the share of argmax agreements (both must be ~0 and 100 %).

    python experiments/bench/likelihood.py [--model smollm2|tiny] [--records 64] [--rounds 2] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
MODELS = {"smollm2": "smollm2_135m", "tiny": "tiny_llama"}


def pairs_for(n: int, style: Any) -> dict[str, tuple[list[tuple[str, str]], list[int]]]:
    """Per task: the (prompt, option) pairs of ``n`` records and each record's option count."""
    from honeybee.data.sources import load_records

    darwin = load_records(
        OmegaConf.create(
            {
                "source": "darwin_fair",
                "path": str(DATA / "darwin_fair"),
                "tasks": ["matbench_is_metal", "matbench_glass"],
                "on_bad_record": "error",
            }
        )
    )
    nlp = load_records(
        OmegaConf.create(
            {
                "source": "matsci_nlp",
                "path": str(DATA / "matsci_nlp"),
                "tasks": ["pc", "sar"],
                "split": "test",
                "on_bad_record": "error",
            }
        )
    )
    groups = {
        "darwin (2 answer sentences)": [r for r in darwin if r.meta["task_type"] == "classification"][:n],
        "matsci pc (abstracts, 2 labels)": [r for r in nlp if r.meta["task"] == "pc"][:n],
        "matsci sar (8 labels)": [r for r in nlp if r.meta["task"] == "sar"][:n],
    }
    out = {}
    for name, recs in groups.items():
        pairs, counts = [], []
        for r in recs:
            opts = r.meta.get("options") or r.meta["labels"]
            pairs += [(style.prompt(r.instruction, r.input), o) for o in opts]
            counts.append(len(opts))
        out[name] = (pairs, counts)
    return out


def argmaxes(lls: list[float], counts: list[int]) -> list[int]:
    out, k = [], 0
    for c in counts:
        out.append(max(range(c), key=lambda j: lls[k + j]))
        k += c
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=list(MODELS), default="smollm2")
    ap.add_argument("--records", type=int, default=64, help="records per task")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import honeybee.evaluation.likelihood as L
    from honeybee.data.prompts import PromptStyle
    from honeybee.generation.cpu_kernels import prepack_linears
    from honeybee.model.loading import load_model, load_tokenizer
    from honeybee.utils.cpuinfo import read_cpu

    print(f"CPU: {read_cpu().summary()}")
    cfg = OmegaConf.load(ROOT / "conf" / "model" / f"{MODELS[args.model]}.yaml")
    model, tok = load_model(cfg).eval(), load_tokenizer(cfg)
    prepack_linears(model, args.batch_size, "auto")  # as evaluate.py loads it
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=model, tokenizer=tok, batch_size=args.batch_size, device="cpu")
    tasks = pairs_for(args.records, PromptStyle.from_name("alpaca", tok))
    shared_min = L.MIN_SHARED_PREFIX

    def lm_eval_side(pairs: list[tuple[str, str]]) -> list[float]:
        reqs = [Instance("loglikelihood", {}, p, i) for i, p in enumerate(pairs)]
        return [ll for ll, _ in lm.loglikelihood(reqs, disable_tqdm=True)]

    def per_context(pairs: list[tuple[str, str]]) -> list[float]:
        L.MIN_SHARED_PREFIX = 10**9
        try:
            return [s.loglik for s in L.score_options(model, tok, pairs, args.batch_size)]
        finally:
            L.MIN_SHARED_PREFIX = shared_min

    def honeybee(pairs: list[tuple[str, str]]) -> list[float]:
        return [s.loglik for s in L.score_options(model, tok, pairs, args.batch_size)]

    sides = {"lm-eval (pass per pair)": lm_eval_side, "per context": per_context, "honeybee": honeybee}
    print(
        f"model {MODELS[args.model]} fp32, {args.records} records per task, batch {args.batch_size}, "
        f"{torch.get_num_threads()} threads, {args.rounds} rounds\n"
    )
    print(
        "| task | side | options | median s | options/s | speed-up vs lm-eval | max abs Δ loglik | argmax agree |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    with torch.inference_mode():
        for name, (pairs, counts) in tasks.items():
            times: dict[str, list[float]] = {s: [] for s in sides}
            results: dict[str, list[float]] = {}
            for _ in range(args.rounds):
                for side, fn in sides.items():
                    t = time.perf_counter()
                    results[side] = fn(pairs)
                    times[side].append(time.perf_counter() - t)
            ref = results["lm-eval (pass per pair)"]
            ref_best = argmaxes(ref, counts)
            for side in sides:
                med = statistics.median(times[side])
                ratios = [a / b for a, b in zip(times["lm-eval (pass per pair)"], times[side])]
                diff = max(abs(a - b) for a, b in zip(results[side], ref))
                agree = sum(a == b for a, b in zip(argmaxes(results[side], counts), ref_best)) / len(counts)
                print(
                    f"| {name} | {side} | {len(pairs)} | {med:.2f} | {len(pairs) / med:.1f} | "
                    f"{statistics.median(ratios):.2f}x | {diff:.2e} | {agree:.0%} |"
                )


if __name__ == "__main__":
    main()

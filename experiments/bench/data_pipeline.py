"""Data pipeline on MatSci-Instruct: naive padding vs length grouping vs packing, and the tokenization cache.

For each batching strategy (``data.batching``), over one epoch of the train split:

* useful-token fraction: real (non-pad) tokens / tokens in the batches (rows x width);
* loss-token fraction: scored tokens / tokens in the batches;
* training speed of the tiny Llama + LoRA r8: real tokens per second (an epoch holds the same real tokens
  whatever the batching, so speed ratios are inverse epoch-time ratios). Each side trains on ``--steps``
  batches spread evenly over its epoch, from the same initial weights. Steps are interleaved (pad, grouped,
  packed, then grouped, packed, pad, ...) so every side runs under the same machine load; each step's best
  and median time over ``--rounds`` rounds are reported.

Then preprocessing (tokenizing the split through ``datasets``) in a temporary cache: first run vs cached run.
Targets: packing >= 0.97 useful tokens; cached preprocessing <= 5% of the first run.

    python experiments/bench/data_pipeline.py [--rounds 5] [--steps 8] [--hidden 128] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from omegaconf import OmegaConf

from honeybee.data.batching import BATCHING, make_loader
from honeybee.data.datamodule import prepare_splits, tokenize_split
from honeybee.data.prompts import PromptStyle
from honeybee.data.tokenize import IGNORE_INDEX
from honeybee.model.loading import load_model, load_tokenizer
from honeybee.model.lora import apply_lora
from honeybee.model.loss import causal_lm_loss

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("HONEYBEE_SHARED_DATA", ROOT.parent / "shared" / "data"))
DATA = SHARED_DATA / "matsci_instruct" / "train_instruction_from_chatgpt.json"


def epoch_counts(batches: list[dict[str, torch.Tensor]]) -> dict[str, float]:
    slots = sum(b["input_ids"].numel() for b in batches)
    real = sum(int(b["attention_mask"].sum()) for b in batches)
    scored = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in batches)
    return {"useful": real / slots, "loss": scored / slots, "steps": len(batches), "real": real}


def make_stepper(model_cfg, lora_cfg) -> Callable[[dict[str, torch.Tensor]], float]:
    """A fresh model (same initial weights every call) + AdamW; the returned function times one step."""
    torch.manual_seed(0)
    model = apply_lora(load_model(model_cfg), lora_cfg).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)

    def step(batch: dict[str, torch.Tensor]) -> float:
        t0 = time.perf_counter()
        loss, _ = causal_lm_loss(model, batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    return step


def preprocess(train, tok, style, max_seq_len: int, train_on_prompt: bool, cache: Path):
    """Tokenize into an empty cache, then again from it; returns items, stats, first and cached seconds."""
    t0 = time.perf_counter()
    items, stats = tokenize_split(train, tok, style, max_seq_len, train_on_prompt, cache)
    first = time.perf_counter() - t0
    cached = []
    for _ in range(3):
        t0 = time.perf_counter()
        items, _ = tokenize_split(train, tok, style, max_seq_len, train_on_prompt, cache)
        cached.append(time.perf_counter() - t0)
    return items, stats, first, statistics.median(cached)


def time_training(model_cfg, lora_cfg, timed: dict[str, list], rounds: int) -> dict[str, dict[str, float]]:
    """Real tokens/s of each side, from each step's best and median time across rounds.

    Per step rather than per round, so a load spike from other processes stays with the one step it hit. The
    best time is the least disturbed estimate of the intrinsic cost (other load only ever adds time), the
    median the typical one. One warm-up round (allocator, kernels) is not counted.
    """
    names = list(timed)
    n_steps = min(len(b) for b in timed.values())
    times: dict[str, list[list[float]]] = {name: [[] for _ in range(n_steps)] for name in names}
    for r in range(rounds + 1):
        steppers = {name: make_stepper(model_cfg, lora_cfg) for name in names}
        for i in range(n_steps if r else 2):
            # Interleaved steps, the first side rotating, so every side runs under the same machine load.
            for name in names[i % len(names) :] + names[: i % len(names)]:
                t = steppers[name](timed[name][i])
                if r:
                    times[name][i].append(t)
        if r:
            took = ", ".join(f"{k} {sum(t[-1] for t in v):.2f} s" for k, v in times.items())
            print(f"round {r}/{rounds}: {took}")
    real = {name: sum(int(b["attention_mask"].sum()) for b in timed[name][:n_steps]) for name in names}
    return {
        name: {
            "best": real[name] / sum(min(t) for t in times[name]),
            "median": real[name] / sum(statistics.median(t) for t in times[name]),
        }
        for name in names
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=8, help="timed training steps per side and round")
    ap.add_argument("--batch-size", type=int, default=None, help="default: conf/data/matsci_instruct.yaml")
    ap.add_argument("--max-seq-len", type=int, default=None, help="default: conf/data/matsci_instruct.yaml")
    ap.add_argument("--hidden", type=int, default=128)
    # One thread by default: next to other processes on a few cores, multi-threaded kernels wait on their
    # slowest thread, which made step times swing tenfold between rounds.
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.data.is_file():
        print(f"SKIPPED: MatSci-Instruct not found at {args.data} (--data <path> or $HONEYBEE_SHARED_DATA)")
        return

    warnings.filterwarnings("ignore")
    import datasets

    datasets.disable_progress_bars()
    data_cfg = OmegaConf.load(ROOT / "conf" / "data" / "matsci_instruct.yaml")
    data_cfg.path = str(args.data)
    batch_size = args.batch_size or int(data_cfg.batch_size)
    max_seq_len = args.max_seq_len or int(data_cfg.max_seq_len)
    model_cfg = OmegaConf.load(ROOT / "conf" / "model" / "tiny_llama.yaml")
    model_cfg.hidden_size, model_cfg.intermediate_size = args.hidden, 2 * args.hidden
    model_cfg.max_position_embeddings = max(1024, max_seq_len)
    lora_cfg = OmegaConf.load(ROOT / "conf" / "lora" / "r8.yaml")
    tok = load_tokenizer(model_cfg)
    style = PromptStyle.from_name(str(data_cfg.prompt_style), tok)
    train = prepare_splits(data_cfg, seed=0)["train"]

    with tempfile.TemporaryDirectory() as cache:
        train_on_prompt = bool(data_cfg.train_on_prompt)
        items, stats, first, cached = preprocess(train, tok, style, max_seq_len, train_on_prompt, Path(cache))
        counts, timed = {}, {}
        for name in BATCHING:
            loader = make_loader(items, name, batch_size, tok.pad_token_id, max_seq_len, seed=0, shuffle=True)
            epoch = list(loader)
            counts[name] = epoch_counts(epoch)
            picks = torch.linspace(0, len(epoch) - 1, args.steps).round().long().unique().tolist()
            timed[name] = [epoch[i] for i in picks]
    rate = time_training(model_cfg, lora_cfg, timed, args.rounds)

    print(
        f"\nMatSci-Instruct train split: {len(train)} records, {len(items)} kept at max_seq_len="
        f"{max_seq_len} ({stats.input_truncated} inputs truncated, {stats.dropped_too_long} dropped); "
        f"batch {batch_size}; "
        f"tiny Llama hidden={args.hidden} + LoRA r8; {len(timed['pad'])} steps x {args.rounds} rounds; "
        f"torch threads={torch.get_num_threads()}"
    )
    header = (
        f"{'batching':<16}{'useful tok':>11}{'loss tok':>10}{'steps/epoch':>13}{'tok/s best':>12}"
        f"{'median':>9}{'vs pad':>8}{'epoch s':>9}"
    )
    print(header + "\n" + "-" * len(header))
    for name in BATCHING:
        c, best = counts[name], rate[name]["best"]
        print(
            f"{name:<16}{c['useful']:>11.3f}{c['loss']:>10.3f}{c['steps']:>13d}{best:>12,.0f}"
            f"{rate[name]['median']:>9,.0f}{best / rate['pad']['best']:>8.2f}{c['real'] / best:>9.1f}"
        )
    print("(vs pad and epoch s use the best step times; every strategy has the same real tokens per epoch)")
    print(
        f"\npreprocessing ({len(train)} records): first run {first:.2f} s, cached {cached:.3f} s "
        f"({100 * cached / first:.1f}% of the first)"
    )
    useful_ok = counts["packed"]["useful"] >= 0.97
    cache_ok = cached <= 0.05 * first
    print(
        f"targets: packing useful tokens >= 0.97: {'PASS' if useful_ok else 'FAIL'}; "
        f"cached preprocessing <= 5% of the first run: {'PASS' if cache_ok else 'FAIL'}"
    )


if __name__ == "__main__":
    main()

"""Data pipeline on MatSci-Instruct: naive padding vs length grouping vs packing, and the tokenization cache.

For each batching strategy (``data.batching``), over one epoch of the train split:

* useful-token fraction: real (non-pad) tokens / tokens in the batches (rows x width);
* loss-token fraction: scored tokens / tokens in the batches;
* training speed of the tiny Llama + LoRA r8 (real tokens per second; an epoch holds the same real tokens
  whatever the batching, so the ratio of these is the inverse ratio of epoch times). Each side trains on ``--steps`` batches spread evenly over
  its epoch, from the same initial weights; rounds alternate (pad, grouped, packed, pad, ...) so machine noise
  hits all sides alike, and the median is reported.

Then preprocessing (tokenizing the split through ``datasets``) in a temporary cache: first run vs cached run.
Targets: packing >= 0.97 useful tokens; cached preprocessing <= 5% of the first run.

    python experiments/bench/data_pipeline.py [--rounds 3] [--steps 12] [--hidden 128]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from omegaconf import OmegaConf  # noqa: E402

from honeybee.data.datamodule import BATCHING, make_loader, prepare_splits, tokenize_split  # noqa: E402
from honeybee.data.prompts import PromptStyle  # noqa: E402
from honeybee.data.tokenize import IGNORE_INDEX  # noqa: E402
from honeybee.model.loading import load_model, load_tokenizer  # noqa: E402
from honeybee.model.lora import apply_lora  # noqa: E402
from honeybee.training.loss import causal_lm_loss  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("HONEYBEE_SHARED_DATA", ROOT.parent / "shared" / "data"))
DATA = SHARED_DATA / "matsci_instruct" / "train_instruction_from_chatgpt.json"


def epoch_counts(batches: list[dict[str, torch.Tensor]]) -> dict[str, float]:
    slots = sum(b["input_ids"].numel() for b in batches)
    real = sum(int(b["attention_mask"].sum()) for b in batches)
    scored = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in batches)
    return {"useful": real / slots, "loss": scored / slots, "steps": len(batches), "real": real, "scored": scored}


def train_seconds(model_cfg, lora_cfg, batches: list[dict[str, torch.Tensor]]) -> float:
    """AdamW steps with honeybee's loss from fixed initial weights; returns seconds for all batches."""
    torch.manual_seed(0)
    model = apply_lora(load_model(model_cfg), lora_cfg).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-4)
    t0 = time.perf_counter()
    for b in batches:
        loss, _ = causal_lm_loss(model, b)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=12, help="timed training steps per side and round")
    ap.add_argument("--batch-size", type=int, default=None, help="default: conf/data/matsci_instruct.yaml")
    ap.add_argument("--max-seq-len", type=int, default=None, help="default: conf/data/matsci_instruct.yaml")
    ap.add_argument("--hidden", type=int, default=128)
    args = ap.parse_args()
    if not args.data.is_file():
        print(f"SKIPPED: MatSci-Instruct not found at {args.data} (pass --data <train_instruction_from_chatgpt.json>)")
        return

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
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
        t0 = time.perf_counter()
        items, stats = tokenize_split(train, tok, style, max_seq_len, bool(data_cfg.train_on_prompt), Path(cache))
        first = time.perf_counter() - t0
        cached_times = []
        for _ in range(3):
            t0 = time.perf_counter()
            items, _ = tokenize_split(train, tok, style, max_seq_len, bool(data_cfg.train_on_prompt), Path(cache))
            cached_times.append(time.perf_counter() - t0)
        cached = statistics.median(cached_times)

        counts, timed = {}, {}
        for name in BATCHING:
            epoch = list(make_loader(items, name, batch_size, tok.pad_token_id, max_seq_len, seed=0, shuffle=True))
            counts[name] = epoch_counts(epoch)
            picks = torch.linspace(0, len(epoch) - 1, args.steps).round().long().unique().tolist()
            timed[name] = [epoch[i] for i in picks]

    rates: dict[str, list[float]] = {name: [] for name in BATCHING}
    for name in BATCHING:  # warm-up: allocator, kernels
        train_seconds(model_cfg, lora_cfg, timed[name][:2])
    for r in range(args.rounds):
        for name in BATCHING:
            real = sum(int(b["attention_mask"].sum()) for b in timed[name])
            rates[name].append(real / train_seconds(model_cfg, lora_cfg, timed[name]))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:,.0f} tok/s" for k, v in rates.items()))

    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"\nMatSci-Instruct train split: {len(train)} records, {len(items)} kept at max_seq_len={max_seq_len} "
          f"({stats.input_truncated} inputs truncated, {stats.dropped_too_long} dropped); batch {batch_size}; "
          f"tiny Llama hidden={args.hidden} + LoRA r8; {len(timed['pad'])} steps x {args.rounds} rounds; "
          f"torch threads={torch.get_num_threads()}")
    header = f"{'batching':<16}{'useful tok':>11}{'loss tok':>10}{'steps/epoch':>13}{'tok/s':>9}{'vs pad':>8}{'epoch s':>9}"
    print(header)
    print("-" * len(header))
    for name in BATCHING:
        c = counts[name]
        print(f"{name:<16}{c['useful']:>11.3f}{c['loss']:>10.3f}{c['steps']:>13d}{med[name]:>9,.0f}"
              f"{med[name] / med['pad']:>8.2f}{c['real'] / med[name]:>9.1f}")
    print(f"\npreprocessing (tokenize {len(train)} records): first run {first:.2f} s, cached {cached:.3f} s "
          f"({100 * cached / first:.1f}% of first)")
    useful_ok = counts["packed"]["useful"] >= 0.97
    cache_ok = cached <= 0.05 * first
    print(f"targets: packing useful tokens >= 0.97: {'PASS' if useful_ok else 'FAIL'}; "
          f"cached preprocessing <= 5% of first run: {'PASS' if cache_ok else 'FAIL'}")


if __name__ == "__main__":
    main()

"""Framework overhead: honeybee's training step vs a plain PyTorch + PEFT loop, interleaved in one run.

Both sides train the same tiny Llama + LoRA on the same batches (the embedded materials-facts data) with the same
AdamW + warmup/cosine schedule and gradient clipping. Rounds alternate (plain, honeybee, plain, ...) so machine
noise hits both alike; the median tokens/s of each side is reported with the ratio.

honeybee runs its real path: Lightning Trainer + CausalLMModule + the TrainingStats callback. Two honeybee
variants are timed: with the model's own full-vocabulary loss (pure framework overhead, target ratio >= 0.97)
and with its default selective LM-head loss.

    python experiments/bench/train_overhead.py [--rounds 5] [--steps 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from omegaconf import OmegaConf

from honeybee.data.collate import pad_collate
from honeybee.data.datamodule import prepare_splits
from honeybee.data.prompts import PromptStyle
from honeybee.data.tokenize import tokenize_record
from honeybee.model.loading import load_model, load_tokenizer
from honeybee.model.lora import apply_lora
from honeybee.training.module import CausalLMModule, warmup_cosine

CONF = Path(__file__).resolve().parents[2] / "conf"
OPTIM = {"lr": 2e-4, "weight_decay": 0.0, "warmup_steps": 3, "min_lr_ratio": 0.1}


def make_batches(tok, n_steps: int, batch_size: int) -> list[dict[str, torch.Tensor]]:
    data = OmegaConf.load(CONF / "data" / "materials_facts.yaml")
    data.templates_per_property = 4
    recs = prepare_splits(data, seed=0)["train"]
    style = PromptStyle.from_name("alpaca")
    items = [t for r in recs if (t := tokenize_record(r, tok, style, 256)) is not None]
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(items), generator=g).tolist()
    collate = partial(pad_collate, pad_id=tok.pad_token_id)
    batches = []
    for s in range(n_steps):
        idx = [order[(s * batch_size + i) % len(order)] for i in range(batch_size)]
        batches.append(collate([items[i] for i in idx]))
    return batches


def fresh_model(model_cfg, lora_cfg):
    torch.manual_seed(0)
    return apply_lora(load_model(model_cfg), lora_cfg)


def plain_loop(model, batches) -> float:
    """The baseline a user would write: model(..., labels) loss, AdamW, clipping, LambdaLR; returns seconds."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=OPTIM["lr"], weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(3, len(batches), 0.1))
    t0 = time.perf_counter()
    for b in batches:
        loss = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


class _StepTimer:
    """Times from the first training batch to the end of the last (excludes Trainer setup/teardown)."""

    def __new__(cls):
        import lightning as L

        class T(L.Callback):
            t0 = t1 = None

            def on_train_batch_start(self, *a):
                if self.t0 is None:
                    self.t0 = time.perf_counter()

            def on_train_batch_end(self, *a):
                self.t1 = time.perf_counter()

        return T()


def honeybee_loop(model, batches, selective: bool) -> float:
    import lightning as L
    from torch.utils.data import DataLoader

    from honeybee.training.callbacks import TrainingStats

    timer = _StepTimer()
    module = CausalLMModule(model, OPTIM, selective_loss=selective)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=len(batches),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=1.0,
        num_sanity_val_steps=0,
        callbacks=[TrainingStats(), timer],
        log_every_n_steps=5,
    )
    loader = DataLoader(batches, batch_size=None, shuffle=False)
    trainer.fit(module, train_dataloaders=loader)
    return timer.t1 - timer.t0  # from the first batch's start to the last batch's end: all steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    model_cfg = OmegaConf.load(CONF / "model" / "tiny_llama.yaml")
    model_cfg.hidden_size, model_cfg.intermediate_size = args.hidden, 2 * args.hidden
    lora_cfg = OmegaConf.load(CONF / "lora" / "r8.yaml")
    tok = load_tokenizer(model_cfg)
    batches = make_batches(tok, args.steps, args.batch_size)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)

    rates: dict[str, list[float]] = {"plain": [], "honeybee (model loss)": [], "honeybee (default)": []}
    honeybee_loop(fresh_model(model_cfg, lora_cfg), batches[:3], True)  # warm-up: imports, allocator, kernels
    plain_loop(fresh_model(model_cfg, lora_cfg), batches[:3])
    for r in range(args.rounds):
        rates["plain"].append(tokens / plain_loop(fresh_model(model_cfg, lora_cfg), batches))
        rates["honeybee (model loss)"].append(
            tokens / honeybee_loop(fresh_model(model_cfg, lora_cfg), batches, False)
        )
        rates["honeybee (default)"].append(
            tokens / honeybee_loop(fresh_model(model_cfg, lora_cfg), batches, True)
        )
        print(
            f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:,.0f} tok/s" for k, v in rates.items())
        )

    med = {k: statistics.median(v) for k, v in rates.items()}
    # Paired per-round ratios: each honeybee round is compared with the plain round run just before it, so
    # slow drifts of the machine (other load, thermals) cancel; their median is the headline figure.
    paired = {k: statistics.median(a / b for a, b in zip(v, rates["plain"])) for k, v in rates.items()}
    print(
        f"\ntiny Llama hidden={args.hidden}, LoRA r8 q/v, batch {args.batch_size}, {args.steps} steps x "
        f"{args.rounds} rounds, torch threads={torch.get_num_threads()}"
    )
    print(f"{'side':<24}{'median tok/s':>14}{'paired ratio vs plain':>24}")
    for k, v in med.items():
        print(f"{k:<24}{v:>14,.0f}{paired[k]:>24.3f}")


if __name__ == "__main__":
    main()

"""Training throughput on real data: honeybee's training path vs a plain PyTorch + PEFT fp32 loop.

The work (issue 8): SmolLM2-135M-Instruct, LoRA r=8 on q_proj/v_proj, the real MatSci-Instruct file, the same
records (the first ``--records`` of the fixed train split, or all with ``--full-epoch``), the same
``max_seq_len`` and truncation policy (honeybee's tokenizer path for both), and the same fixed validation
records (the first ``--val-records`` of the val split).

* **baseline**: the loop a user would write, in this file: PEFT ``get_peft_model``, naive right padding of
  ``--batch-size`` records in split order, the model's own full-vocabulary loss, fp32, AdamW + warmup/cosine,
  gradient clipping. Its validation loss is the token-mean of the model's own loss.
* **honeybee**: the objects ``train.py`` builds (Hydra-composed ``conf/train.yaml`` with its defaults,
  ``InstructionDataModule``, ``CausalLMModule``, the Lightning ``Trainer`` with the configured callbacks and
  checkpoints), plus ``--hb`` overrides for the levers being compared. Its validation loss is the ``val/loss``
  its Trainer logs at the end of the epoch (token-weighted; equal to the model's loss, tests/training).

Each side runs in its own subprocess, alternating (baseline, honeybee, baseline, ...), so machine drift hits
both alike; the headline is the median of per-round paired time ratios. Timed: the training epoch only (first
batch to last optimizer step; for honeybee this includes Lightning, the data loader and any compile time),
not model loading or validation. Each round also measures the machine's fp32 and bf16 matmul GFLOP/s.

Hardware class: the output starts (and the table is headed) with the CPU model, its class and bf16/AMX flags
(``honeybee.utils.cpuinfo``) and its fp32/bf16 matmul GFLOP/s, and ends with PASS/MISS against the class's
target (``TARGET_SPEEDUP``: native bf16 >= 2.5x, AVX2-only >= 1.6x, validation loss within 2 %).

Floor: the model FLOPs the useful work needs (per real token: 2N forward + 2N backward input-grads through the
frozen weights, N = backbone linear weights; the LM head 2HV + 2HV only at positions whose label carries loss;
causal attention within each record), divided by the measured fp32 matmul rate. A side's fraction of the
floor is floor time / its time. LoRA's own FLOPs (<0.5 %) are left out.

    python experiments/bench/throughput.py                          # 24 records, 2 rounds (~7 min on 2 quiet cores)
    python experiments/bench/throughput.py --full-epoch --rounds 1  # all 2,077 train records (hours on CPU)
    python experiments/bench/throughput.py --hb data.batching=length_grouped   # compare a lever
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
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CONF = ROOT / "conf"
DATA = Path(os.environ.get("HONEYBEE_SHARED_DATA", ROOT.parent / "shared" / "data"))
MATSCI = DATA / "matsci_instruct" / "train_instruction_from_chatgpt.json"
# honeybee's best settings on this kind of machine (see README "Performance"); --hb appends to / overrides them.
HB_BEST = ["data.batching=packed", "data.batch_size=2", "selective_loss=true", "trainer.precision=auto"]
# Dense bf16 peak TFLOP/s for MFU (no sparsity).
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}


def compose(args: argparse.Namespace, out_dir: str, extra: list[str]) -> Any:
    """``conf/train.yaml`` composed as ``train.py`` would, for the benchmark's model/data and ``extra``."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    overrides = [
        f"model={args.model}",
        "data=matsci_instruct",
        f"data.path={args.data}",
        "heldout_check.enabled=false",
        "callbacks.progress_bar.refresh_rate=0",
        f"paths.output_dir={out_dir}",
        f"paths.root_dir={ROOT}",
        f"data.max_seq_len={args.max_seq_len}",
        *extra,
    ]
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return hydra_compose("train", overrides=overrides)


def bench_splits(cfg: Any, args: argparse.Namespace) -> dict[str, list[Any]]:
    """The fixed records both sides use: a prefix of the seeded train split and of the val split."""
    from honeybee.data.datamodule import prepare_splits

    splits = prepare_splits(cfg.data, int(cfg.seed))
    n = len(splits["train"]) if args.full_epoch else args.records
    return {"train": splits["train"][:n], "val": splits["val"][: args.val_records], "test": []}


def model_dims(model: Any) -> dict[str, int]:
    """Backbone linear weight count N (frozen base, no LoRA, no embeddings/head), hidden size, vocab, layers."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    # PEFT keeps the frozen weight in ``<name>.base_layer`` (an nn.Linear); the lora_A/lora_B adapters are skipped.
    n_body = sum(
        m.weight.numel()
        for name, m in base.model.layers.named_modules()
        if isinstance(m, torch.nn.Linear) and "lora_" not in name
    )
    c = base.config
    return {
        "n_body": int(n_body),
        "hidden": int(c.hidden_size),
        "vocab": int(c.vocab_size),
        "layers": int(c.num_hidden_layers),
    }


def row_stats(batch: dict[str, Any], head_everywhere: bool) -> dict[str, int]:
    """Work one batch costs: real tokens, computed positions, LM-head positions, causal attention pairs."""
    ids, labels = batch["input_ids"], batch["labels"]
    mask = batch.get("attention_mask")
    real = int(mask.sum()) if mask is not None else int(ids.numel())
    width = int(ids.shape[1])
    scored = int((labels[:, 1:] != -100).sum())
    return {
        "real_tokens": real,
        "positions": int(ids.numel()),
        "scored": scored,
        "head_positions": int(ids.numel()) if head_everywhere else scored,
        "attn_pairs": int(ids.shape[0]) * width * (width + 1) // 2,
    }


def add(acc: dict[str, int], d: dict[str, int]) -> None:
    for k, v in d.items():
        acc[k] = acc.get(k, 0) + v


def useful_work(items: list[dict[str, list[int]]]) -> dict[str, int]:
    """The work the records need, whatever the batching: real tokens, scored positions, per-record attention."""
    n = [len(x["input_ids"]) for x in items]
    scored = sum(sum(1 for t in x["labels"][1:] if t != -100) for x in items)
    return {
        "real_tokens": sum(n),
        "positions": sum(n),
        "scored": scored,
        "head_positions": scored,
        "attn_pairs": sum(k * (k + 1) // 2 for k in n),
    }


def flops(work: dict[str, int], dims: dict[str, int]) -> float:
    """Model FLOPs of forward + backward (input-grads only: the base is frozen) for ``work``."""
    linear = 4 * dims["n_body"] * work["positions"]
    head = 4 * dims["hidden"] * dims["vocab"] * work["head_positions"]
    # QK^T and AV: 4*d FLOPs per causal pair per layer forward; backward ~2x forward.
    attn = 12 * dims["hidden"] * dims["layers"] * work["attn_pairs"]
    return float(linear + head + attn)


def device_name() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def token_items(cfg: Any, tokenizer: Any, records: list[Any]) -> list[dict[str, list[int]]]:
    from honeybee.data.prompts import PromptStyle
    from honeybee.data.tokenize import tokenize_record

    style = PromptStyle.from_name(str(cfg.data.prompt_style), tokenizer)
    out = [
        tokenize_record(r, tokenizer, style, int(cfg.data.max_seq_len), bool(cfg.data.train_on_prompt))
        for r in records
    ]
    return [x for x in out if x is not None]


def run_baseline(args: argparse.Namespace) -> dict[str, Any]:
    """The plain PyTorch + PEFT fp32 loop (naive right padding, the model's own full-vocabulary loss)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from honeybee.data.collate import pad_collate
    from honeybee.model.loading import load_model, load_tokenizer, resolve_model_path
    from honeybee.training.module import warmup_cosine

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose(args, tmp, [])
    splits = bench_splits(cfg, args)
    path = resolve_model_path(cfg.model)
    tok = load_tokenizer(cfg.model, path)
    torch.manual_seed(int(cfg.seed))
    base = load_model(cfg.model, path)
    lc = cfg.lora
    model = get_peft_model(
        base,
        LoraConfig(
            r=int(lc.r),
            lora_alpha=lc.alpha,
            lora_dropout=float(lc.dropout),
            target_modules=list(lc.target_modules),
            task_type="CAUSAL_LM",
        ),
    )
    dev = device_name()
    model.to(dev).train()
    train, val = token_items(cfg, tok, splits["train"]), token_items(cfg, tok, splits["val"])
    bs = args.batch_size
    params = [p for p in model.parameters() if p.requires_grad]
    o = cfg.optim
    steps = -(-len(train) // bs)
    opt = torch.optim.AdamW(params, lr=float(o.lr), betas=tuple(o.betas), eps=float(o.eps), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, warmup_cosine(round(float(o.warmup_ratio) * steps), steps, float(o.min_lr_ratio))
    )
    work: dict[str, int] = {}
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, len(train), bs):
        b = pad_collate(train[i : i + bs], tok.pad_token_id)
        add(work, row_stats(b, head_everywhere=True))
        b = {k: v.to(dev) for k, v in b.items()}
        loss = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, float(cfg.trainer.gradient_clip_val))
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    sync()
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(val), 8):
            b = {k: v.to(dev) for k, v in pad_collate(val[i : i + 8], tok.pad_token_id).items()}
            n = int((b["labels"][:, 1:] != -100).sum())
            total += float(model(**b).loss) * n
            count += n
    return {
        "side": "baseline",
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "val_loss": total / count,
        "records": len(train),
        "steps": steps,
        "work": work,
        "useful": useful_work(train),
        "dims": model_dims(model),
        "precision": "32-true",
        "settings": f"pad, batch {bs}, model loss",
    }


def run_honeybee(args: argparse.Namespace) -> dict[str, Any]:
    """honeybee's training path (the objects ``train.py`` builds) with ``HB_BEST`` + ``--hb`` overrides."""
    import lightning as L
    from hydra.utils import instantiate
    from omegaconf import OmegaConf, open_dict

    from honeybee.config.validate import validate_train_config
    from honeybee.data.datamodule import InstructionDataModule
    from honeybee.model.loading import load_model, load_tokenizer, resolve_model_path
    from honeybee.model.lora import apply_lora
    from honeybee.training.hardware import apply_hardware
    from honeybee.training.module import CausalLMModule
    from honeybee.training.precision import resolve_precision
    from honeybee.training.strategies import build_strategy
    from honeybee.training.task import instantiate_callbacks

    # Later overrides win (Hydra refuses the same key twice on one command line).
    merged = {
        o.split("=", 1)[0]: o for o in [*HB_BEST, *args.hb, *(args.variant.split() if args.variant else [])]
    }
    overrides = list(merged.values())

    class EpochTimer(L.Callback):
        """First training batch to the start of the end-of-epoch validation; counts the work each batch costs."""

        def __init__(self) -> None:
            self.t0: float | None = None
            self.t1: float | None = None
            self.work: dict[str, int] = {}

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if self.t0 is None:
                self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            add(self.work, row_stats(batch, head_everywhere=not module.selective_loss))
            self.t1, self.c1 = time.perf_counter(), time.process_time()

    with tempfile.TemporaryDirectory() as out:
        cfg = compose(args, out, overrides)
        validate_train_config(cfg)
        apply_hardware(cfg)
        precision, info = resolve_precision(cfg.trainer.precision, cfg.trainer.get("accelerator", "auto"))
        with open_dict(cfg):
            cfg.trainer.precision = precision
        L.seed_everything(int(cfg.seed), workers=True, verbose=False)
        splits = bench_splits(cfg, args)
        path = resolve_model_path(cfg.model)
        tok = load_tokenizer(cfg.model, path)
        model = apply_lora(load_model(cfg.model, path), cfg.lora)
        model.train()
        if cfg.hardware.get("gradient_checkpointing"):
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()
        dm = InstructionDataModule(cfg.data, tok, splits, int(cfg.seed), out)
        module = CausalLMModule(
            model, OmegaConf.to_container(cfg.optim, resolve=True), bool(cfg.selective_loss)
        )
        timer = EpochTimer()
        trainer = instantiate(
            cfg.trainer,
            callbacks=[*instantiate_callbacks(cfg), timer],
            logger=False,
            strategy=build_strategy(cfg.strategy),
            enable_model_summary=False,
        )
        trainer.fit(module, datamodule=dm)
        val_loss = float(trainer.callback_metrics["val/loss"])
        items = [dm.tokenized["train"][i] for i in range(len(dm.tokenized["train"]))]
        settings = ", ".join(o.split(".")[-1] for o in overrides)
        return {
            "side": "honeybee",
            "seconds": timer.t1 - timer.t0,
            "cpu_seconds": timer.c1 - timer.c0,
            "val_loss": val_loss,
            "records": len(items),
            "steps": int(trainer.global_step),
            "work": timer.work,
            "useful": useful_work(items),
            "dims": model_dims(model),
            "precision": precision,
            "precision_info": info,
            "settings": settings,
        }


def worker(args: argparse.Namespace) -> None:
    import logging
    import warnings

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING)
    res = run_baseline(args) if args.worker == "baseline" else run_honeybee(args)
    res["threads"] = torch.get_num_threads()
    print("RESULT " + json.dumps(res), flush=True)


def probe_gflops() -> dict[str, float]:
    from honeybee.utils.cpuinfo import matmul_rates

    return matmul_rates(1024, 1.0, device_name())


# The target per hardware class: honeybee's epoch time vs the plain fp32 loop's (README "Performance").
TARGET_SPEEDUP = {"native-bf16": 2.5, "avx2": 1.6}
VAL_LOSS_TOLERANCE = 0.02


def hardware_header() -> str:
    """The CPU's model, class and bf16/AMX flags, and its fp32/bf16 matmul GFLOP/s (1024^3, 1 s each)."""
    import torch

    from honeybee.utils.cpuinfo import read_cpu

    cpu = read_cpu()
    g = probe_gflops()
    gpu = f"; GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (
        f"CPU: {cpu.model}; class {cpu.hw_class}; flags: "
        + " ".join(f"{f}={'yes' if on else 'no'}" for f, on in cpu.shown_flags().items())
        + f"{gpu}\nmatmul 1024^3 ({device_name()}, torch threads {torch.get_num_threads()}): "
        f"fp32 {g['fp32']:.1f} GFLOP/s, bf16 {g['bf16']:.1f} GFLOP/s (bf16/fp32 {g['bf16'] / g['fp32']:.2f})"
    )


def verdict(hw_class: str, speedup: float, val_rel: float) -> str:
    """PASS/MISS against the target of ``hw_class`` (speed-up at validation loss within 2 %)."""
    target = TARGET_SPEEDUP.get(hw_class)
    if target is None:
        return f"no target for class {hw_class!r} (targets: native-bf16 >= 2.5x, avx2 >= 1.6x)"
    ok = speedup >= target and abs(val_rel) <= VAL_LOSS_TOLERANCE
    return (
        f"{'PASS' if ok else 'MISS'} ({hw_class} target: >= {target}x at val loss within "
        f"{100 * VAL_LOSS_TOLERANCE:.0f} %; measured {speedup:.3f}x, {100 * val_rel:+.2f} %)"
    )


def spawn(args: argparse.Namespace, side: str, variant: str | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:])
    if "--compare" in argv:  # the variants are the parent's business; a worker runs one of them
        i = argv.index("--compare")
        j = next((k for k in range(i + 1, len(argv)) if argv[k].startswith("--")), len(argv))
        del argv[i:j]
    cmd = [sys.executable, __file__, "--worker", side, *argv, *(["--variant", variant] if variant else [])]
    p = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if p.returncode or line is None:
        sys.exit(f"{side} run failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    print(f"  {line}", flush=True)  # the raw numbers, so a table can be re-derived from the log
    return json.loads(line[len("RESULT ") :])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=24, help="train records per side (a prefix of the split)")
    ap.add_argument("--full-epoch", action="store_true", help="all train records (one full epoch)")
    ap.add_argument(
        "--val-records", type=int, default=16, help="fixed validation records (prefix of val split)"
    )
    ap.add_argument("--rounds", type=int, default=2, help="baseline/honeybee pairs, alternating")
    ap.add_argument(
        "--batch-size", type=int, default=4, help="baseline records per step (matsci_instruct default)"
    )
    ap.add_argument("--max-seq-len", type=int, default=512)
    ap.add_argument("--model", default="smollm2_135m")
    ap.add_argument("--data", default=str(MATSCI))
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--hb", nargs="*", default=[], help="extra Hydra overrides for the honeybee side")
    ap.add_argument(
        "--peak-tflops", type=float, default=None, help="GPU bf16 peak for MFU (default: by name)"
    )
    ap.add_argument(
        "--compare",
        nargs="*",
        default=[],
        help="extra honeybee variants, each one quoted string of overrides, e.g. "
        "'data.batching=length_grouped data.batch_size=4'; each runs every round",
    )
    ap.add_argument("--worker", choices=["baseline", "honeybee"], help=argparse.SUPPRESS)
    ap.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if not Path(args.data).is_file():
        sys.exit(
            f"--data {args.data}: no such file (the real MatSci-Instruct file; see ../shared/data/README)"
        )

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(hardware_header(), flush=True)
    print(f"load at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min)", flush=True)
    rounds: list[dict[str, Any]] = []
    for r in range(args.rounds):
        g = probe_gflops()
        base = spawn(args, "baseline")
        hb = spawn(args, "honeybee")
        alts = {f"variant {i + 1}": spawn(args, "honeybee", v) for i, v in enumerate(args.compare)}
        g2 = probe_gflops()
        rounds.append(
            {"gflops": {k: (g[k] + g2[k]) / 2 for k in g}, "baseline": base, "honeybee": hb, **alts}
        )
        print(
            f"round {r + 1}/{args.rounds}: matmul fp32 {g['fp32']:.0f}/{g2['fp32']:.0f} GFLOP/s, bf16 "
            f"{g['bf16']:.1f}/{g2['bf16']:.1f}; baseline {base['seconds']:.1f}s val {base['val_loss']:.4f}; "
            f"honeybee {hb['seconds']:.1f}s val {hb['val_loss']:.4f}; ratio {base['seconds'] / hb['seconds']:.3f}",
            flush=True,
        )
    report(args, rounds)


def report(args: argparse.Namespace, rounds: list[dict[str, Any]]) -> None:
    import torch

    from honeybee.utils.cpuinfo import read_cpu

    first = rounds[0]
    dims = first["baseline"]["dims"]
    print("\n" + hardware_header())
    fp32 = statistics.median(r["gflops"]["fp32"] for r in rounds)
    bf16 = statistics.median(r["gflops"]["bf16"] for r in rounds)
    floor_flops = flops(first["baseline"]["useful"], dims)
    floor_s = floor_flops / (fp32 * 1e9)
    on_cuda = torch.cuda.is_available()
    peak = args.peak_tflops
    if on_cuda and peak is None:
        name = torch.cuda.get_device_name()
        peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    n_rec = first["baseline"]["records"]
    print(
        f"\n{args.model} + LoRA r8 q/v on MatSci-Instruct: {n_rec} train records, {args.val_records} val records, "
        f"max_seq_len {args.max_seq_len}, {args.rounds} alternating rounds, device {device_name()}, "
        f"torch threads {first['baseline']['threads']}"
    )
    print(
        f"matmul (1024^3, median of probes): fp32 {fp32:.1f} GFLOP/s, bf16 {bf16:.1f} GFLOP/s "
        f"(bf16/fp32 {bf16 / fp32:.2f}); honeybee precision: {first['honeybee']['precision']}"
    )
    print(
        f"useful work: {first['baseline']['useful']['real_tokens']:,} real tokens, "
        f"{first['baseline']['useful']['scored']:,} carry loss; floor {floor_flops / 1e12:.2f} TFLOP = "
        f"{floor_s:.1f} s at the fp32 matmul rate"
    )
    header = (
        "side",
        "settings",
        "median s",
        "paired speedup",
        "CPU-s speedup",
        "tok/s",
        "val loss",
        "useful tok frac",
        "executed TFLOP",
        "frac of floor",
    )
    rows = []
    sides = [k for k in first if k not in ("gflops",)]
    for side in sides:
        runs = [r[side] for r in rounds]
        sec = statistics.median(x["seconds"] for x in runs)
        speed = statistics.median(r["baseline"]["seconds"] / r[side]["seconds"] for r in rounds)
        cpu = statistics.median(r["baseline"]["cpu_seconds"] / r[side]["cpu_seconds"] for r in rounds)
        w = runs[0]["work"]
        row = [
            side,
            runs[0]["settings"],
            f"{sec:.1f}",
            f"{speed:.3f}",
            f"{cpu:.3f}",
            f"{runs[0]['useful']['real_tokens'] / sec:,.0f}",
            f"{statistics.median(x['val_loss'] for x in runs):.4f}",
            f"{w['real_tokens'] / w['positions']:.3f}",
            f"{flops(w, dims) / 1e12:.2f}",
            f"{floor_s / sec:.3f}",
        ]
        if on_cuda and peak:
            row.append(f"MFU {flops(w, dims) / sec / (peak * 1e12):.3f}")
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in (header, *rows):
        print("  ".join(str(x).ljust(n) for x, n in zip(row, widths)))
    ratios = [r["baseline"]["seconds"] / r["honeybee"]["seconds"] for r in rounds]
    vb = statistics.median(r["baseline"]["val_loss"] for r in rounds)
    vh = statistics.median(r["honeybee"]["val_loss"] for r in rounds)
    print(
        f"\nspeedup (median of paired baseline/honeybee time ratios): {statistics.median(ratios):.3f}x "
        f"(rounds: {', '.join(f'{x:.3f}' for x in ratios)})"
    )
    print(
        f"val loss: honeybee {vh:.4f} vs baseline {vb:.4f} ({100 * (vh - vb) / vb:+.2f} %; target within 2 %)"
    )
    hw_class = "gpu" if on_cuda else read_cpu().hw_class
    print(f"target: {verdict(hw_class, statistics.median(ratios), (vh - vb) / vb)}")
    if not on_cuda:
        print("MFU: unmeasured (no CUDA device; run this script on a GPU machine for bf16/SDPA figures)")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min)")


if __name__ == "__main__":
    main()

"""Check a composed config before any heavy work, reporting every problem at once (in one line)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from honeybee.utils.errors import ConfigError
from honeybee.utils.rules import SEED_MAX, Num, number_problems

PRECISIONS = {
    "auto",
    "32-true",
    "32",
    "bf16-mixed",
    "bf16-true",
    "16-mixed",
    "16-true",
    "64-true",
    "transformer-engine",
}
STRATEGIES = {"auto", "ddp", "deepspeed"}

_COUNT = Num(1, integer=True)
# Every numeric key of conf/train.yaml and its groups' options (tests/config/test_config_values.py walks the
# composed configs and fails on a numeric key missing here). required=False: only some options define it.
TRAIN_RULES: dict[str, Num] = {
    "seed": Num(0, SEED_MAX, integer=True),
    "optim.lr": Num(0, 1, above=True),
    "optim.weight_decay": Num(0, 10),
    "optim.eps": Num(0, 1, above=True, below=True),
    "optim.warmup_ratio": Num(0, 1, below=True),
    "optim.warmup_steps": Num(0, integer=True, nullable=True),
    "optim.min_lr_ratio": Num(0, 1),
    "data.max_seq_len": Num(8, 1_048_576, integer=True),
    "data.batch_size": Num(1, 65536, integer=True),
    "data.num_workers": Num(0, 256, integer=True, required=False),
    "data.pad_to_multiple_of": Num(1, 4096, integer=True, nullable=True, required=False),
    "data.val_fraction": Num(0, 1, below=True),
    "data.test_fraction": Num(0, 1, below=True),
    "data.split_seed": Num(0, SEED_MAX, integer=True),
    "data.templates_per_property": Num(1, 4, integer=True, required=False),
    "data.template_seed": Num(integer=True, hi=math.inf, required=False, note="any integer"),
    "data.verifier.min_mean": Num(0, 100, required=False),
    "data.verifier.min_each": Num(0, 100, required=False),
    "data.total": Num(1, integer=True, nullable=True, required=False),
    "data.mixture_seed": Num(0, SEED_MAX, integer=True, nullable=True, required=False),
    "data.components.*.weight": Num(0, 10**6),
    "data.components.*.cap": Num(1, integer=True, nullable=True, required=False),
    "data.components.*.templates_per_property": Num(1, 4, integer=True, required=False),
    "data.components.*.template_seed": Num(integer=True, hi=math.inf, required=False, note="any integer"),
    "data.components.*.split_seed": Num(0, SEED_MAX, integer=True, required=False),
    "trainer.max_epochs": Num(1, 10**6, integer=True, also=(-1,), nullable=True, note="-1: no limit"),
    "trainer.max_steps": Num(1, integer=True, also=(-1,), note="-1: no limit"),
    "trainer.min_epochs": Num(0, 10**6, integer=True, nullable=True, required=False),
    "trainer.accumulate_grad_batches": Num(1, 65536, integer=True),
    "trainer.gradient_clip_val": Num(0, 10**6, nullable=True),
    "trainer.val_check_interval": Num(fraction_or_count=True, nullable=True),
    "trainer.limit_train_batches": Num(fraction_or_count=True, also=(0,), nullable=True, required=False),
    "trainer.limit_val_batches": Num(fraction_or_count=True, also=(0,), nullable=True, required=False),
    "trainer.overfit_batches": Num(fraction_or_count=True, also=(0,), required=False),
    "trainer.check_val_every_n_epoch": Num(1, 10**6, integer=True, nullable=True),
    "trainer.num_sanity_val_steps": Num(0, 10**6, integer=True, also=(-1,)),
    "trainer.log_every_n_steps": Num(1, 10**6, integer=True),
    "trainer.devices": Num(1, 4096, integer=True, also=(-1,), strings=("auto",), int_lists=True),
    "trainer.num_nodes": Num(1, 4096, integer=True),
    "callbacks.model_checkpoint.save_top_k": Num(-1, 1000, integer=True, required=False),
    "callbacks.last_checkpoint.save_top_k": Num(-1, 1000, integer=True, required=False),
    "callbacks.last_checkpoint.every_n_train_steps": Num(1, integer=True, nullable=True, required=False),
    "callbacks.early_stopping.min_delta": Num(0, 10**6, required=False),
    "callbacks.progress_bar.refresh_rate": Num(0, 10**6, integer=True, required=False),
    "hardware.nodes": Num(1, 4096, integer=True, required=False),
    "hardware.gpus_per_node": Num(0, 1024, integer=True, required=False),  # 0: CPU
    "hardware.global_batch_size": Num(1, integer=True, nullable=True, required=False),
    "hardware.micro_batch_size": Num(1, 65536, integer=True, nullable=True, required=False),
    "heldout_check.max_records": Num(1, 10**6, integer=True),
    "heldout_check.max_new_tokens": Num(1, 10**6, integer=True),
    "heldout_check.batch_size": Num(1, 65536, integer=True),
    "score.max_records": Num(1, 10**6, integer=True),
    "score.max_new_tokens": Num(1, 10**6, integer=True),
    "score.min_delta": Num(-(10**6), 10**6, note="< 0: a slightly worse stage still counts as progress"),
    "score.patience": Num(1, 10**6, integer=True),
    "stage.index": Num(1, 10**4, integer=True),
    "model.hidden_size": Num(1, 65536, integer=True, required=False),
    "model.num_layers": Num(1, 1024, integer=True, required=False),
    "model.num_heads": Num(1, 1024, integer=True, required=False),
    "model.num_kv_heads": Num(1, 1024, integer=True, required=False),
    "model.intermediate_size": Num(1, 10**6, integer=True, required=False),
    "model.vocab_size": Num(
        260, 10**7, integer=True, required=False, note="the byte-level tokenizer needs 260"
    ),
    "model.init_seed": Num(0, SEED_MAX, integer=True, required=False),
    "model.initializer_range": Num(0, 10, above=True, required=False),
    "strategy.stage": Num(0, 3, integer=True, required=False),
    "strategy.allgather_bucket_size": Num(1, 10**12, integer=True, required=False),
    "strategy.reduce_bucket_size": Num(1, 10**12, integer=True, required=False),
}
LORA_RULES: dict[str, Num] = {
    "lora.r": Num(1, 65536, integer=True, note="lora=none for a full finetune"),
    "lora.alpha": Num(0, 10**6, above=True),
    "lora.dropout": Num(0, 1, below=True),
}


def _fine(p: list[str], *keys: str) -> bool:
    """None of ``keys`` has a problem yet (cross-key checks only run on values that passed their rules)."""
    return not any(problem.startswith(k) for problem in p for k in keys)


def train_config_problems(cfg: Any) -> list[str]:
    """Return human-readable problems with a training config (empty when it is usable)."""
    from honeybee.data.prompts import PromptStyle

    p: list[str] = number_problems(cfg, TRAIN_RULES)
    lora, data, trainer = cfg.lora, cfg.data, cfg.trainer
    if lora.get("enabled"):
        p += number_problems(cfg, LORA_RULES)
        if not lora.get("target_modules"):
            p.append("lora.target_modules is empty")
    if _fine(p, "data.val_fraction", "data.test_fraction") and data.val_fraction + data.test_fraction >= 1:
        p.append(
            f"data.val_fraction + data.test_fraction = {data.val_fraction + data.test_fraction:g} must be < 1"
        )
    model = cfg.model
    dims = ("model.hidden_size", "model.num_heads", "model.num_kv_heads")
    tiny = model.get("source") == "tiny" and _fine(p, *dims)
    if tiny and (model.hidden_size % model.num_heads or model.num_heads % model.num_kv_heads):
        p.append(
            f"model.hidden_size={model.hidden_size} must be a multiple of model.num_heads={model.num_heads}, "
            f"and that of model.num_kv_heads={model.num_kv_heads}"
        )
    if str(data.get("prompt_style")) not in PromptStyle.registry:
        p.append(
            f"data.prompt_style={data.get('prompt_style')!r} is not one of: {', '.join(sorted(PromptStyle.registry))}"
        )
    if str(data.get("batching") or "pad") not in ("pad", "length_grouped", "packed"):
        p.append(f"data.batching={data.batching!r} is not one of: pad, length_grouped, packed")
    if str(trainer.precision) not in PRECISIONS:
        p.append(f"trainer.precision={trainer.precision!r} is not one of: {', '.join(sorted(PRECISIONS))}")
    if str(cfg.strategy.name) not in STRATEGIES:
        p.append(f"strategy.name={cfg.strategy.name!r} is not one of: {', '.join(sorted(STRATEGIES))}")
    if str(cfg.stage.get("mode", "continue")) not in ("continue", "merge"):
        p.append(f"stage.mode={cfg.stage.mode!r} is not one of: continue, merge")
    if str(cfg.score.mode) not in ("min", "max"):
        p.append(f"score.mode={cfg.score.mode!r} is not one of: min, max")
    for f in cfg.stage.get("extra_train_files") or []:
        if not Path(str(f)).is_file():
            p.append(f"stage.extra_train_files: data file not found: {f}")
    if str(cfg.model.source) not in ("hub", "gguf_package", "tiny"):
        p.append(f"model.source={cfg.model.source!r} is not one of: hub, gguf_package, tiny")
    ck = cfg.get("ckpt_path")
    if ck not in (None, "last") and not Path(str(ck)).exists():  # a DeepSpeed checkpoint is a folder
        p.append(f"ckpt_path={ck}: no such checkpoint file")
    if str(cfg.data.get("on_bad_record", "error")) not in ("error", "skip"):
        p.append(f"data.on_bad_record={cfg.data.on_bad_record!r} is not one of: error, skip")
    p += quantization_problems(cfg)
    return p


def quantization_problems(cfg: Any) -> list[str]:
    """QLoRA (``model.quantization=4bit``): a LoRA adapter on a frozen bitsandbytes 4-bit base, GPU only."""
    quant = cfg.model.get("quantization")
    if quant in (None, "none"):
        return []
    if quant != "4bit":
        return [f"model.quantization={quant!r} is not one of: null, 4bit"]
    p = []
    strategy = cfg.strategy
    if strategy.name == "deepspeed" and int(strategy.get("stage", 0)) == 3:
        p.append(
            "model.quantization=4bit (QLoRA) cannot run under DeepSpeed ZeRO-3 (strategy=deepspeed_stage3*): "
            "ZeRO-3 shards parameters and cannot partition bitsandbytes 4-bit weights; use "
            "strategy=deepspeed_stage2 or strategy=ddp"
        )
    if not cfg.lora.enabled:
        p.append(
            "model.quantization=4bit (QLoRA) trains a LoRA adapter on frozen 4-bit weights; lora=none cannot"
        )
    from honeybee.training.strategies import wants_cpu

    if wants_cpu(cfg.trainer.get("accelerator")):
        p.append(
            "model.quantization=4bit (QLoRA) needs a CUDA GPU (bitsandbytes 4-bit kernels); "
            f"trainer.accelerator={cfg.trainer.get('accelerator')} runs on CPU"
        )
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        p.append("model.quantization=4bit (QLoRA) needs bitsandbytes: pip install bitsandbytes")
    return p


def validate_train_config(cfg: Any) -> None:
    """Raise one ConfigError listing every problem found."""
    problems = train_config_problems(cfg)
    if problems:
        raise ConfigError("; ".join(problems))

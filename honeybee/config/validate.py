"""Check a composed config before any heavy work, reporting every problem at once (in one line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from honeybee.utils.errors import ConfigError

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


def train_config_problems(cfg: Any) -> list[str]:
    """Return human-readable problems with a training config (empty when it is usable)."""
    from honeybee.data.prompts import PromptStyle

    p: list[str] = []
    lora, data, optim, trainer = cfg.lora, cfg.data, cfg.optim, cfg.trainer
    if lora.enabled:
        if not isinstance(lora.r, int) or lora.r <= 0:
            p.append(f"lora.r={lora.r} must be a positive integer (lora=none for a full finetune)")
        if not (isinstance(lora.alpha, (int, float)) and lora.alpha > 0):
            p.append(f"lora.alpha={lora.alpha} must be > 0")
        if not (0 <= float(lora.dropout) < 1):
            p.append(f"lora.dropout={lora.dropout} must be in [0, 1)")
        if not lora.target_modules:
            p.append("lora.target_modules is empty")
    if not float(optim.lr) > 0:
        p.append(f"optim.lr={optim.lr} must be > 0")
    if not 0 <= float(optim.get("warmup_ratio", 0) or 0) < 1:
        p.append(f"optim.warmup_ratio={optim.warmup_ratio} must be in [0, 1)")
    if int(data.max_seq_len) < 8:
        p.append(f"data.max_seq_len={data.max_seq_len} must be >= 8")
    if int(data.batch_size) < 1:
        p.append(f"data.batch_size={data.batch_size} must be >= 1")
    if data.prompt_style not in PromptStyle.registry:
        p.append(
            f"data.prompt_style={data.prompt_style!r} is not one of: {', '.join(sorted(PromptStyle.registry))}"
        )
    if str(data.get("batching") or "pad") not in ("pad", "length_grouped", "packed"):
        p.append(f"data.batching={data.batching!r} is not one of: pad, length_grouped, packed")
    if int(trainer.accumulate_grad_batches) < 1:
        p.append(f"trainer.accumulate_grad_batches={trainer.accumulate_grad_batches} must be >= 1")
    if str(trainer.precision) not in PRECISIONS:
        p.append(f"trainer.precision={trainer.precision!r} is not one of: {', '.join(sorted(PRECISIONS))}")
    if cfg.strategy.name not in STRATEGIES:
        p.append(f"strategy.name={cfg.strategy.name!r} is not one of: {', '.join(sorted(STRATEGIES))}")
    if int(cfg.stage.index) < 1:
        p.append(f"stage.index={cfg.stage.index} must be >= 1")
    if cfg.stage.get("mode", "continue") not in ("continue", "merge"):
        p.append(f"stage.mode={cfg.stage.mode!r} is not one of: continue, merge")
    if cfg.score.mode not in ("min", "max"):
        p.append(f"score.mode={cfg.score.mode!r} is not one of: min, max")
    for f in cfg.stage.get("extra_train_files") or []:
        if not Path(str(f)).is_file():
            p.append(f"stage.extra_train_files: data file not found: {f}")
    if cfg.model.source not in ("hub", "gguf_package", "tiny"):
        p.append(f"model.source={cfg.model.source!r} is not one of: hub, gguf_package, tiny")
    ck = cfg.get("ckpt_path")
    if ck not in (None, "last") and not Path(str(ck)).exists():  # a DeepSpeed checkpoint is a folder
        p.append(f"ckpt_path={ck}: no such checkpoint file")
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

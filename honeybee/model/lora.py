"""Applying (or not) a LoRA adapter according to ``conf/lora/*.yaml``."""

from __future__ import annotations

from typing import Any

from honeybee.utils.errors import ConfigError


def count_parameters(model: Any) -> tuple[int, int]:
    """Return ``(trainable, total)`` parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def apply_lora(model: Any, cfg: Any) -> Any:
    """Wrap ``model`` in a PEFT LoRA model, or return it fully trainable when ``lora.enabled`` is false."""
    if not cfg.enabled:
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from peft import LoraConfig, get_peft_model

    target = cfg.target_modules
    target = target if isinstance(target, str) else list(target)
    try:
        peft_cfg = LoraConfig(
            r=int(cfg.r),
            lora_alpha=int(cfg.alpha),
            lora_dropout=float(cfg.dropout),
            target_modules=target,
            bias=str(cfg.get("bias", "none")),
            task_type="CAUSAL_LM",
            use_rslora=bool(cfg.get("use_rslora", False)),
        )
        return get_peft_model(model, peft_cfg)
    except ValueError as e:
        raise ConfigError(f"lora: {str(e).splitlines()[0]}") from None

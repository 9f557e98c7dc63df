"""The LightningModule: loss on response tokens, AdamW + warmup/cosine, trainable-only checkpoints."""

from __future__ import annotations

import math
from typing import Any, cast

import lightning as L
import torch

from honeybee.model.loss import causal_lm_loss


def rng_state() -> dict[str, Any]:
    import random

    import numpy as np

    # The legacy tuple form (the default): (kind, keys, pos, has_gauss, cached_gaussian).
    kind, keys, pos, has_gauss, gauss = cast("tuple[str, Any, int, int, float]", np.random.get_state())
    # Plain tensors and numbers only, so checkpoints still load with torch.load(weights_only=True).
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import random

    import numpy as np

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def warmup_cosine(warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0):
    """LambdaLR factor: linear warmup to 1, then cosine decay to ``min_lr_ratio``."""

    def f(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


class CausalLMModule(L.LightningModule):
    """Finetunes a (PEFT-wrapped) causal LM.

    Args:
        model: The model; frozen parameters stay out of the optimizer and out of checkpoints.
        optim: ``lr``, ``weight_decay``, ``betas``, ``eps``, ``warmup_ratio`` or ``warmup_steps``,
            ``min_lr_ratio`` (see ``conf/train.yaml``).
        selective_loss: Project to the vocabulary only at scored positions (same value, less work).
    """

    def __init__(self, model: Any, optim: dict[str, Any], selective_loss: bool = True) -> None:
        super().__init__()
        self.model = model
        self.optim = dict(optim)
        self.selective_loss = selective_loss
        # Checkpoints hold only trainable tensors, so loading must not demand the frozen base.
        self.strict_loading = False

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        return causal_lm_loss(self.model, batch, selective=self.selective_loss)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self(batch)
        bs = batch["input_ids"].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, n = self(batch)
        # Weight by scored tokens so val/loss is the token-mean over the whole split, not a mean of batch means.
        self.log("val/loss", loss, prog_bar=True, batch_size=max(n, 1), sync_dist=True)

    def configure_optimizers(self) -> Any:
        o = self.optim
        params = [p for p in self.model.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": float(o.get("weight_decay", 0.0))}]
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0})
        from honeybee.training.strategies import offloads_optimizer

        hp = {
            "lr": float(o["lr"]),
            "betas": tuple(o.get("betas", (0.9, 0.999))),
            "eps": float(o.get("eps", 1e-8)),
        }
        if offloads_optimizer(self.trainer.strategy):
            # ZeRO-Offload steps the optimizer on the CPU: DeepSpeed's vectorised CPU Adam (a JIT-compiled op,
            # cached in $TORCH_EXTENSIONS_DIR) is several times faster there than torch's AdamW.
            from deepspeed.ops.adam import DeepSpeedCPUAdam

            opt = DeepSpeedCPUAdam(groups, adamw_mode=True, **hp)
        else:
            opt = torch.optim.AdamW(groups, foreach=o.get("foreach"), **hp)
        total = int(self.trainer.estimated_stepping_batches)
        warmup = o.get("warmup_steps")
        warmup = int(warmup) if warmup is not None else round(float(o.get("warmup_ratio", 0.0)) * total)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, warmup_cosine(warmup, total, float(o.get("min_lr_ratio", 0.0)))
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        keep = {f"model.{n}" for n, p in self.model.named_parameters() if p.requires_grad}
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}
        checkpoint["honeybee_trainable_only"] = True
        # Dropout draws from the global RNGs; saving them makes a resumed run draw the same masks.
        checkpoint["honeybee_rng"] = rng_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._rng_to_restore = checkpoint.get("honeybee_rng")
        # Lightning builds the train loader early (estimated_stepping_batches) and then never hands it its saved
        # state; pass the state to the datamodule, which applies it when it builds the loader.
        states = checkpoint.get("loops", {}).get("fit_loop", {}).get("state_dict", {}).get("combined_loader")
        dm = self._trainer.datamodule if self._trainer is not None else None
        if states and dm is not None and hasattr(dm, "resume_state"):
            dm.resume_state = states[0]
            # DeepSpeed restores after setup, when the train loader already exists (built for
            # estimated_stepping_batches while the engine was created): hand it the state directly.
            built = getattr(self._trainer.fit_loop, "_combined_loader", None)
            for loader in built.flattened if built is not None else []:
                if hasattr(loader, "load_state_dict") and hasattr(loader, "progress"):
                    loader.load_state_dict(states[0])
                    dm.resume_state = None

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Restored here, not at load time: creating the DataLoader iterator on resume draws from the global RNG.
        state = getattr(self, "_rng_to_restore", None)
        if state is not None:
            set_rng_state(state)
            self._rng_to_restore = None

"""The training task: what ``python train.py`` runs (config in, optimized metric out)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from honeybee.config.validate import validate_train_config
from honeybee.utils.errors import ConfigError
from honeybee.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

CHOICE_GROUPS = ("model", "lora", "data", "strategy", "stage", "trainer", "logger", "experiment", "debug")


def hydra_choices() -> dict[str, str]:
    """Options picked for each config group in this run (empty outside a Hydra app)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        choices = HydraConfig.get().runtime.choices
        return {g: str(choices[g]) for g in CHOICE_GROUPS if choices.get(g) not in (None, "null")}
    except ValueError:
        return {}


def instantiate_loggers(cfg: DictConfig) -> list[Any]:
    from hydra.utils import instantiate

    loggers = []
    for name, lc in (cfg.get("logger") or {}).items():
        if lc is None or "_target_" not in lc:
            continue
        if name == "wandb":
            tags = list(lc.get("tags") or []) + [f"{g}:{c}" for g, c in hydra_choices().items()]
            logger = instantiate(lc, tags=tags)
        else:
            logger = instantiate(lc)
        loggers.append(logger)
    return loggers


def instantiate_callbacks(cfg: DictConfig) -> list[Any]:
    from hydra.utils import instantiate

    return [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None and "_target_" in c]


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    ck = cfg.get("ckpt_path")
    if ck != "last":
        return ck
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise ConfigError(
            f"ckpt_path=last: no {last}; rerun in the earlier run's folder (hydra.run.dir=<that folder>) "
            "or give ckpt_path=<file.ckpt>"
        )
    return str(last)


def print_table(title: str, rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for h in header:
        table.add_column(h)
    for r in rows:
        table.add_row(*r)
    Console().print(table)


def train(cfg: DictConfig) -> float:
    """Finetune ``cfg.model`` on ``cfg.data`` and export the adapter; returns ``cfg.optimized_metric``.

    Everything that can be checked without the model (config values, data files, records) is checked first,
    so bad input fails in seconds with one line.
    """
    validate_train_config(cfg)
    import lightning as L

    from honeybee.data.datamodule import InstructionDataModule, prepare_splits

    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    splits = prepare_splits(cfg.data, int(cfg.seed))
    ckpt_path = resolve_ckpt_path(cfg)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    from hydra.utils import instantiate

    from honeybee.data.prompts import PromptStyle
    from honeybee.model.export import export_model
    from honeybee.model.loading import load_model, load_tokenizer, resolve_model_path
    from honeybee.model.lora import apply_lora, count_parameters
    from honeybee.training.module import CausalLMModule
    from honeybee.training.strategies import build_strategy
    from honeybee.utils.runinfo import git_commit, versions

    model_path = resolve_model_path(cfg.model)
    tokenizer = load_tokenizer(cfg.model, model_path)
    model = apply_lora(load_model(cfg.model, model_path), cfg.lora)
    model.train()  # from_pretrained returns eval mode; dropout in LoRA layers should be active
    trainable, total = count_parameters(model)
    log.info("parameters: %s trainable / %s total (%.3f%%)", f"{trainable:,}", f"{total:,}", 100 * trainable / total)
    run_info = {"git": git_commit(), "versions": versions(), "model_path": model_path,
                "parameters": {"trainable": trainable, "total": total}, "choices": hydra_choices()}
    atomic_write_json(out / "run_info.json", run_info)

    style = PromptStyle.from_name(str(cfg.data.prompt_style), tokenizer)
    dm = InstructionDataModule(cfg.data, tokenizer, splits, int(cfg.seed), str(out))
    module = CausalLMModule(model, OmegaConf.to_container(cfg.optim, resolve=True), bool(cfg.selective_loss))
    loggers = instantiate_loggers(cfg)
    trainer = instantiate(cfg.trainer, callbacks=instantiate_callbacks(cfg), logger=loggers or False,
                          strategy=build_strategy(cfg.strategy))
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    check = cfg.get("heldout_check") or {}
    do_check = bool(check.get("enabled")) and bool(splits["test"]) and not trainer.fast_dev_run and ckpt_path is None
    if do_check:
        from honeybee.evaluation.heldout import heldout_check

        check_args = dict(max_records=int(check.max_records), max_new_tokens=int(check.max_new_tokens),
                          batch_size=int(check.batch_size))
        before = heldout_check(model, tokenizer, style, splits["test"], int(cfg.data.max_seq_len), **check_args)

    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    dm_stats = {k: v.as_dict() for k, v in dm.stats.items()}

    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if trainer.is_global_zero:
        meta = {
            "prompt_style": str(cfg.data.prompt_style),
            "base_model": {"name": cfg.model.name, "name_or_path": cfg.model.get("name_or_path"),
                           "source": cfg.model.source},
            "lora": OmegaConf.to_container(cfg.lora, resolve=True),
            "stage": int(cfg.stage.index),
            "max_seq_len": int(cfg.data.max_seq_len),
            "data": {"name": cfg.data.name, "path": cfg.data.get("path"), "counts": {k: len(v) for k, v in splits.items()}},
            "git": run_info["git"],
        }
        export_model(module.model, tokenizer, out / ("adapter" if cfg.lora.enabled else "model"), meta)
        summary: dict[str, Any] = {"metrics": metrics, "data": dm_stats, "global_step": trainer.global_step}
        if do_check:
            after = heldout_check(model, tokenizer, style, splits["test"], int(cfg.data.max_seq_len), **check_args)
            summary["heldout"] = {"before": before, "after": after}
            from honeybee.evaluation.heldout import comparison_rows

            print_table(f"held-out test split ({len(splits['test'])} records)", comparison_rows(before, after),
                        ("metric", "before", "after"))
            for lg in loggers:
                lg.log_metrics({"test/loss_before": before["loss"], "test/loss_after": after["loss"]},
                               step=trainer.global_step)
        atomic_write_json(out / "summary.json", summary)
        log.info("run folder: %s", out)

    value = metrics.get(str(cfg.get("optimized_metric", "val/loss")))
    return float(value) if value is not None else math.nan

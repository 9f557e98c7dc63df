"""The training task: what ``python train.py`` runs (config in, optimized metric out)."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from honeybee.config.validate import validate_train_config
from honeybee.training.signals import RunInterrupted, StopSignals, finish_pending
from honeybee.utils.cfg import to_dict
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
            loggers.append(instantiate(lc, tags=tags))
        else:
            loggers.append(instantiate(lc))
    return loggers


def instantiate_callbacks(cfg: DictConfig) -> list[Any]:
    from hydra.utils import instantiate

    return [
        instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None and "_target_" in c
    ]


def print_table(title: str, rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for h in header:
        table.add_column(h)
    for r in rows:
        table.add_row(*r)
    Console().print(table)


def load_stage_records(cfg: DictConfig) -> dict[str, list[Any]]:
    """The data config's splits, plus this stage's extra training files (e.g. a curation round's records).

    Extra files only ever join the train split, so every stage is scored on the same validation/test records.
    """
    from honeybee.data.datamodule import prepare_splits
    from honeybee.data.sources import load_alpaca

    splits = prepare_splits(cfg.data, int(cfg.seed))
    for f in cfg.stage.get("extra_train_files") or []:
        extra = load_alpaca(
            str(f), str(cfg.data.get("on_bad_record", "error")), source=f"stage{cfg.stage.index}"
        )
        log.info("stage %s: +%d train records from %s", cfg.stage.index, len(extra), f)
        splits["train"] = splits["train"] + extra
    return splits


def train(cfg: DictConfig) -> float:
    """Finetune ``cfg.model`` on ``cfg.data`` for stage ``cfg.stage.index`` and export the result.

    Everything that can be checked without the model (config values, data files, records, the parent stage,
    the checkpoint to resume) is checked first, so bad input fails in seconds with one line; what needs the
    model (loading it, records ``max_seq_len`` leaves) is checked before the run writes anything. SIGINT,
    SIGTERM and SIGUSR1 stop it at the next step boundary with a resumable checkpoint
    (``honeybee.training.signals``). Returns ``cfg.optimized_metric`` (the stage's best validation score).
    """
    import sys

    with StopSignals() as signals:
        try:
            return _train(cfg, signals)
        except RunInterrupted as e:
            if not e.printed:
                print(f"honeybee: {e.message}", file=sys.stderr, flush=True)
            import gc

            # The interpreter's last garbage collection walks every object torch and Lightning made (~2.5 s
            # on 2 cores). What the run wrote is on disk already (checkpoints are fsynced, loggers finalized),
            # so skip it: a stopped run exits within a step, inside a scheduler's grace period.
            gc.freeze()
            raise


def _train(cfg: DictConfig, signals: StopSignals) -> float:
    validate_train_config(cfg)
    from honeybee.model.location import check_model_location

    check_model_location(cfg.model)  # a local path that is not there: refused before any other work
    import lightning as L

    from honeybee.progressive.stages import attach_parent, resolve_parent
    from honeybee.training.checkpoints import (
        best_trainable_state,
        check_not_finished,
        resolve_ckpt_path,
        resumed_precision,
    )
    from honeybee.training.hardware import apply_hardware

    hw_plan = apply_hardware(cfg)
    from honeybee.training.tracking import apply_sweep_naming

    sweep_info = apply_sweep_naming(cfg)
    from honeybee.training.precision import resolve_precision

    ckpt_path = resolve_ckpt_path(cfg)
    precision, precision_info = resumed_precision(cfg, ckpt_path) or resolve_precision(
        cfg.trainer.precision, cfg.trainer.get("accelerator", "auto")
    )
    with open_dict(cfg):
        cfg.trainer.precision = precision
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    check_not_finished(cfg, ckpt_path)
    splits = load_stage_records(cfg)
    parent = resolve_parent(cfg)
    out = Path(cfg.paths.output_dir)
    resolved = to_dict(cfg)

    from hydra.utils import instantiate

    from honeybee.data.datamodule import InstructionDataModule
    from honeybee.data.prompts import PromptStyle
    from honeybee.model.export import export_model
    from honeybee.model.loading import load_model, load_tokenizer, resolve_model_path
    from honeybee.model.lora import apply_lora, count_parameters
    from honeybee.progressive.stages import build_manifest, plateau_record, previous_best
    from honeybee.training.checkpoints import AtomicCheckpointIO
    from honeybee.training.module import CausalLMModule
    from honeybee.training.preemption import GracefulStop
    from honeybee.training.strategies import build_strategy
    from honeybee.utils.runinfo import git_commit, versions

    model_path = resolve_model_path(cfg.model)
    tokenizer = load_tokenizer(cfg.model, model_path)
    base = load_model(cfg.model, model_path)
    revision = getattr(base.config, "_commit_hash", None)  # the hub commit, for the manifest
    model = (
        attach_parent(base, parent, str(cfg.stage.mode), cfg.lora) if parent else apply_lora(base, cfg.lora)
    )
    dm = InstructionDataModule(cfg.data, tokenizer, splits, int(cfg.seed), str(out))
    dm.tokenize()  # refuses a train split that max_seq_len empties
    # Every refusal is behind us: from here on the run writes into its folder.
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    model.train()  # from_pretrained returns eval mode; dropout in LoRA layers should be active
    if cfg.hardware.get("gradient_checkpointing"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()  # frozen embeddings: checkpointed blocks still need an input grad
    trainable, total = count_parameters(model)
    log.info(
        "parameters: %s trainable / %s total (%.3f%%)",
        f"{trainable:,}",
        f"{total:,}",
        100 * trainable / total,
    )
    if parent:
        log.info("stage %s starts from %s (mode=%s)", cfg.stage.index, parent, cfg.stage.mode)
    run_info = {
        "git": git_commit(),
        "versions": versions(),
        "model_path": model_path,
        "parameters": {"trainable": trainable, "total": total},
        "choices": hydra_choices(),
        "hardware": hw_plan,
        "sweep": sweep_info,
        "precision": precision_info,
    }
    atomic_write_json(out / "run_info.json", run_info)

    style = PromptStyle.from_name(str(cfg.data.prompt_style), tokenizer)
    module = CausalLMModule(model, to_dict(cfg.optim), bool(cfg.selective_loss))
    from honeybee.training.callbacks import LastStepMetrics

    callbacks = [*instantiate_callbacks(cfg), LastStepMetrics(), GracefulStop(signals)]
    if str(cfg.score.metric) == "val/task_score":
        from honeybee.training.callbacks import ValTaskScore

        callbacks.append(ValTaskScore(int(cfg.score.max_records), int(cfg.score.max_new_tokens)))
    loggers = instantiate_loggers(cfg)
    strategy = build_strategy(cfg.strategy, cfg.trainer.get("accelerator"), cfg.data.batch_size)
    trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        strategy=strategy,
        # DeepSpeed writes its checkpoint folders itself; every other strategy saves through this plugin.
        plugins=[] if str(cfg.strategy.name) == "deepspeed" else [AtomicCheckpointIO()],
    )
    from honeybee.training import tracking

    tracking.log_hyperparams(loggers, cfg, resolved, hw_plan, sweep_info["sweep"])

    check = cfg.get("heldout_check")
    do_check = (
        check is not None
        and bool(check.get("enabled"))
        and bool(splits["test"])
        and not trainer.fast_dev_run
        and ckpt_path is None
    )
    if do_check:
        from honeybee.evaluation.heldout import heldout_check

        check_args = {
            "max_records": int(check.max_records),
            "max_new_tokens": int(check.max_new_tokens),
            "batch_size": int(check.batch_size),
        }
        before = heldout_check(
            model, tokenizer, style, splits["test"], int(cfg.data.max_seq_len), **check_args
        )

    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    finish_pending(signals)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    state, best_ckpt = best_trainable_state(module, trainer)
    best_score = next(
        (
            float(cb.best_model_score)
            for cb in trainer.checkpoint_callbacks
            if getattr(cb, "monitor", None) == cfg.score.metric and cb.best_model_score is not None
        ),
        metrics.get(str(cfg.score.metric)),
    )
    if trainer.is_global_zero:
        from honeybee.model.location import describe_loaded

        run_info["loaded"] = describe_loaded(cfg.model, model_path, revision)
        meta = {
            "prompt_style": str(cfg.data.prompt_style),
            "base_model": {
                "name": cfg.model.name,
                "name_or_path": cfg.model.get("name_or_path"),
                "source": cfg.model.source,
                "loaded": run_info["loaded"],
            },
            "lora": OmegaConf.to_container(cfg.lora, resolve=True),
            "experiment": str(cfg.experiment_name),
            "stage": int(cfg.stage.index),
            "parent": str(parent) if parent else None,
            "max_seq_len": int(cfg.data.max_seq_len),
            "data": {
                "name": cfg.data.name,
                "path": cfg.data.get("path"),
                "counts": {k: len(v) for k, v in splits.items()},
            },
            "git": run_info["git"],
        }
        export_model(module.model, tokenizer, out / ("adapter" if cfg.lora.enabled else "model"), meta, state)
        summary: dict[str, Any] = {
            "metrics": metrics,
            "best_checkpoint": best_ckpt,
            "global_step": trainer.global_step,
            "data": {k: v.as_dict() for k, v in dm.stats.items()},
        }
        from honeybee.training.callbacks import TrainingStats

        stats = next((cb for cb in trainer.callbacks if isinstance(cb, TrainingStats)), None)
        if stats is not None:
            summary["throughput"] = stats.summary(trainer.world_size)
        tracking.log_best(loggers, best_score, str(cfg.score.metric))
        if do_check:
            from honeybee.evaluation.heldout import comparison_rows
            from honeybee.training.strategies import zero_stage

            # Under ZeRO-3 rank 0 holds only shards: check a plain copy of the model carrying the exported weights.
            eval_model = module.model
            if zero_stage(trainer.strategy) == 3:
                eval_model = (
                    attach_parent(load_model(cfg.model, model_path), parent, str(cfg.stage.mode), cfg.lora)
                    if parent
                    else apply_lora(load_model(cfg.model, model_path), cfg.lora)
                )
            eval_model.load_state_dict(state, strict=False)
            after = heldout_check(
                eval_model, tokenizer, style, splits["test"], int(cfg.data.max_seq_len), **check_args
            )
            summary["heldout"] = {"before": before, "after": after}
            rows = comparison_rows(before, after)
            print_table(
                f"held-out test split ({len(splits['test'])} records)", rows, ("metric", "before", "after")
            )
            tracking.log_final_eval(loggers, rows, tracking.heldout_plot(rows, out / "plots" / "heldout.png"))
            for lg in loggers:
                lg.log_metrics(
                    {"test/loss_before": before["loss"], "test/loss_after": after["loss"]},
                    step=trainer.global_step,
                )
        atomic_write_json(out / "summary.json", summary)
        score = {
            "metric": str(cfg.score.metric),
            "mode": str(cfg.score.mode),
            "best": best_score,
            **plateau_record(best_score, previous_best(cfg), str(cfg.score.mode), float(cfg.score.min_delta)),
        }
        counts: dict[str, Any] = {k: len(v) for k, v in splits.items()}
        by_source = {
            k: dict(Counter(str(r.meta.get("mixture_source", r.meta.get("source", "?"))) for r in v))
            for k, v in splits.items()
        }
        counts["by_source"] = by_source
        manifest = build_manifest(cfg, parent, resolved, metrics, score, run_info, counts)
        # Written last: its presence marks the stage as finished for the next stage and the driver.
        atomic_write_json(out / "manifest.json", manifest)
        for stale in out.glob("hpc_ckpt_*.ckpt"):  # a requeued SLURM job's resume points: the run is done
            stale.unlink()
        if score["plateau"]:
            log.info(
                "stage %s: best %s=%.4f did not beat stage %s (%.4f) by %s: plateau",
                cfg.stage.index,
                cfg.score.metric,
                best_score,
                int(cfg.stage.index) - 1,
                score["previous_best"],
                cfg.score.min_delta,
            )
        log.info("run folder: %s", out)

    value = (
        best_score
        if best_score is not None
        else metrics.get(str(cfg.get("optimized_metric", cfg.score.metric)))
    )
    return float(value) if value is not None else math.nan

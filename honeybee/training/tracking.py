"""Experiment tracking for sweeps and ablations: run names from the varied keys, W&B groups/tags, a flat config.

In a multirun every job is its own W&B run (``run_task`` always calls ``wandb.finish()``), named after the keys
the sweep varies (``r16-sciinstruct-s2``), grouped by ``<experiment>/<sweep id>`` and tagged with the varied
``key=value`` pairs, so a W&B workspace can group and filter ablations without parsing names.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from omegaconf import open_dict

from honeybee.utils.cfg import to_dict

log = logging.getLogger(__name__)

# How a varied key appears in a run name; anything else is ``<last key part><value>``.
SHORT = {
    "lora.r": "r{}",
    "lora": "{}",
    "stage": "s{}",
    "stage.index": "s{}",
    "seed": "seed{}",
    "data": "{}",
    "model": "{}",
    "strategy": "{}",
    "hardware": "{}",
    "optim.lr": "lr{}",
    "experiment": "{}",
}
# The keys an ablation view groups and filters by; logged at the top level of the W&B config.
SUMMARY_KEYS = ("model", "lora.r", "data", "stage", "hardware", "strategy", "seed", "experiment")


def swept_keys(argv: list[str]) -> list[str]:
    """Keys a multirun command line varies (``lora.r=8,16``, ``seed=range(3)``, ``data=choice(a,b)``)."""
    keys = []
    for a in argv:
        key, eq, value = a.partition("=")
        if not eq or a.startswith("-") or key.lstrip("+~").startswith("hydra"):
            continue
        v = value.strip()
        depth, top_comma = 0, False
        for ch in v:
            depth += ch in "[{("
            depth -= ch in "]})"
            top_comma |= ch == "," and depth == 0
        if top_comma or v.startswith(("choice(", "range(", "interval(", "glob(")):
            keys.append(key.lstrip("+~"))
    return keys


def _hydra() -> Any | None:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def is_multirun() -> bool:
    from hydra.types import RunMode

    hc = _hydra()
    return hc is not None and hc.mode == RunMode.MULTIRUN


def varied_keys(cfg: Any) -> list[str]:
    """The sweep's varied keys: from the command line (``sweep_keys``) and the sweeper's own ``params``."""
    keys = [str(k) for k in (cfg.get("sweep_keys") or [])]
    hc = _hydra()
    params = (hc.sweeper.get("params") if hc is not None else None) or {}
    keys += [str(k) for k in params if str(k) not in keys]
    return keys


def job_overrides() -> dict[str, str]:
    hc = _hydra()
    out = {}
    for o in hc.overrides.task if hc is not None else []:
        key, _, value = str(o).partition("=")
        out[key.lstrip("+~")] = value.strip("'\"")
    return out


def short_name(key: str, value: str) -> str:
    fmt = SHORT.get(key, key.split(".")[-1] + "{}")
    try:  # sampled floats (Optuna) would make unreadable names: 3 significant digits
        if "." in value or "e" in value.lower():
            value = f"{float(value):.3g}"
    except ValueError:
        pass
    return fmt.format(value)


def sweep_run_name(cfg: Any) -> str | None:
    """``r16-sciinstruct-s2`` for a job whose sweep varies lora.r, data and stage; None outside a sweep."""
    if not is_multirun():
        return None
    ov = job_overrides()
    parts = [short_name(k, ov[k]) for k in varied_keys(cfg) if k in ov]
    return "-".join(parts) or None


def sweep_id() -> str | None:
    hc = _hydra()
    return Path(str(hc.sweep.dir)).name if hc is not None and is_multirun() else None


def apply_sweep_naming(cfg: Any) -> dict[str, Any]:
    """In a multirun, name the run after its varied keys and group W&B runs by ``<experiment>/<sweep id>``.

    Returns the naming facts (also written to ``run_info.json``).
    """
    name, sid, hc = sweep_run_name(cfg), sweep_id(), _hydra()
    info: dict[str, Any] = {
        "run_name": name or str(cfg.run_name),
        "sweep": sid,
        "varied": {k: v for k, v in job_overrides().items() if k in varied_keys(cfg)},
    }
    if sid is None or hc is None:  # sweep_id() is None outside a running Hydra multirun
        return info
    with open_dict(cfg):
        # Without recognisable varied keys (e.g. a sweeper plugin's own params) the job number keeps names unique.
        cfg.run_name = name or f"{cfg.run_name}-job{hc.job.num}"
        wandb = (cfg.get("logger") or {}).get("wandb")
        if wandb is not None:
            wandb.group = f"{cfg.experiment_name}/{sid}"
            wandb.tags = [
                *list(wandb.get("tags") or []),
                f"sweep:{sid}",
                *[f"{k}={v}" for k, v in info["varied"].items()],
            ]
    info["run_name"] = str(cfg.run_name)
    return info


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    else:
        out[prefix[:-1]] = d
    return out


def flat_config(cfg: Any, hw_plan: dict[str, Any] | None, sweep: str | None) -> dict[str, Any]:
    """The W&B run config: ablation keys at the top level plus every resolved value as ``cfg.<dotted key>``.

    A flat dict of scalars is what W&B's run table can show as columns, group by and filter on.
    """
    body = {k: v for k, v in to_dict(cfg).items() if k != "hydra"}
    flat = {f"cfg.{k}": (list(v) if isinstance(v, tuple) else v) for k, v in _flatten(body).items()}
    hw = hw_plan or {}
    summary = {
        "model": str(cfg.model.name),
        "lora.r": int(cfg.lora.r) if cfg.lora.enabled else 0,
        "data": str(cfg.data.name),
        "stage": int(cfg.stage.index),
        "hardware": str(cfg.hardware.get("name", "auto")),
        "strategy": str(cfg.strategy.name)
        + (f"{cfg.strategy.stage}" if cfg.strategy.name == "deepspeed" else ""),
        "seed": int(cfg.seed),
        "experiment": str(cfg.experiment_name),
        "sweep": sweep,
        "global_batch_size": hw.get("global_batch_size"),
        "accumulate_grad_batches": int(cfg.trainer.accumulate_grad_batches),
        "micro_batch_size": int(cfg.data.batch_size),
        "world_size": hw.get("world_size"),
        "lr": float(cfg.optim.lr),
    }
    return {**summary, **flat}


def log_hyperparams(
    loggers: list[Any], cfg: Any, resolved: dict[str, Any], hw_plan: dict[str, Any] | None, sweep: str | None
) -> None:
    """W&B gets the flat config; other loggers (CSV's hparams.yaml, TensorBoard) the nested one."""
    from lightning.pytorch.loggers import WandbLogger

    for lg in loggers:
        lg.log_hyperparams(flat_config(cfg, hw_plan, sweep) if isinstance(lg, WandbLogger) else resolved)


def heldout_plot(rows: list[tuple[str, str, str]], path: Path) -> Path | None:
    """Before/after bars for the held-out check's numeric rows (one panel per metric; scales differ)."""
    vals = []
    for metric, before, after in rows:
        try:
            vals.append((metric, float(before), float(after)))
        except ValueError:
            continue
    vals = [v for v in vals if all(math.isfinite(x) for x in v[1:])]
    if not vals:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(vals), figsize=(2.2 * len(vals), 2.6), squeeze=False)
    for ax, (metric, b, a) in zip(axes[0], vals):
        ax.bar(["before", "after"], [b, a], color=["#999999", "#e0a800"])
        ax.set_title(metric, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def log_final_eval(loggers: list[Any], rows: list[tuple[str, str, str]], plot: Path | None) -> None:
    """Attach the held-out comparison as a W&B table (and plot); every logger gets the best score."""
    from lightning.pytorch.loggers import WandbLogger

    for lg in loggers:
        if isinstance(lg, WandbLogger):
            lg.log_table(
                key="eval/heldout", columns=["metric", "before", "after"], data=[list(r) for r in rows]
            )
            if plot is not None:
                lg.log_image(key="eval/heldout_plot", images=[str(plot)])


def log_best(loggers: list[Any], best: float | None, metric: str) -> None:
    """``score/best``: the stage's best validation score, the number sweeps optimise (same name every run)."""
    from lightning.pytorch.loggers import WandbLogger

    if best is None:
        return
    for lg in loggers:
        if isinstance(lg, WandbLogger):
            lg.experiment.summary["score/best"] = float(best)
            lg.experiment.summary["score/metric"] = metric

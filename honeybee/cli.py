"""The entry points (train.py / generate.py / evaluate.py / curate.py, the honeybee-* console scripts and
``python -m honeybee``) and the plumbing they share.

Bad input must end in one clear line and a non-zero exit, not a traceback: overrides are checked before Hydra
runs (unknown group options, unknown keys), and ``HoneybeeError`` raised by a task is printed as one line.
Set ``HYDRA_FULL_ERROR=1`` to see full tracebacks instead.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from honeybee.utils.cfg import to_dict
from honeybee.utils.errors import HoneybeeError
from honeybee.utils.overrides import group_options, quote_numeric_groups
from honeybee.utils.paths import CONF_DIR
from honeybee.utils.warnings import quiet_known_warnings

log = logging.getLogger("honeybee")


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"honeybee: error: {message}", file=sys.stderr)
    sys.exit(code)


def _split_sweep(value: str) -> list[str]:
    v = value.strip()
    for fn in ("choice(", "range("):
        if v.startswith(fn) and v.endswith(")"):
            v = v[len(fn) : -1]
    return [x.strip().strip("'\"") for x in v.split(",") if x.strip()]


def check_overrides(argv: list[str], config_name: str, conf_dir: Path = CONF_DIR) -> tuple[str | None, Any]:
    """Return ``(problem, composed config)``: a one-line problem with the overrides (or None), and the config.

    Group options are checked against the files in ``conf/``; everything else (unknown keys, type errors) by
    composing the config with Hydra's compose API, which is cheap (no task code runs). Multiruns are checked
    for group options only (their sweeps are expanded by Hydra), and get no config back.
    """
    multirun = any(a in ("-m", "--multirun") for a in argv)
    overrides = [a for a in argv if "=" in a and not a.startswith("-")]
    for ov in overrides:
        key, _, value = ov.lstrip("+~").partition("=")
        if key.startswith("hydra"):
            continue
        # `backend@verifier=x` picks an option of group `backend` placed at `verifier`
        options = group_options(conf_dir, key.split("@")[0])
        if options is None or value in ("null", ""):
            continue
        for opt in _split_sweep(value) if multirun else [value.strip("'\"")]:
            if opt not in options:
                return f"unknown option {opt!r} for {key}= (choose from: {', '.join(options)})", None
    if multirun:
        return None, None
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
            cfg = compose(
                config_name, overrides=[o for o in overrides if not o.lstrip("+~").startswith("hydra")]
            )
    except (HydraException, OmegaConfBaseException, ValueError) as e:
        # Hydra's messages put the what on line 1 and the why (e.g. "Key 'x' is not in struct") on line 2.
        lines = [
            ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.strip().startswith("full_key")
        ]
        return " ".join(lines[:2]) or type(e).__name__, None
    return None, cfg


def stage_overrides(cfg: Any) -> list[str]:
    """The overrides an experiment declares for the chosen stage (``stage_overrides.<N>``), e.g. its data.

    This is how one experiment file gives each progressive stage its own data source and schedule (DARWIN 1.5:
    QA data in stage 1, FAIR tasks in stage 2) while ``python train.py experiment=x stage=N`` stays one command.
    """
    table = cfg.get("stage_overrides") if cfg is not None else None
    if not table or "stage" not in cfg:
        return []
    # Unresolved: interpolations such as ${paths.shared_data_dir} are Hydra's to resolve inside the run.
    raw = to_dict(table, resolve=False)
    return [str(o) for o in (raw.get(str(cfg.stage.index)) or [])]


def precheck(config_name: str, name_sweeps: bool = False) -> None:
    """Validate ``sys.argv`` overrides before Hydra starts; exit with one line on a problem.

    Also prepends the chosen stage's ``stage_overrides`` so that explicit command-line overrides still win.
    With ``name_sweeps``, a multirun passes the keys it varies to every job as ``sweep_keys`` (jobs cannot see
    the original command line; their run names and W&B tags are built from these keys).
    """
    sys.argv[1:] = quote_numeric_groups(sys.argv[1:])
    if name_sweeps and any(a in ("-m", "--multirun") for a in sys.argv[1:]):
        from honeybee.training.tracking import swept_keys

        keys = swept_keys(sys.argv[1:])
        if keys and not any(a.startswith("sweep_keys=") for a in sys.argv[1:]):
            sys.argv.append("sweep_keys=[" + ",".join(f"'{k}'" for k in keys) + "]")
    if any(a.startswith("--") and a not in ("--multirun",) for a in sys.argv[1:]):
        return
    problem, cfg = check_overrides(sys.argv[1:], config_name)
    if problem and os.environ.get("HYDRA_FULL_ERROR") != "1":
        fail(problem)
    extra = stage_overrides(cfg)
    if extra:
        log.info("stage %s overrides from the experiment: %s", cfg.stage.index, " ".join(extra))
        sys.argv[1:] = quote_numeric_groups(extra) + sys.argv[1:]
        problem, _ = check_overrides(sys.argv[1:], config_name)
        if problem:
            fail(f"stage_overrides.{cfg.stage.index}: {problem}")


def run_task(task: Callable[[Any], Any], cfg: Any) -> Any:
    """Run a task function; a HoneybeeError becomes one line and exit code 2.

    In a multirun a failed job (any exception) logs its error and returns NaN, so the other jobs of the sweep
    still run. A W&B run the task opened is always finished, so the next job in this process gets its own run.
    Known third-party warnings that a user cannot act on are silenced first (``honeybee.utils.warnings``).
    """
    quiet_known_warnings()
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    failed = True
    try:
        result = task(cfg)
        failed = False
    except HoneybeeError as e:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        if not multirun:
            discard_bare_run_dir()
            fail(str(e))
        log.error("job failed: %s", e)
        result = math.nan
    except Exception:
        if not multirun or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        log.exception("job failed")
        result = math.nan
    finally:
        _finish_wandb(failed)
    if multirun and isinstance(result, float) and math.isnan(result):
        direction = HydraConfig.get().sweeper.get("direction")
        return failed_value(direction) if direction else result
    return result


def discard_bare_run_dir() -> None:
    """Remove this run's folder if it holds only what Hydra wrote before the task (``.hydra/``, the job log).

    A run refused for bad input must not leave a folder that looks like a run (an ``outputs/<exp>/<model>/
    stage<N>/`` for the next stage to trip over, a ``runs/<time>/`` per typo); the error line says what went
    wrong. A folder holding anything else (an earlier run's artifacts) is left alone.
    """
    import shutil

    from hydra.core.hydra_config import HydraConfig

    from honeybee.utils.rundir import discard_refused_run

    if discard_refused_run():  # the folder as it was before Hydra ran (RunDirGuard, conf/hydra/default.yaml)
        return
    if not HydraConfig.initialized():
        return
    hc = HydraConfig.get()
    folder = Path(hc.runtime.output_dir)
    own = {str(hc.output_subdir), f"{hc.job.name}.log"}
    if folder.is_dir() and all(p.name in own for p in folder.iterdir()):
        logging.shutdown()  # close the job log before its folder goes
        shutil.rmtree(folder, ignore_errors=True)


def failed_value(direction: Any) -> float:
    """What a failed (or score-less) job reports to an optimising sweeper: the worst possible value.

    Optuna refuses NaN by aborting the whole study, so a failed trial is reported as -inf when maximising and
    +inf when minimising; the study goes on and never picks it.
    """
    d = direction if isinstance(direction, str) else next(iter(direction))  # multi-objective: a list
    return -math.inf if str(d).lower().startswith("max") else math.inf


def _finish_wandb(failed: bool) -> None:
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=1 if failed else 0)


# ------------------------------------------------------------------------------------------------ entry points


def _train(cfg: Any) -> Any:
    from honeybee.training.task import train

    return run_task(train, cfg)


def _generate(cfg: Any) -> Any:
    from honeybee.generation.task import run_generate

    return run_task(run_generate, cfg)


def _evaluate(cfg: Any) -> Any:
    from honeybee.evaluation.task import evaluate

    return run_task(evaluate, cfg)


def _curate(cfg: Any) -> Any:
    from honeybee.curation.loop import run_curate

    return run_task(run_curate, cfg)


def _export(cfg: Any) -> Any:
    from honeybee.export.task import run_export

    return run_task(run_export, cfg)


# Each entry point's Hydra task function (conf/<name>.yaml). Module-level, so that sweep launchers (submitit)
# pickle them by reference.
ENTRY_POINTS: dict[str, Callable[[Any], Any]] = {
    "train": _train,
    "generate": _generate,
    "evaluate": _evaluate,
    "curate": _curate,
    "export": _export,
}
ENTRY_ENV = "HONEYBEE_ENTRY_POINT"


def launch(name: str) -> None:
    """Run entry point ``name`` on the overrides in ``sys.argv[1:]``: check them, then let Hydra run the task.

    ``python train.py`` (in a checkout), the ``honeybee-train`` console script and ``python -m honeybee train``
    all land here, with the configs of :data:`honeybee.utils.paths.CONF_DIR` (the checkout's ``conf/``, or the
    copy inside an installed package).
    """
    import hydra

    precheck(name, name_sweeps=name == "train")
    hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=name)(ENTRY_POINTS[name])()


def train() -> None:
    """``honeybee-train``: finetune a model (``python train.py``)."""
    launch("train")


def generate() -> None:
    """``honeybee-generate``: generate, merge or serve (``python generate.py``)."""
    launch("generate")


def evaluate() -> None:
    """``honeybee-evaluate``: evaluate runs on tasks (``python evaluate.py``)."""
    launch("evaluate")


def curate() -> None:
    """``honeybee-curate``: curate instruction data (``python curate.py``)."""
    launch("curate")


def export() -> None:
    """``honeybee-export``: a run as one standalone folder, merged model or adapter (``python export.py``)."""
    launch("export")


def main() -> None:
    """``python -m honeybee <train|generate|evaluate|curate|export> [overrides]``.

    The entry point's name is also kept in ``$HONEYBEE_ENTRY_POINT``: Lightning starts the other DDP processes
    as ``python -m honeybee.__main__ <overrides>``, without it.
    """
    if len(sys.argv) > 1 and sys.argv[1] in ENTRY_POINTS:
        name: str | None = sys.argv.pop(1)
    else:
        name = os.environ.get(ENTRY_ENV)
    if name not in ENTRY_POINTS:
        fail(f"usage: python -m honeybee {{{','.join(ENTRY_POINTS)}}} [key=value ...]")
    os.environ[ENTRY_ENV] = name
    launch(name)

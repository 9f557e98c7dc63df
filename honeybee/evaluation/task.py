"""The evaluation task: what ``python evaluate.py`` runs (runs x tasks -> reports)."""

from __future__ import annotations

import gc
import logging
import math
import re
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from honeybee.data.records import Record
from honeybee.evaluation.tasks import EvalTask, balanced_subset
from honeybee.generation.cpu_kernels import mode_problem
from honeybee.generation.source import ModelSource
from honeybee.generation.task import SAMPLING_RULES, sampling_problems
from honeybee.utils.errors import ConfigError, DataError, HoneybeeError
from honeybee.utils.rules import SEED_MAX, Num, number_problems

log = logging.getLogger(__name__)


def configured_records(data_cfg: Any, split: str) -> list[Record]:
    """A task's own data: the loader's records, and of a source that is split at training time (it has
    ``test_fraction``) the same ``split`` a training run would hold out."""
    from honeybee.data.sources import load_records
    from honeybee.data.splits import split_records

    records = load_records(data_cfg)
    if data_cfg.get("test_fraction") is None:
        return records
    parts = split_records(
        records,
        float(data_cfg.val_fraction),
        float(data_cfg.test_fraction),
        int(data_cfg.get("split_seed", 0)),
    )
    return parts[split]


def task_records(
    task: EvalTask, name: str, run_dir: Path | None, cfg: DictConfig
) -> tuple[list[Record], dict]:
    """The records ``task`` scores and where they came from.

    Precedence: ``eval_task.<name>.data_file`` (a record JSONL), then ``<run_dir>/splits/<split>.jsonl``
    (unless ``use_run_splits=false``), then the task's configured ``data``.

    Raises:
        DataError: no usable record (an empty split, or data of another kind than the task scores).
    """
    from honeybee.generation.task import read_prompt_file, read_split

    tcfg = cfg.eval_task[name]
    try:
        if tcfg.get("data_file"):
            where, records = str(tcfg.data_file), read_prompt_file(str(tcfg.data_file))
        elif run_dir is not None and cfg.use_run_splits:
            where = str(run_dir / "splits" / f"{cfg.split}.jsonl")
            records = read_split(run_dir, str(cfg.split))
        elif tcfg.get("data") is not None:
            where, records = (
                f"data={tcfg.data.source} ({tcfg.data.get('path')})",
                configured_records(tcfg.data, cfg.split),
            )
        else:
            raise ConfigError(
                f"no data: give a run folder, eval_task.{name}.data_file=<jsonl> or eval_task.{name}.data"
            )
    except HoneybeeError as e:
        raise type(e)(f"task {name}: {e}") from None
    usable = [r for r in records if task.usable(r)]
    if not usable:
        raise DataError(f"task {name}: no {task.wants} in {where} ({len(records)} records)")
    if len(usable) < len(records):
        log.info(
            "task %s: %d of %d records in %s are not scored (%s)",
            name,
            len(records) - len(usable),
            len(records),
            where,
            f"not {task.wants}",
        )
    limits = [int(x) for x in (tcfg.get("limit"), cfg.get("limit")) if x is not None]
    chosen = balanced_subset(usable, min(limits) if limits else None, task.group)
    task.check_records(chosen, where)
    return chosen, {"data": where, "records": len(chosen), "usable": len(usable), "read": len(records)}


# Every numeric key of conf/evaluate.yaml and conf/eval_task/*.yaml (tests/config/test_config_values.py).
EVALUATE_RULES: dict[str, Num] = {
    "limit": Num(1, integer=True, nullable=True),
    "batch_size": Num(1, 4096, integer=True),
    **SAMPLING_RULES,
    "eval_task.*.max_new_tokens": Num(1, 10**6, integer=True),
    "eval_task.*.limit": Num(1, integer=True, nullable=True),
    "eval_task.*.batch_size": Num(1, 4096, integer=True),
    "eval_task.*.max_seq_len": Num(8, 1_048_576, integer=True, nullable=True),
    "eval_task.*.rel_tol": Num(0, 10**6),
    "eval_task.*.timeout_s": Num(0, 86400, above=True),
    "eval_task.*.max_retries": Num(0, 100, integer=True),
    "eval_task.*.concurrency": Num(1, 1024, integer=True),
    "eval_task.*.max_tokens": Num(1, 10**6, integer=True),
    "eval_task.*.temperature": Num(0, 2),
    "eval_task.*.data.val_fraction": Num(0, 1, below=True),
    "eval_task.*.data.test_fraction": Num(0, 1, below=True),
    "eval_task.*.data.split_seed": Num(0, SEED_MAX, integer=True),
    "eval_task.*.data.templates_per_property": Num(1, 4, integer=True),
    "eval_task.*.data.template_seed": Num(integer=True, hi=math.inf, note="any integer"),
    "harness.num_fewshot": Num(0, 10**4, integer=True, nullable=True, required=False),
    "harness.limit": Num(
        0, 10**9, above=True, nullable=True, required=False, note="a count, or a fraction below 1"
    ),
    "harness.batch_size": Num(1, 4096, integer=True, required=False),
    "bootstrap.resamples": Num(100, 10**6, integer=True),
    "bootstrap.seed": Num(0, SEED_MAX, integer=True),
    "bootstrap.confidence": Num(0, 1, above=True, below=True),
}


def check_evaluate_config(cfg: DictConfig) -> list[str]:
    """Task names to run; raises one ConfigError listing every problem."""
    p = number_problems(cfg, EVALUATE_RULES)
    tasks = [cfg.tasks] if isinstance(cfg.tasks, str) else list(cfg.tasks or [])
    known = sorted(set(EvalTask.registry) & set(cfg.eval_task or {}))
    bad = [t for t in tasks if str(t) not in known]
    if bad or not (tasks or cfg.get("harness")):
        p.append(f"unknown task {str(bad[0]) if bad else '(none)'!r} (choose from: {', '.join(known)})")
    if problem := mode_problem(cfg.cpu_prepack):
        p.append(problem)
    from honeybee.evaluation.base import SCORINGS

    for t in tasks:
        scoring = (cfg.eval_task or {}).get(str(t), {}).get("scoring", "generate")
        if scoring not in SCORINGS:
            p.append(f"eval_task.{t}.scoring={scoring!r} is not one of: {', '.join(SCORINGS)}")
    if not any(k.startswith("sampling.") for k in p):
        p += sampling_problems(cfg)
    if p:
        raise ConfigError("; ".join(p))
    return [str(t) for t in tasks]


def unique_labels(labels: list[str]) -> list[str]:
    """Labels made distinct (``run``, ``run-2``) so the same folder twice still gets two report columns."""
    out: list[str] = []
    for label in labels:
        name, i = label, 2
        while name in out:
            name, i = f"{label}-{i}", i + 1
        out.append(name)
    return out


def folder_name(label: str) -> str:
    """A label as one folder name (stage labels hold slashes)."""
    return re.sub(r"[^\w.-]+", "__", label).strip("_") or "run"


def _settings(cfg: DictConfig, names: list[str], source: ModelSource, style: str) -> dict[str, Any]:
    return {
        "source": {
            "label": source.label,
            "export": str(source.export) if source.export else None,
            "base_model": str(source.model_cfg.name),
            "stage": source.stage,
        },
        "prompt_style": style,
        "split": str(cfg.split),
        "limit": cfg.get("limit"),
        "sampling": OmegaConf.to_container(cfg.sampling, resolve=True),
        "bootstrap": bootstrap_settings(cfg).as_dict(),
        "tasks": {n: OmegaConf.to_container(cfg.eval_task[n], resolve=True) for n in names},
        "harness": OmegaConf.to_container(cfg.harness, resolve=True) if cfg.get("harness") else None,
    }


def bootstrap_settings(cfg: DictConfig) -> Any:
    from honeybee.evaluation.bootstrap import Bootstrap

    b = cfg.get("bootstrap") or {}
    return Bootstrap(int(b.get("resamples", 1000)), int(b.get("seed", 0)), float(b.get("confidence", 0.95)))


def _print_summary(per_run: dict[str, dict[str, dict[str, Any]]]) -> None:
    from rich.console import Console
    from rich.table import Table

    from honeybee.evaluation.report import fmt

    table = Table(title="evaluation")
    for h in ("task", "metric", *per_run):
        table.add_column(h)
    keys = list(dict.fromkeys((t, m) for res in per_run.values() for t, ms in res.items() for m in ms))
    for t, m in keys:
        table.add_row(t, m, *(fmt(res.get(t, {}).get(m)) for res in per_run.values()))
    Console().print(table)


def evaluate(cfg: DictConfig) -> None:
    """Evaluate each of ``runs`` (or the base model) on each of ``tasks``; write one report per run and a
    comparison when there are several.

    Everything checkable without a model (task names, folders, base models, data, the judge endpoint) is
    checked first, so bad input fails in seconds with one line and no report is started.
    """
    from honeybee.evaluation.bootstrap import bootstrap, records_hash
    from honeybee.evaluation.report import log_wandb, write_comparison, write_run_report
    from honeybee.generation.source import resolve_source
    from honeybee.generation.task import sampling_from

    names = check_evaluate_config(cfg)
    specs = ([cfg.runs] if isinstance(cfg.runs, str) else list(cfg.runs or [])) or [None]
    model_cfg = cfg.get("model")
    base_cfg = model_cfg or _base_of_others(cfg, specs)
    sources = [
        resolve_source(
            None if s is None else str(s), base_cfg if s in (None, "base") else model_cfg, cfg.paths.log_dir
        )
        for s in specs
    ]
    from honeybee.evaluation import harness

    tasks = {n: EvalTask.create(n, cfg.eval_task[n]) for n in names}
    harness_plan = harness.plan(cfg)
    # The base model has no split of its own: it is scored on the split of the runs it is compared with.
    shared = next((s.run_dir for s in sources if s.run_dir is not None), None)
    data = [{n: task_records(tasks[n], n, src.run_dir or shared, cfg) for n in names} for src in sources]
    for t in tasks.values():
        t.prepare()

    from honeybee.generation.generator import Generator

    out = Path(str(cfg.paths.output_dir))
    per_run, stages = {}, []
    use_wandb = "wandb" in (cfg.get("logger") or {})
    for src, recs, label in zip(sources, data, unique_labels([s.label for s in sources])):
        gen = Generator.load(
            src, cfg.get("prompt_style"), str(cfg.device), int(cfg.batch_size), cfg.cpu_prepack
        )
        results, counts, predictions, intervals, replicates = {}, {}, {}, {}, {}
        for n, (records, count) in recs.items():
            log.info("%s: task %s on %d records from %s", label, n, len(records), count["data"])
            t0 = time.perf_counter()
            rows = tasks[n].run(gen, records, sampling_from(cfg))
            results[n], predictions[n] = tasks[n].metrics(rows), rows
            strata = [tasks[n].stratum(r) for r in rows]
            intervals[n], replicates[n] = bootstrap(tasks[n].metrics, rows, strata, bootstrap_settings(cfg))
            counts[n] = {
                **count,
                "records_hash": records_hash(rows),
                "seconds": round(time.perf_counter() - t0, 2),
            }
            log.info("%s: task %s took %.1f s", label, n, counts[n]["seconds"])
        if harness_plan is not None:
            t0 = time.perf_counter()
            results[harness.TASK], intervals[harness.TASK], predictions[harness.TASK] = harness.run(
                harness_plan, gen, bootstrap_settings(cfg)
            )
            counts[harness.TASK] = {
                "tasks": harness_plan.tasks,
                "include_path": harness_plan.include_path,
                "records": len(predictions[harness.TASK]),
                "seconds": round(time.perf_counter() - t0, 2),
            }
        folder = out / folder_name(label)
        write_run_report(
            folder,
            label,
            results,
            counts,
            _settings(cfg, names, src, gen.style.name),
            predictions,
            intervals,
            replicates,
        )
        log.info("report: %s", folder / "report.md")
        if use_wandb:
            log_wandb(cfg.logger.wandb, str(cfg.experiment_name), label, folder)
        per_run[label] = results
        stages.append(src.stage if src.export is not None else 0)
        del gen
        gc.collect()
    if len(per_run) > 1:
        write_comparison(out / "comparison", per_run, stages)
        log.info("comparison: %s", out / "comparison" / "report.md")
    _print_summary(per_run)


def _base_of_others(cfg: DictConfig, specs: list[Any]) -> Any:
    """``runs=[base, <run>, ...]`` without model=: the base model of the first run that names one."""
    from honeybee.generation.source import resolve_source

    for s in specs:
        if s not in (None, "base"):
            return resolve_source(str(s), None, cfg.paths.log_dir).model_cfg
    return None

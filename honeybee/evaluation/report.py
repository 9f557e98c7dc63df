"""Evaluation reports: results.json, a markdown table, PNG plots and predictions, written atomically; and
the side-by-side comparison (with metric-vs-stage curves) when several runs are evaluated."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from honeybee.utils.io import atomic_dir

log = logging.getLogger(__name__)

Results = dict[str, dict[str, Any]]  # {task: {metric: value}}


def is_count(metric: str) -> bool:
    """Record counts (``n``, ``ner.n``, ``n_scored``) are reported but never plotted as scores."""
    last = metric.rsplit(".", 1)[-1]
    return last == "n" or last.startswith("n_")


def fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, (bool, int)):
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"
    return str(value)


def fmt_interval(iv: Any) -> str:
    return "–" if not iv else f"[{fmt(iv[0])}, {fmt(iv[1])}]"


def markdown_table(results: Results, intervals: Results | None = None) -> str:
    """One row per (task, metric): its value and, when given, its 95 % bootstrap interval."""
    if intervals is None:
        lines = ["| task | metric | value |", "| --- | --- | --- |"]
        for task, metrics in results.items():
            lines += [f"| {task} | {m} | {fmt(v)} |" for m, v in metrics.items()]
        return "\n".join(lines) + "\n"
    lines = ["| task | metric | value | 95 % interval |", "| --- | --- | --- | --- |"]
    for task, metrics in results.items():
        ivs = intervals.get(task) or {}
        lines += [
            f"| {task} | {m} | {fmt(v)} | {'' if is_count(m) else fmt_interval(ivs.get(m))} |"
            for m, v in metrics.items()
        ]
    return "\n".join(lines) + "\n"


def comparison_table(per_run: dict[str, Results]) -> str:
    labels = list(per_run)
    keys = list(dict.fromkeys((t, m) for res in per_run.values() for t, ms in res.items() for m in ms))
    lines = ["| task | metric | " + " | ".join(labels) + " |", "| --- | --- |" + " --- |" * len(labels)]
    for t, m in keys:
        lines.append(
            f"| {t} | {m} | " + " | ".join(fmt(per_run[lb].get(t, {}).get(m)) for lb in labels) + " |"
        )
    return "\n".join(lines) + "\n"


def _plottable(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        m: float(v)
        for m, v in metrics.items()
        if not is_count(m) and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def task_bars(task: str, metrics: dict[str, Any], path: Path) -> Path | None:
    """One horizontal bar per metric of ``task``, value written beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vals = _plottable(metrics)
    if not vals:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.32 * len(vals)))
    names = list(vals)[::-1]
    bars = ax.barh(names, [vals[n] for n in names], color="#4c72b0")
    ax.bar_label(bars, labels=[fmt(vals[n]) for n in names], padding=3, fontsize=8)
    ax.set_title(task)
    ax.margins(x=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def stage_axis(labels: list[str], stages: list[int | None]) -> tuple[list[float], str]:
    """x positions for a run-vs-run curve: the stage numbers when every run has its own, else 0..n-1."""
    known = [s for s in stages if s is not None]
    if len(known) == len(stages) and len(set(known)) == len(known):
        return [float(s) for s in known], "stage"
    return [float(i) for i in range(len(labels))], "run"


def comparison_plots(per_run: dict[str, Results], stages: list[int | None], folder: Path) -> list[Path]:
    """Per task: grouped bars (runs side by side) and metric-vs-stage curves (one panel per metric)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, paths = list(per_run), []
    x, xlabel = stage_axis(labels, stages)
    tasks = list(dict.fromkeys(t for res in per_run.values() for t in res))
    for task in tasks:
        names = list(dict.fromkeys(m for lb in labels for m in _plottable(per_run[lb].get(task, {}))))
        if not names:
            continue
        fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(names) * len(labels)), 4))
        width = 0.8 / len(labels)
        for i, lb in enumerate(labels):
            vals = [_plottable(per_run[lb].get(task, {})).get(m, math.nan) for m in names]
            ax.bar([j + i * width for j in range(len(names))], vals, width, label=lb)
        ax.set_xticks(
            [j + 0.4 - width / 2 for j in range(len(names))], names, rotation=45, ha="right", fontsize=8
        )
        ax.set_title(f"{task}: runs side by side")
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(folder / f"compare_{task}.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)

        cols = min(4, len(names))
        rows = math.ceil(len(names) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
        for ax, m in zip(axes.flat, names):
            ax.plot(x, [_plottable(per_run[lb].get(task, {})).get(m, math.nan) for lb in labels], marker="o")
            ax.set_title(m, fontsize=9)
            ax.set_xticks(x, [str(int(v)) for v in x] if xlabel == "stage" else labels, fontsize=7)
            ax.set_xlabel(xlabel, fontsize=8)
        for ax in list(axes.flat)[len(names) :]:
            ax.axis("off")
        fig.suptitle(f"{task}: metric vs {xlabel}")
        fig.tight_layout()
        paths.append(folder / f"stages_{task}.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str, allow_nan=False) + "\n"


def _json_safe(results: Results) -> Results:
    return {
        t: {m: (None if isinstance(v, float) and not math.isfinite(v) else v) for m, v in ms.items()}
        for t, ms in results.items()
    }


def write_run_report(
    out: Path,
    label: str,
    results: Results,
    counts: dict[str, Any],
    settings: dict[str, Any],
    predictions: dict[str, list[dict[str, Any]]],
    intervals: dict[str, dict[str, Any]] | None = None,
    replicates: dict[str, dict[str, list[float | None]]] | None = None,
) -> Path:
    """Write ``out/`` in one rename: results.json, report.md, plots/<task>.png, predictions/<task>.jsonl and
    bootstrap.json.

    results.json is ``{"results": {task: {metric: value}}, "intervals": {task: {metric: [low, high]}},
    "counts": ..., "settings": ...}``; bootstrap.json holds every metric's bootstrap replicates (the study pairs
    them between models).
    """
    results = _json_safe(results)
    intervals = intervals or {}
    with atomic_dir(out) as tmp:
        (tmp / "plots").mkdir()
        (tmp / "predictions").mkdir()
        for task, rows in predictions.items():
            text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
            (tmp / "predictions" / f"{task}.jsonl").write_text(text, encoding="utf-8")
        for task, metrics in results.items():
            task_bars(task, metrics, tmp / "plots" / f"{task}.png")
        body = {
            "label": label,
            "results": results,
            "intervals": intervals,
            "counts": counts,
            "settings": settings,
        }
        (tmp / "results.json").write_text(_dump(body), encoding="utf-8")
        if replicates:
            reps = {t: {m: v for m, v in ms.items() if len(set(v)) > 1} for t, ms in replicates.items()}
            (tmp / "bootstrap.json").write_text(json.dumps(reps, allow_nan=False) + "\n", encoding="utf-8")
        plots = "".join(f"![{t}](plots/{t}.png)\n" for t in results if (tmp / "plots" / f"{t}.png").is_file())
        md = f"# Evaluation: {label}\n\n{markdown_table(results, intervals)}\n{plots}"
        (tmp / "report.md").write_text(md, encoding="utf-8")
    return out


def write_comparison(out: Path, per_run: dict[str, Results], stages: list[int | None]) -> Path:
    """Write ``out/`` (comparison.json, report.md, plots/) in one rename."""
    per_run = {lb: _json_safe(r) for lb, r in per_run.items()}
    with atomic_dir(out) as tmp:
        (tmp / "plots").mkdir()
        plots = comparison_plots(per_run, stages, tmp / "plots")
        (tmp / "comparison.json").write_text(_dump({"runs": per_run, "stages": stages}), encoding="utf-8")
        images = "".join(f"![{p.stem}](plots/{p.name})\n" for p in plots)
        (tmp / "report.md").write_text(
            f"# Comparison\n\n{comparison_table(per_run)}\n{images}", encoding="utf-8"
        )
    return out


def log_wandb(wandb_cfg: Any, group: str, label: str, report_dir: Path) -> None:
    """Log one run's report to W&B: the results and predictions as tables, the plots as images."""
    import wandb

    body = json.loads((report_dir / "results.json").read_text(encoding="utf-8"))
    run = wandb.init(
        project=str(wandb_cfg.get("project") or "honeybee"),
        entity=wandb_cfg.get("entity"),
        group=group,
        job_type="evaluate",
        name=label,
        dir=str(report_dir),
        config=body["settings"],
        reinit="finish_previous",
    )
    try:
        rows = [[t, m, v] for t, ms in body["results"].items() for m, v in ms.items()]
        run.log({"results": wandb.Table(columns=["task", "metric", "value"], data=rows)})
        run.summary.update({f"{t}/{m}": v for t, m, v in rows if v is not None})
        for pred in sorted((report_dir / "predictions").glob("*.jsonl")):
            lines = [json.loads(x) for x in pred.read_text(encoding="utf-8").splitlines()]
            cols = list(dict.fromkeys(k for r in lines for k in r))
            # W&B columns need one type; predictions mix numbers, labels and None, so all go in as text.
            data = [
                [v if isinstance(v := r.get(c), str) else json.dumps(v, default=str) for c in cols]
                for r in lines
            ]
            run.log({f"predictions/{pred.stem}": wandb.Table(columns=cols, data=data)})
        run.log(
            {f"plots/{p.stem}": wandb.Image(str(p)) for p in sorted((report_dir / "plots").glob("*.png"))}
        )
    finally:
        run.finish()

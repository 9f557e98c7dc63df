"""The curation report of a round: counts (generated, kept, rejected per criterion), calls, budget, histograms."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def histograms(
    scored: list[dict[str, float]],
    criteria: list[str],
    path: Path,
    title: str,
    min_each: float | None = None,
    min_mean: float | None = None,
) -> bool:
    """One histogram per criterion plus the mean (0-100, 5-point bins); False when there is nothing to plot."""
    if not scored:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = criteria + ["mean"]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.8), sharey=True)
    bins = list(range(0, 105, 5))
    for ax, name in zip(axes, panels):
        values = [sum(s.values()) / len(s) if name == "mean" else s[name] for s in scored]
        ax.hist(values, bins=bins, color="#4c72b0", edgecolor="white")
        line = min_mean if name == "mean" else min_each
        if line is not None:
            ax.axvline(line, color="#c44e52", linestyle="--", linewidth=1)
        ax.set_title(name)
        ax.set_xlim(0, 100)
    axes[0].set_ylabel("records")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def markdown(report: dict[str, Any]) -> str:
    c = report["counts"]
    lines = [
        f"# Curation round {report['round']} ({report['experiment_name']})",
        "",
        f"Status: **{report['status']}**"
        + (f" ({report['stopped_reason']})" if report.get("stopped_reason") else ""),
        "",
        "| step | count |",
        "| --- | ---: |",
    ]
    for k in (
        "work_items",
        "targeted_items",
        "generated",
        "duplicates",
        "verified",
        "kept",
        "rejected",
        "not_verified_budget",
        "not_verified_error",
    ):
        lines.append(f"| {k.replace('_', ' ')} | {c.get(k, 0)} |")
    lines += [
        "",
        "Rejected records by failed check (a record can fail several):",
        "",
        "| check | records |",
        "| --- | ---: |",
    ]
    for k, v in sorted(report["rejected_by"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {k} | {v} |")
    rule = report["keep_rule"]
    lines += [
        "",
        f"Keep rule: mean >= {rule['min_mean']} and each >= {rule['min_each']}"
        + (f"; quality classifier >= {rule['min_quality']}" if rule.get("min_quality") is not None else ""),
        "",
    ]
    lines += ["## Instructor answers", "", "| outcome | count |", "| --- | ---: |"]
    for k, v in sorted(report["instructor"].items()):
        lines.append(f"| {k} | {v} |")
    lines += [
        "",
        "## Calls",
        "",
        "| role | backend | model | paid | cache hits | retries | failed | tokens |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for role, s in report["calls"].items():
        lines.append(
            f"| {role} | {s['backend']} | {s['model']} | {s.get('paid_calls', 0)} | "
            f"{s.get('cache_hits', 0)} | {s.get('retries', 0)} | {s.get('failed_calls', 0)} | "
            f"{s.get('prompt_tokens', 0) + s.get('completion_tokens', 0)} |"
        )
    b = report["budget"]
    lines += [
        "",
        (
            f"Budget: {b['tokens']} tokens (limit {b['max_tokens']}), ${b['cost_usd']} (limit "
            f"${b['max_cost_usd']}), counted with {b['encoding']}."
        ),
        "",
    ]
    fb = report.get("feedback")
    if fb:
        lines += [
            "## Evaluator feedback",
            "",
            (
                f"Stage `{fb['stage']}`: {fb['n_scored']}/{fb['n_answers']} answers "
                f"scored, mean {fb['mean_overall']}."
            ),
            "",
            "| topic | answers | mean score | weakest |",
            "| --- | ---: | ---: | --- |",
        ]
        weak = {w["topic"] for w in fb["weakest"]}
        for t, v in sorted(fb["by_topic"].items(), key=lambda kv: kv[1]["mean"]):
            lines.append(f"| {t} | {v['n']} | {v['mean']} | {'yes' if t in weak else ''} |")
        lines.append("")
    for name in ("verifier_histograms.png", "evaluator_histograms.png"):
        if name in report.get("plots", []):
            lines += [f"![{name}]({name})", ""]
    return "\n".join(lines)

"""Study plots (matplotlib, Agg): metric vs stage per variant, every run's loss curves, cost per run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(names: list[str]) -> dict[str, Any]:
    cmap = _plt().get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def metric_by_stage(s: dict[str, Any], path: Path) -> Path:
    """One panel per task: mean ± std vs stage per variant (and swept setting); the base model at stage 0."""
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    tasks = s["tasks"]
    cols = min(3, max(1, len(tasks)))
    nrows = max(1, math.ceil(len(tasks) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    base = next((r for r in s["rows"] if r["is_base"]), None)
    lines: dict[str, list[dict[str, Any]]] = {}
    for r in s["rows"]:
        if not r["is_base"]:
            name = (r.get("variant") or r["row"]) + (f" [{r['setting']}]" if r["setting"] else "")
            lines.setdefault(name, []).append(r)
    colors = _colors(list(lines))
    for ax, t in zip(axes.flat, tasks):
        key = t["key"]
        if base is not None and base["metrics"][key]["mean"] is not None:
            b = base["metrics"][key]["mean"]
            ax.axhline(b, color="grey", lw=0.8, ls=":")
            ax.plot([0], [b], "ks", label="base")
        for name, rows in lines.items():
            pts = sorted(
                (float(r.get("stage") or 0), r["metrics"][key]["mean"], r["metrics"][key]["std"] or 0.0)
                for r in rows
                if r["metrics"][key]["mean"] is not None
            )
            if pts:
                x, y, e = zip(*pts)
                ax.errorbar(x, y, yerr=e, marker="o", capsize=3, color=colors[name], label=name)
        ax.set_title(f"{key} ({'↑' if t['higher_is_better'] else '↓'})", fontsize=9)
        ax.set_xlabel("stage", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(tasks) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8)
    fig.suptitle(f"{s['name']}: metric vs stage (mean ± std over seeds)")
    fig.tight_layout(rect=(0, 0.08 if handles else 0, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def loss_curves(s: dict[str, Any], path: Path) -> Path:
    """Train (solid) and validation (dashed) loss of every run, colored by row."""
    plt = _plt()
    colors = _colors([r["row"] for r in s["rows"]])  # the same colors as cost.png
    fig, ax = plt.subplots(figsize=(8, 4.5))
    seen: set[str] = set()
    for cell in s["cells"].values():
        curves = cell.get("curves") or {}
        for kind, ls in (("train_loss", "-"), ("val_loss", "--")):
            pts = [p for p in curves.get(kind) or [] if isinstance(p, list | tuple) and len(p) == 2]
            pts = [(x, y) for x, y in pts if y is not None and math.isfinite(float(y))]
            if not pts:
                continue
            x, y = zip(*pts)
            label = cell["row"] if cell["row"] not in seen else None
            seen.add(cell["row"])
            # validation runs often have one or two points: markers keep them visible
            mk = "o" if kind == "val_loss" else None
            ax.plot(x, y, ls=ls, lw=1, ms=3, marker=mk, color=colors.get(cell["row"], "black"), label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("loss per run (solid: train, dashed: validation)")
    if seen:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no loss curves recorded", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def cost(s: dict[str, Any], path: Path) -> Path:
    """Wall time and training tokens per run (one bar per finished cell), colored by row."""
    plt = _plt()
    cells = list(s["cells"].values())
    colors = _colors([r["row"] for r in s["rows"]])
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 0.5 * len(cells) + 4), 4))
    for ax, key, title in (
        (axes[0], "wall_s", "wall time (s)"),
        (axes[1], "train_tokens", "training tokens"),
    ):
        vals = [(c.get("cost") or {}).get(key) for c in cells]
        ax.bar(
            range(len(cells)),
            [v if isinstance(v, int | float) and math.isfinite(v) else 0 for v in vals],
            color=[colors.get(c["row"], "grey") for c in cells],
        )
        ax.set_xticks(range(len(cells)), [c["cell"] for c in cells], rotation=60, ha="right", fontsize=6)
        ax.set_title(title)
    fig.suptitle(f"{s['name']}: cost per run")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_plots(s: dict[str, Any], folder: Path) -> list[str]:
    """Write the three plots into ``folder``; returns their file names."""
    metric_by_stage(s, folder / "metric_by_stage.png")
    loss_curves(s, folder / "loss_curves.png")
    cost(s, folder / "cost.png")
    return ["metric_by_stage.png", "loss_curves.png", "cost.png"]

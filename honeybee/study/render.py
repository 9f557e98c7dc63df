"""Render a study summary (``summary.summarize``) as report.md and a standalone report.html.

Both show the same results table (``results_table``), which is also what the W&B table holds.
"""

from __future__ import annotations

import html
import math
from typing import Any

from honeybee.study import stats

PLOTS = ("metric_by_stage.png", "loss_curves.png", "cost.png")


def fmt(value: Any) -> str:
    """A number in 4 significant digits (an en dash for missing)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value)


def fmt_p(p: float | None) -> str:
    return "–" if p is None else (f"{p:.2g}" if p >= 1e-4 else "<1e-4")


def arrow(task: dict[str, Any]) -> str:
    return "↑" if task["higher_is_better"] else "↓"


def row_name(row: dict[str, Any]) -> str:
    """The row's label, with its swept setting when the label does not already say it."""
    name = str(row.get("label") or row["row"])
    return f"{name} [{row['setting']}]" if row.get("setting") and row["setting"] not in name else name


def cell_text(row: dict[str, Any], key: str) -> tuple[str, bool, str]:
    """``(value text, bold, markers)`` of one table cell: 'mean ± std', '(n=k)' when fewer than planned."""
    m = row["metrics"][key]
    if m["mean"] is None:
        return "–", False, ""
    if m["n"] >= 2:
        text = f"{fmt(m['mean'])} ± {fmt(m['std'])}"
    else:
        text = fmt(m["mean"]) if row["is_base"] else f"{fmt(m['mean'])} (n=1)"
    if 2 <= m["n"] < row["expected_n"]:
        text += f" (n={m['n']})"
    if m.get("interval"):
        text += f" [{fmt(m['interval'][0])}, {fmt(m['interval'][1])}]"
    marks = (stats.DAGGER if m["dagger"] else "") + (stats.DOUBLE_DAGGER if m["double_dagger"] else "")
    return text, bool(m["best"]), marks


def results_table(summary: dict[str, Any], bold: bool = False) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of the results table as text, markers kept; the W&B table is the plain (unbolded) one.

    Args:
        summary: the report's summary (``build_summary``).
        bold: wrap each column's best cell in markdown ``**``.
    """
    cols = ["row"] + [f"{t['key']} {arrow(t)}" for t in summary["tasks"]]
    data = []
    for r in summary["rows"]:
        line = [row_name(r)]
        for t in summary["tasks"]:
            text, best, marks = cell_text(r, t["key"])
            line.append((f"**{text}**" if bold and best else text) + marks)
        data.append(line)
    return cols, data


def _header_lines(s: dict[str, Any]) -> list[str]:
    name = s["name"] + s["tag"]  # the study folder's name: a follow-up's tag is its suffix (-replay)
    swept = ", ".join(f"{k} ∈ {v}" for k, v in s["swept"].items()) or "nothing"
    lines = [
        f"Study **{name}** — seeds {s['seeds']}, swept: {swept}.",
        f"{s['cells_finished']} of {s['cells_total']} cells finished"
        + (f" (missing: {', '.join(s['cells_missing'])})" if s["cells_missing"] else "")
        + f"; total wall time {fmt(s['total_wall_s'])} s, {s['total_train_tokens']:,} training tokens.",
    ]
    recs = s.get("records") or {}
    if recs:
        lines.append(
            "Evaluation records per cell (the same in every cell): "
            + ", ".join(
                f"{t} {fmt(r.get('n'))} ({fmt(r.get('median_seconds'))} s)" for t, r in sorted(recs.items())
            )
            + "."
        )
    res = {k: v for k, v in (s.get("resolution") or {}).items() if v is not None}
    if res:
        lines.append(
            "Smallest difference a column's interval resolves (median 95 % half-width over cells): "
            + ", ".join(f"{k} ±{fmt(v)}" for k, v in res.items())
            + "."
        )
    return lines


def _pvo_lines(s: dict[str, Any]) -> list[str]:
    out = []
    for c in s["progressive_vs_one_shot"]:
        where = f" [{c['setting']}]" if c["setting"] else ""
        better = ""
        if c["diff"] is not None and c["diff"] != 0:
            better = (
                " (progressive better)" if (c["diff"] > 0) == c["higher_is_better"] else " (one-shot better)"
            )
        p = f"p = {fmt_p(c['p'])} (Welch)" if c["p"] is not None else f"no test ({c['reason']})"
        paired = c.get("paired") or {}
        iv = paired.get("interval")
        pair = ""
        if iv:
            verdict = "excludes 0" if iv[0] > 0 or iv[1] < 0 else "includes 0"
            pair = f", paired per record [{fmt(iv[0])}, {fmt(iv[1])}] ({verdict})"
        out.append(
            f"- {c['task']}{where}: {c['progressive_row']} − {c['one_shot_row']} = {fmt(c['diff'])}{better}"
            f"{pair}, {p}"
        )
    return out


def _cost_rows(s: dict[str, Any]) -> list[list[str]]:
    return [
        [
            row_name(r),
            str(len(r["cells"])),
            fmt(r["cost"]["wall_s"]["mean"]),
            fmt(r["cost"]["train_wall_s"]["mean"]),
            fmt(r["cost"]["eval_wall_s"]["mean"]),
            fmt(r["cost"]["train_tokens"]["mean"]),
            fmt(r["cost"]["train_steps"]["mean"]),
        ]
        for r in s["rows"]
    ]


COST_COLS = [
    "row",
    "cells",
    "wall s (mean)",
    "train wall s (mean)",
    "eval wall s (mean)",
    "train tokens (mean)",
    "train steps (mean)",
]


def _notes(s: dict[str, Any]) -> list[str]:
    return [
        "Cells are mean ± std (ddof=1) over seeds; '(n=1)' a single value, no test; '(n=k)' fewer seeds than "
        "planned finished; '–' missing. **Bold**: best in the column by its direction (↑ higher is better, "
        "↓ lower).",
        s["tests"].get("interval", "[low, high]: 95 % bootstrap interval over records") + ".",
        s["tests"]["dagger"] + ".",
        s["tests"]["double_dagger"] + ".",
        "Progressive vs one-shot: " + s["tests"]["progressive_vs_one_shot"] + ".",
    ]


def _md_table(cols: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def markdown(s: dict[str, Any], plots: list[str]) -> str:
    """report.md: header, results table (bold best, markers), cost table, progressive vs one-shot, notes, plots."""
    cols, rows = results_table(s, bold=True)
    parts = [f"# Study report: {s['name']}\n", "\n".join(_header_lines(s)) + "\n", "## Results\n"]
    parts += [_md_table(cols, rows), "## Cost per row\n", _md_table(COST_COLS, _cost_rows(s))]
    pvo = _pvo_lines(s)
    if pvo:
        parts += ["## Progressive vs one-shot\n", "\n".join(pvo) + "\n"]
    parts += ["## Notes\n", "\n".join(f"- {n}" for n in _notes(s)) + "\n"]
    if plots:
        parts += ["## Plots\n", "".join(f"![{p}](plots/{p})\n" for p in plots)]
    return "\n".join(parts)


CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}"
    "th:first-child,td:first-child{text-align:left}"
    "th{background:#f0f0f0}td.best{font-weight:bold;background:#eef7ee}"
    "img{max-width:100%;display:block;margin:1em 0}"
)


def _html_table(cols: list[str], rows: list[list[tuple[str, bool]]], cls: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=best' if b else ''}>{html.escape(t)}</td>" for t, b in r) + "</tr>"
        for r in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n'


def html_page(s: dict[str, Any], plots: list[str]) -> str:
    """report.html: the same content as report.md, standalone (inline CSS, plots by relative path)."""
    cols = ["row"] + [f"{t['key']} {arrow(t)}" for t in s["tasks"]]
    rows = []
    for r in s["rows"]:
        line = [(row_name(r), False)]
        for t in s["tasks"]:
            text, bold, marks = cell_text(r, t["key"])
            line.append((text + marks, bold))
        rows.append(line)
    cost = [[(c, False) for c in r] for r in _cost_rows(s)]

    def para(text: str) -> str:
        return "<p>" + html.escape(text).replace("**", "") + "</p>\n"

    out = [
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Study report: {html.escape(s['name'])}"
        f"</title><style>{CSS}</style></head><body>\n",
        f"<h1>Study report: {html.escape(s['name'])}</h1>\n",
        "".join(para(x) for x in _header_lines(s)),
        "<h2>Results</h2>\n",
        _html_table(cols, rows, "results"),
        "<h2>Cost per row</h2>\n",
        _html_table(COST_COLS, cost, "cost"),
    ]
    pvo = _pvo_lines(s)
    if pvo:
        out += ["<h2>Progressive vs one-shot</h2>\n<ul>"] + [f"<li>{html.escape(x[2:])}</li>" for x in pvo]
        out.append("</ul>\n")
    out += ["<h2>Notes</h2>\n<ul>"] + [f"<li>{html.escape(n).replace('**', '')}</li>" for n in _notes(s)]
    out.append("</ul>\n")
    out += [f'<img src="plots/{html.escape(p)}" alt="{html.escape(p)}">\n' for p in plots]
    out.append("</body></html>\n")
    return "".join(out)

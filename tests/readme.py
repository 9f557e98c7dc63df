"""The README's claims that tests check: its error examples and its tables, parsed from the text."""

from __future__ import annotations

from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of ``## <title>`` up to the next ``## `` heading."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else len(README)]


def readme_examples() -> list[tuple[str, str]]:
    """``(command, printed line)`` of the README's error examples: the ``$ python ...`` block under
    Configuration and the ``e.g.`` column (``command`` → ``output``) of the table under "Errors and bad input"."""
    out = []
    lines = section("Configuration").splitlines()
    for i, ln in enumerate(lines):
        if ln.startswith("$ python "):
            out.append((ln[2:], lines[i + 1]))
    for row in section("Errors and bad input").splitlines():
        if row.startswith("|") and " → " in row:
            example = row.rstrip(" |").rsplit("|", 1)[1]
            command, printed = (s.strip().strip("`") for s in example.split(" → ", 1))
            out.append((command, printed))
    return out


def table_column(title: str, first_cell: str) -> list[str]:
    """The backticked names in the second column of the row of ``section(title)`` whose first cell is
    ``first_cell`` (e.g. the ``model`` row of the Configuration table)."""
    import re

    for row in section(title).splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if cells and cells[0] == first_cell:
            return re.findall(r"`([^`]+)`", cells[1])
    raise AssertionError(f"no row {first_cell!r} in README section {title!r}")

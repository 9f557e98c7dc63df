"""Hydra command-line overrides as honeybee's configs need them (shared by the entry points and scripts)."""

from __future__ import annotations

from pathlib import Path

from honeybee.utils.paths import CONF_DIR


def group_options(conf_dir: Path, group: str) -> list[str] | None:
    """The options of config group ``group`` (its ``*.yaml`` stems), or None when it is not a group."""
    d = conf_dir / group
    if not d.is_dir():
        return None
    return sorted(p.stem for p in d.glob("*.yaml"))


def quote_numeric_groups(argv: list[str], conf_dir: Path = CONF_DIR) -> list[str]:
    """Quote numeric group options (``stage=2`` -> ``stage='2'``).

    Hydra parses ``2`` as an int and rejects it as a config-group choice, but stages are naturally numbered,
    so ``python train.py stage=2`` must work. Sweeps (``stage=1,2``) are quoted item by item.
    """
    out = []
    for a in argv:
        key, eq, value = a.partition("=")
        bare = key.lstrip("+~")
        if eq and not a.startswith("-") and group_options(conf_dir, bare) is not None:
            items = value.split(",")
            if all(i.strip().isdigit() for i in items):
                a = f"{key}=" + ",".join(f"'{i.strip()}'" for i in items)
        out.append(a)
    return out

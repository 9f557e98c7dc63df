"""Where honeybee's files live: the Hydra config folder (``conf/``), the checkout, and the model/dataset cache.

Run from a checkout (or an editable install), the configs are the checkout's ``conf/``; an installed wheel
carries a copy of them as ``honeybee/conf`` (``setup.py`` puts it there), which is used when there is no
checkout around the package.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def checkout_root() -> Path | None:
    """The source checkout the imported package lives in, or None for an installed package."""
    root = PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file() and (root / "conf" / "train.yaml").is_file():
        return root
    return None


def conf_dir() -> Path:
    """The folder of Hydra configs the entry points compose (``train.yaml``, ``model/``, ...)."""
    root = checkout_root()
    return root / "conf" if root is not None else PACKAGE_DIR / "conf"


CONF_DIR = conf_dir()


def cache_dir() -> Path:
    """Where converted models and tokenized datasets live: ``$HONEYBEE_CACHE`` or ``~/.cache/honeybee``."""
    return Path(os.environ.get("HONEYBEE_CACHE") or Path.home() / ".cache" / "honeybee")

"""Where honeybee's files live: the Hydra config folder (``conf/``) and the model/dataset cache."""

from __future__ import annotations

import os
from pathlib import Path

# The checkout this package sits in (``<root>/honeybee/utils/paths.py``).
_CHECKOUT = Path(__file__).resolve().parents[2]


def conf_dir() -> Path:
    """The folder of Hydra configs that the entry points compose (``train.yaml``, ``model/``, ...)."""
    return _CHECKOUT / "conf"


CONF_DIR = conf_dir()


def cache_dir() -> Path:
    """Where converted models and tokenized datasets live: ``$HONEYBEE_CACHE`` or ``~/.cache/honeybee``."""
    return Path(os.environ.get("HONEYBEE_CACHE") or Path.home() / ".cache" / "honeybee")

"""What a run folder records about the code and environment that produced it."""

from __future__ import annotations

import contextlib
import hashlib
import platform
import subprocess
from importlib import metadata
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any


def git_commit(root: str | Path | None = None) -> dict[str, Any]:
    """``{"commit": sha | None, "dirty": bool | None}`` of the repository at ``root``.

    The default is the checkout honeybee runs from; an installed package has none (both None), rather than
    reporting whatever repository its virtual environment happens to sit in.
    """
    from honeybee.utils.paths import checkout_root

    root = Path(root) if root else checkout_root()
    if root is None:
        return {"commit": None, "dirty": None}
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        if sha.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return {"commit": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("honeybee", "torch", "lightning", "transformers", "peft", "datasets", "hydra-core"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


def file_sha256(path: str | Path | Traversable, chunk: int = 1 << 20) -> str:
    """sha256 of a file, also one inside an installed package (``importlib.resources``, even a zip)."""
    h = hashlib.sha256()
    with (Path(path) if isinstance(path, str) else path).open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()

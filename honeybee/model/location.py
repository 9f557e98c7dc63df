"""Which weights a model config names, and a record of the weights that were loaded.

``model.name_or_path`` is what a user points at their own weights with, whatever the config's ``source``:

- ``source: hub``: it is the model (a hub id, or a local folder).
- ``source: gguf_package`` (SmolLM2, Gemma): the config's own value is the packaged model's twin on the hub,
  kept for ``model.source=hub``; any other value (a local folder, a ``.gguf`` file, another hub id) replaces
  the packaged GGUF.
- ``source: tiny``: null builds the tiny test model; anything else replaces it.

A path that is not there is refused before anything is loaded (:func:`check_model_location`), and the run
records what it actually loaded (:func:`describe_loaded`: source, path, sha256 of the weight files or the hub
revision), so a manifest never names weights the run did not use.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from honeybee.utils.errors import ConfigError

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def looks_like_path(spec: str) -> bool:
    """A local path rather than a hub id (``org/name``): absolute, relative with ``.``/``~``, a ``.gguf``
    file, more than one ``/``, or anything that exists on disk."""
    return (
        spec.startswith(("/", ".", "~"))
        or spec.endswith(".gguf")
        or spec.count("/") > 1
        or Path(spec).expanduser().exists()
    )


def packaged_twin(cfg: Any) -> str | None:
    """``name_or_path`` as the config file ``conf/model/<name>.yaml`` sets it (None without such a file)."""
    from omegaconf import OmegaConf

    from honeybee.utils.paths import CONF_DIR

    p = CONF_DIR / "model" / f"{cfg.get('name')}.yaml"
    if not p.is_file():
        return None
    value = OmegaConf.select(OmegaConf.load(p), "name_or_path")
    return None if value is None else str(value)


def explicit_name_or_path(cfg: Any) -> str | None:
    """The ``model.name_or_path`` that decides what is loaded, or None when the config's source does."""
    value = cfg.get("name_or_path")
    if value in (None, ""):
        return None
    value = str(value)
    source = cfg.get("source")
    if source == "hub" or source == "tiny":
        return value
    if source == "gguf_package":
        if looks_like_path(value):
            return value
        twin = packaged_twin(cfg)
        # An unknown config (no conf/model file) cannot tell its twin from a choice: the package wins.
        return None if twin is None or value == twin else value
    return None


def check_model_location(cfg: Any) -> None:
    """Refuse an explicit ``model.name_or_path`` that is a local path but not usable weights; cheap (no load).

    Raises:
        ConfigError: the path does not exist, is a file but not ``.gguf``, or a folder without config.json.
    """
    value = explicit_name_or_path(cfg)
    if value is None or not looks_like_path(value):
        return
    p = Path(value).expanduser()
    if not p.exists():
        raise ConfigError(f"model.name_or_path={value}: no such file or folder")
    if p.is_file() and p.suffix != ".gguf":
        raise ConfigError(
            f"model.name_or_path={value}: not a .gguf file; give a model folder (config.json + weights) "
            "or a .gguf file"
        )
    if p.is_dir() and not (p / "config.json").is_file():
        raise ConfigError(
            f"model.name_or_path={value}: no config.json in this folder; give a transformers model folder "
            "or a .gguf file"
        )


def explicit_model_path(cfg: Any) -> str | None:
    """What an explicit ``model.name_or_path`` loads: a local folder or ``.gguf`` file (absolute), or a hub
    id; None when the config's source decides (see the module docstring)."""
    value = explicit_name_or_path(cfg)
    if value is None:
        return None
    check_model_location(cfg)
    p = Path(value).expanduser()
    return str(p.resolve()) if p.exists() else value


def weights_sha256(folder: Path) -> str | None:
    """sha256 of a model folder's weight files: the file's own sha256 when there is one (as ``sha256sum``
    prints it), else of the sorted ``<name> <sha256>`` lines; None when the folder holds no weights."""
    from honeybee.utils.runinfo import file_sha256

    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix in WEIGHT_SUFFIXES)
    if not files:
        return None
    if len(files) == 1:
        return file_sha256(files[0])
    lines = "".join(f"{f.name} {file_sha256(f)}\n" for f in files)
    return hashlib.sha256(lines.encode()).hexdigest()


def describe_loaded(cfg: Any, path: str, revision: str | None = None) -> dict[str, Any]:
    """What a run loaded for ``cfg``: ``source`` (gguf_package | gguf_file | local | hub | tiny), ``path``,
    and ``sha256`` of the weight files (local folders) or ``revision`` (the hub commit, when known).

    Args:
        cfg: The model config node.
        path: What :func:`honeybee.model.loading.resolve_model_path` returned for it.
        revision: ``model.config._commit_hash`` of the loaded model (hub loads).
    """
    explicit = explicit_name_or_path(cfg)
    folder = Path(path)
    if not folder.is_dir():
        return {"source": "hub", "path": path, "revision": revision}
    out: dict[str, Any] = {"source": "local", "path": str(folder), "sha256": weights_sha256(folder)}
    from honeybee.model.gguf import SOURCE_FILE

    origin = folder / SOURCE_FILE  # written beside converted GGUF weights: the package, file and its sha256
    if explicit is None:
        out["source"] = str(cfg.get("source"))
    elif explicit.endswith(".gguf"):
        out["source"] = "gguf_file"
    if origin.is_file():
        with contextlib.suppress(OSError, ValueError):  # informative only
            out["converted_from"] = json.loads(origin.read_text(encoding="utf-8"))
    return out

"""Which weights to run: a base model, plus an adapter given as a run/stage folder, an adapter folder or a
merged model folder; and loading them into a ready ``Generator``."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honeybee.model.export import META_FILE, check_export, read_meta
from honeybee.progressive.stages import find_export
from honeybee.utils.errors import ConfigError
from honeybee.utils.paths import CONF_DIR

log = logging.getLogger(__name__)

MODEL_CONF_DIR = CONF_DIR / "model"
FORMS = (
    "a run or stage folder (outputs/<experiment>/<model>/stage<N>), <experiment>/stage<N>, "
    "an adapter folder or a merged model folder"
)


@dataclass
class ModelSource:
    """Resolved weights.

    Attributes:
        model_cfg: The base model config node (``conf/model/*.yaml`` shape).
        export: The adapter folder or full (merged) model folder; None for the bare base model.
        run_dir: The run/stage folder around ``export`` (it holds ``splits/``), when there is one.
        meta: ``honeybee.json`` of the export (prompt style, base model, stage); empty when absent.
        label: A short name for reports and the server's model id.
    """

    model_cfg: Any
    export: Path | None = None
    run_dir: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    label: str = "base"

    @property
    def is_adapter(self) -> bool:
        return self.export is not None and (self.export / "adapter_config.json").is_file()

    @property
    def stage(self) -> int | None:
        return self.meta.get("stage")


def locate(spec: str, log_dir: str | Path, model_name: str | None = None) -> Path:
    """Find the folder a user means: a path, a path under ``log_dir``, or ``<experiment>/stage<N>`` there.

    Raises:
        ConfigError: nothing matches (the message lists the accepted forms).
    """
    given = Path(spec).expanduser()
    for cand in (given, Path(log_dir) / spec):
        if cand.is_dir():
            return cand.resolve()
    parts = Path(spec).parts
    if len(parts) == 2 and parts[1].startswith("stage"):
        found = sorted(Path(log_dir).glob(f"{parts[0]}/{model_name or '*'}/{parts[1]}"))
        if len(found) == 1:
            return found[0].resolve()
        if len(found) > 1:
            names = ", ".join(p.parent.name for p in found)
            raise ConfigError(f"{spec}: stages of several models ({names}); pick one with model=<name>")
    raise ConfigError(f"{spec}: no such folder (give {FORMS})")


def _model_conf(name: str) -> Any:
    from omegaconf import OmegaConf

    p = MODEL_CONF_DIR / f"{name}.yaml"
    if not p.is_file():
        raise ConfigError(
            f"base model {name!r} of the adapter has no conf/model/{name}.yaml; give model=<name>"
        )
    return OmegaConf.load(p)


def _trained_on(export: Path, run_dir: Path | None, meta: dict[str, Any]) -> Any:
    """The base model config an export was trained on: its run's resolved ``config.yaml``, else the
    ``conf/model`` file named in ``honeybee.json``."""
    from omegaconf import DictConfig, OmegaConf

    if run_dir is not None and (run_dir / "config.yaml").is_file():
        try:
            run_cfg = OmegaConf.load(run_dir / "config.yaml")
        except Exception as e:  # yaml and OmegaConf raise many types; the user needs the file and line 1
            raise ConfigError(f"{run_dir / 'config.yaml'}: unreadable ({str(e).splitlines()[0]})") from None
        node = run_cfg.get("model") if isinstance(run_cfg, DictConfig) else None
        if node is not None and not isinstance(node, DictConfig):
            raise ConfigError(f"{run_dir / 'config.yaml'}: 'model' is not a mapping")
        if node is not None:
            return node
    base = meta.get("base_model") or {}
    if not base.get("name"):
        raise ConfigError(f"{export}: {META_FILE} names no base model; give model=<name>")
    cfg = _model_conf(str(base["name"]))
    if base.get("name_or_path"):
        cfg.name_or_path = base["name_or_path"]
    return cfg


def _named(name: str, path: str | None) -> str:
    return f"{name} ({path})" if path else name


def check_base(export: Path, meta: dict[str, Any], model_cfg: Any) -> None:
    """Refuse an adapter trained on another base model than ``model_cfg``.

    Raises:
        ConfigError: the names (or hub ids / local paths) differ.
    """
    base = meta.get("base_model") or {}
    if not base:
        return
    want = (str(model_cfg.name), model_cfg.get("name_or_path"))
    have = (str(base.get("name")), base.get("name_or_path"))
    if want != have:
        raise ConfigError(
            f"{export} was trained on base model {_named(*have)}, not model={_named(*want)}; "
            f"drop model= to use its own base, or pick model={have[0]}"
        )


def resolve_source(spec: str | None, model_cfg: Any | None, log_dir: str | Path) -> ModelSource:
    """Resolve ``adapter=<spec>`` (None or "base": no adapter) against ``model=<model_cfg>`` (None: the
    adapter's own base model).

    Raises:
        ConfigError: a missing folder, a folder with no weights, no base model given, or another base model.
    """
    if spec in (None, "", "base"):
        if model_cfg is None:
            raise ConfigError("no adapter and no base model: give adapter=<folder> or model=<name>")
        return ModelSource(model_cfg, label=str(model_cfg.name))
    folder = locate(str(spec), log_dir, None if model_cfg is None else str(model_cfg.name))
    export = find_export(folder)
    if export is None and (folder / "config.json").is_file():
        export = folder  # a plain transformers model folder (merged elsewhere)
    if export is None:
        raise ConfigError(f"{folder}: no adapter/ or model/ with {META_FILE} in it (give {FORMS})")
    check_export(export)
    run_dir = folder if export != folder else (export.parent if (export.parent / "splits").is_dir() else None)
    meta = read_meta(export) if (export / META_FILE).is_file() else {}
    if model_cfg is None:
        if not (export / "adapter_config.json").is_file() and not meta:
            from omegaconf import OmegaConf

            model_cfg = OmegaConf.create(
                {"name": export.name, "source": "hub", "name_or_path": str(export), "dtype": "float32"}
            )
        else:
            model_cfg = _trained_on(export, run_dir, meta)
    else:
        check_base(export, meta, model_cfg)
    return ModelSource(model_cfg, export, run_dir, meta, _label(folder, export))


def _label(folder: Path, export: Path) -> str:
    if folder == export and export.name in ("adapter", "model"):
        folder = export.parent
    # stage folders are all called stage<N>; their experiment and model tell them apart in reports
    if folder.name.startswith("stage") and folder.name[5:].isdigit():
        return f"{folder.parent.parent.name}/{folder.parent.name}/{folder.name}"
    return folder.name


def pick_device(name: str = "auto") -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name} but no CUDA device is available (device=cpu or auto)")
    return name


def load_weights(source: ModelSource, device: str = "cpu") -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` in eval mode on ``device``; an adapter is merged into the base weights.

    Merging makes every forward pass as cheap as the base model's; outputs match the unmerged adapter up to
    floating-point rounding.

    Raises:
        ConfigError: the weights cannot be loaded, or the adapter does not fit the base model.
    """
    from honeybee.model.loading import load_model, load_tokenizer, resolve_model_path

    if source.export is None:
        path = resolve_model_path(source.model_cfg)
        model, tok = load_model(source.model_cfg, path), load_tokenizer(source.model_cfg, path)
    elif not source.is_adapter:
        model = load_model(source.model_cfg, str(source.export))
        tok = load_tokenizer(source.model_cfg, str(source.export))
    else:
        from peft import PeftModel

        base = load_model(source.model_cfg, resolve_model_path(source.model_cfg))
        tok = load_tokenizer(source.model_cfg, str(source.export))
        try:
            model = PeftModel.from_pretrained(base, str(source.export)).merge_and_unload()
        except (RuntimeError, ValueError, KeyError, OSError) as e:
            raise ConfigError(
                f"adapter {source.export} does not fit base model {source.model_cfg.name}: "
                f"{str(e).splitlines()[0]}"
            ) from None
    log.info("loaded %s (%s) on %s", source.label, source.export or source.model_cfg.name, device)
    return model.to(device).eval(), tok

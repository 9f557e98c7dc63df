"""Data sources: each turns a config node (``conf/data/*.yaml``) into validated ``Record`` objects."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from honeybee.data.readers import BadRecords, read_json_records
from honeybee.data.records import Record
from honeybee.utils.errors import ConfigError, DataError

ALPACA_FIELDS = ("instruction", "input", "output")


def alpaca_record(obj: Any, where: str, bad: BadRecords, source: str) -> Record | None:
    """Validate one Alpaca-style object; returns None (after counting) when it is skipped."""
    if not isinstance(obj, dict):
        bad(f"{where}: expected an object, got {type(obj).__name__}")
        return None
    for key in ("instruction", "output"):
        if key not in obj:
            bad(f"{where}: missing field {key!r}")
            return None
    for key in ALPACA_FIELDS:
        if key in obj and obj[key] is not None and not isinstance(obj[key], str):
            bad(f"{where}: field {key!r} must be a string, got {type(obj[key]).__name__}")
            return None
    if not obj["instruction"].strip() or not obj["output"].strip():
        bad(f"{where}: empty {'instruction' if not obj['instruction'].strip() else 'output'}")
        return None
    meta = {k: v for k, v in obj.items() if k not in ALPACA_FIELDS}
    meta.setdefault("source", source)
    return Record(obj["instruction"], obj.get("input") or "", obj["output"], meta)


def load_alpaca(path: str | Path, on_bad_record: str = "error", source: str = "alpaca") -> list[Record]:
    """Load Alpaca JSON / JSONL (``instruction``, ``input``, ``output``) from a local file.

    Raises:
        DataError: missing file, malformed JSON, a bad record (under ``on_bad_record=error``), or no records.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    bad = BadRecords(on_bad_record)
    records = []
    for i, obj in read_json_records(path, bad):
        rec = alpaca_record(obj, f"{path}: record {i}", bad, source)
        if rec is not None:
            records.append(rec)
    bad.report(path)
    if not records:
        raise DataError(f"{path}: no usable records")
    return records


def load_hf_dataset(name: str, split: str, on_bad_record: str, source: str) -> list[Record]:
    """Load Alpaca-shaped records from an HF dataset id or a ``save_to_disk`` folder."""
    import datasets

    try:
        p = Path(name)
        if p.is_dir() and any(
            (p / f).exists() for f in ("dataset_dict.json", "state.json", "dataset_info.json")
        ):
            ds = datasets.load_from_disk(name)
            ds = ds[split] if isinstance(ds, datasets.DatasetDict) else ds
        else:
            ds = datasets.load_dataset(name, split=split)
    except Exception as e:  # the hub client raises many types; the user needs the first line only
        raise DataError(f"cannot load dataset {name!r} (split {split!r}): {str(e).splitlines()[0]}") from None
    bad = BadRecords(on_bad_record)
    records = [r for i, obj in enumerate(ds) if (r := alpaca_record(obj, f"{name}: record {i}", bad, source))]
    bad.report(name)
    if not records:
        raise DataError(f"{name}: no usable records")
    return records


def _materials_facts(cfg: Any) -> list[Record]:
    from honeybee.data.materials_facts import build_records

    return build_records(
        seed=int(cfg.get("template_seed", 0)),
        templates_per_property=int(cfg.get("templates_per_property", 1)),
    )


def _matsci_instruct(cfg: Any) -> list[Record]:
    path = cfg.get("path")
    if not path:
        raise ConfigError(
            "data.path is required for data=matsci_instruct (a JSON/JSONL file, a folder or an HF dataset id)"
        )
    from honeybee.data.verifier import filter_records

    policy = str(cfg.get("on_bad_record", "error"))
    p = Path(str(path))
    if p.is_file() or p.suffix in (".json", ".jsonl"):
        records = load_alpaca(p, policy, source="matsci_instruct")
    else:
        records = load_hf_dataset(str(path), str(cfg.get("split", "train")), policy, "matsci_instruct")
    return filter_records(records, cfg.get("verifier"), str(path))


def _required_path(cfg: Any, what: str) -> Any:
    path = cfg.get("path")
    if not path:
        raise ConfigError(f"data.path is required for data={cfg.get('source')} ({what})")
    return path


def _names(value: Any) -> list[str] | None:
    """A config list (or one string) as a list of strings; null stays None."""
    if value is None:
        return None
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]


def _paths(value: Any) -> str | list[str]:
    return str(value) if isinstance(value, (str, Path)) else [str(v) for v in value]


def _sciinstruct(cfg: Any) -> list[Record]:
    from honeybee.data.sciinstruct import load_sciinstruct

    path = _required_path(cfg, "a SciInstruct JSONL file or folder, e.g. from HF dataset zd21/SciInstruct")
    return load_sciinstruct(str(path), _names(cfg.get("subjects")), str(cfg.get("on_bad_record", "error")))


def _darwin_fair(cfg: Any) -> list[Record]:
    from honeybee.data.darwin_fair import load_darwin_fair

    path = _required_path(cfg, "a DARWIN instruction .json file, a list of them or a folder")
    return load_darwin_fair(_paths(path), _names(cfg.get("tasks")), str(cfg.get("on_bad_record", "error")))


def _matsci_nlp(cfg: Any) -> list[Record]:
    from honeybee.data.matsci_nlp import load_matsci_nlp

    path = _required_path(cfg, "the MatSci-NLP folder, a file or a list of files")
    split = cfg.get("split")
    return load_matsci_nlp(
        _paths(path),
        _names(cfg.get("tasks")),
        None if split is None else str(split),
        str(cfg.get("on_bad_record", "error")),
    )


def _mixture(cfg: Any) -> list[Record]:
    from honeybee.data.mixture import load_mixture

    return load_mixture(cfg, SOURCES)


SOURCES: dict[str, Callable[[Any], list[Record]]] = {
    "materials_facts": _materials_facts,
    "matsci_instruct": _matsci_instruct,
    "sciinstruct": _sciinstruct,
    "darwin_fair": _darwin_fair,
    "matsci_nlp": _matsci_nlp,
    "mixture": _mixture,
}


def load_records(cfg: Any) -> list[Record]:
    """Dispatch on ``cfg.source`` (the ``data`` config node)."""
    fn = SOURCES.get(str(cfg.source))
    if fn is None:
        raise ConfigError(f"data.source={cfg.source!r} is not one of: {', '.join(SOURCES)}")
    return fn(cfg)

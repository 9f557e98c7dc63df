"""Data sources: each turns a config node (``conf/data/*.yaml``) into validated ``Record`` objects."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from honeybee.data.readers import BadRecords, read_json_records
from honeybee.data.records import Record
from honeybee.data.schema import AlpacaRecord, validated
from honeybee.utils.errors import ConfigError, DataError
from honeybee.utils.rules import SEED_MAX, Num, number_problems

ALPACA_FIELDS = ("instruction", "input", "output")


def alpaca_record(
    obj: Any, where: str, bad: BadRecords, source: str, criteria: Sequence[str] = ()
) -> Record | None:
    """Validate one Alpaca-style object (``schema.AlpacaRecord``); None (after counting) when it is skipped.

    ``criteria``: Verifier score names that, when a record carries any of them, must all be numbers 0-100.
    """
    rec = validated(AlpacaRecord, obj, where, bad, {"criteria": tuple(criteria)})
    if rec is None:
        return None
    meta = rec.meta()
    meta.setdefault("source", source)
    return Record(rec.instruction, rec.input or "", rec.output, meta)


def load_alpaca(
    path: str | Path, on_bad_record: str = "error", source: str = "alpaca", criteria: Sequence[str] = ()
) -> list[Record]:
    """Load Alpaca JSON / JSONL (``instruction``, ``input``, ``output``) from a local file.

    Raises:
        DataError: missing file, malformed JSON, a bad record (under ``on_bad_record=error``), or no records.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    bad = BadRecords(on_bad_record)
    records = []
    for where, obj in read_json_records(path, bad):
        rec = alpaca_record(obj, where, bad, source, criteria)
        if rec is not None:
            records.append(rec)
    bad.report(path)
    if not records:
        raise DataError(
            f"{path}: no usable records" + (f" ({len(bad.skipped)} skipped)" if bad.skipped else "")
        )
    return records


def load_hf_dataset(
    name: str, split: str, on_bad_record: str, source: str, criteria: Sequence[str] = ()
) -> list[Record]:
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
    records = [
        r
        for i, obj in enumerate(ds)
        if (r := alpaca_record(obj, f"{name}: record {i + 1}", bad, source, criteria))
    ]
    bad.report(name)
    if not records:
        raise DataError(f"{name}: no usable records")
    return records


# The numeric keys each source's loader reads from its node (``conf/data/<source>.yaml``); split keys are the
# datamodule's. Absent keys take the loader's default. Messages say ``data.<key>``.
_SPLIT = {
    "val_fraction": Num(0, 1, below=True, required=False),
    "test_fraction": Num(0, 1, below=True, required=False),
    "split_seed": Num(0, SEED_MAX, integer=True, required=False),
}
SOURCE_RULES: dict[str, dict[str, Num]] = {
    "materials_facts": {
        "templates_per_property": Num(1, 4, integer=True, required=False),
        "template_seed": Num(integer=True, hi=math.inf, required=False, note="any integer"),
        **_SPLIT,
    },
    "matsci_instruct": {
        "verifier.min_mean": Num(0, 100, required=False),
        "verifier.min_each": Num(0, 100, required=False),
        **_SPLIT,
    },
    "sciinstruct": _SPLIT,
    "darwin_fair": _SPLIT,
    "matsci_nlp": _SPLIT,
    "mixture": _SPLIT,  # its mixing keys are checked by mixture.parse_components, with their own hints
}


def check_node(cfg: Any, source: str) -> None:
    """Refuse a source node whose numeric keys break ``SOURCE_RULES`` (all problems in one ConfigError)."""
    problems = number_problems(cfg, SOURCE_RULES.get(source, {}), prefix="data.")
    if problems:
        raise ConfigError("; ".join(problems))


def _materials_facts(cfg: Any) -> list[Record]:
    from honeybee.data.materials_facts import build_records

    check_node(cfg, "materials_facts")
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
    from honeybee.data.verifier import CRITERIA, filter_records

    check_node(cfg, "matsci_instruct")
    policy = str(cfg.get("on_bad_record", "error"))
    verifier = cfg.get("verifier") or {}
    criteria = tuple(verifier.get("criteria") or CRITERIA) if verifier.get("enabled", True) else ()
    if not isinstance(path, (str, Path)):
        raise ConfigError(
            f"data.path={path!r} must be one file, folder or HF dataset id for data=matsci_instruct"
        )
    p = Path(str(path))
    if p.suffix in (".json", ".jsonl") and not p.exists():
        raise DataError(f"data.path={p}: no such file")
    if p.is_file() or p.suffix in (".json", ".jsonl"):
        records = load_alpaca(p, policy, source="matsci_instruct", criteria=criteria)
    else:
        split = str(cfg.get("split", "train"))
        records = load_hf_dataset(str(path), split, policy, "matsci_instruct", criteria)
    return filter_records(records, cfg.get("verifier"), str(path))


def _required_path(cfg: Any, what: str) -> Any:
    """``data.path``: a file or folder, or a list of them, every one present."""
    path = cfg.get("path")
    if not path:
        raise ConfigError(f"data.path is required for data={cfg.get('source')} ({what})")
    for p in [path] if isinstance(path, (str, Path)) else path:
        if not isinstance(p, (str, Path)) or not str(p).strip():
            raise ConfigError(f"data.path: {p!r} is not a path ({what})")
        if not Path(str(p)).exists():
            raise DataError(f"data.path={p}: no such file or folder ({what})")
    return path


def _names(value: Any) -> list[str] | None:
    """A config list (or one string) as a list of strings; null stays None."""
    if value is None:
        return None
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]


def _paths(value: Any) -> str | list[str]:
    return str(value) if isinstance(value, (str, Path)) else [str(v) for v in value]


def _sciinstruct(cfg: Any) -> list[Record]:
    check_node(cfg, "sciinstruct")
    from honeybee.data.sciinstruct import load_sciinstruct

    path = _required_path(cfg, "a SciInstruct JSONL file or folder, e.g. from HF dataset zd21/SciInstruct")
    return load_sciinstruct(str(path), _names(cfg.get("subjects")), str(cfg.get("on_bad_record", "error")))


def _darwin_fair(cfg: Any) -> list[Record]:
    check_node(cfg, "darwin_fair")
    from honeybee.data.darwin_fair import load_darwin_fair

    path = _required_path(cfg, "a DARWIN instruction .json file, a list of them or a folder")
    return load_darwin_fair(_paths(path), _names(cfg.get("tasks")), str(cfg.get("on_bad_record", "error")))


def _matsci_nlp(cfg: Any) -> list[Record]:
    check_node(cfg, "matsci_nlp")
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

    check_node(cfg, "mixture")
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

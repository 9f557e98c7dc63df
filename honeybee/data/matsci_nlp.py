"""MatSci-NLP (Song, Miret, Liu, ACL 2023): seven materials-science NLP tasks as instruction records.

Every source file is converted from its native format with the question templates of the benchmark's
``utils.py``: the question is the ``instruction``, the sentence or paragraph it is about is the ``input``, and
the ``output`` is exactly one label, so evaluation can snap a generation onto ``meta['labels']``.

========  ======================================  ==========================================================
task      source files                            one record per
========  ======================================  ==========================================================
ner       sofc_token, sc_comics,                  entity span -> its entity type (sofc_token: BIO tags
          synthesis_procedures                    merged into spans, typed MATERIAL/VALUE/DEVICE/EXPERIMENT)
rc        structured_re, sc_comics,               argument pair -> the relation between them
          synthesis_procedures
ee        sc_comics, synthesis_procedures         event trigger -> ``arg:role,arg:role`` (``none:none`` when
                                                  it has no argument); events sharing a trigger are merged
pc        glass_non_glass                         abstract -> yes/no (is it about glasses)
sar       synthesis_actions                       annotated token -> its synthesis action
sc        sofc_sent                               sentence -> yes/no (does it describe an SOFC experiment)
sf        sofc_token                              token with a slot label -> its slot type (BIO prefix
                                                  dropped: the question names one token, not a span)
========  ======================================  ==========================================================

File names decide dataset and split: ``<dataset>.train_sample.json`` / ``<dataset>.test_sample.json`` hold
one split, ``<dataset>.json`` (``synthesis_procedures.json``, or any whole upstream file) holds none and is
split by document: a document is in the test split when the SHA-1 of its group id falls in the lower half.

Layout: ``matsci_nlp_tasks`` holds the task registry (datasets, questions, label sets) and the record
builder, ``matsci_nlp_formats`` the readers of the three source formats, and this module the loading.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from honeybee.data.matsci_nlp_formats import read_items
from honeybee.data.matsci_nlp_tasks import DATASETS, SPLITS, TASKS, _Bad, document_split
from honeybee.data.readers import BadRecords
from honeybee.data.records import Record
from honeybee.utils.errors import ConfigError, DataError

log = logging.getLogger(__name__)

_FILE_NAME = re.compile(r"(?P<dataset>\w+?)(?:\.(?P<split>train|test)_sample)?\.jsonl?")


def parse_file_name(path: Path) -> tuple[str, str | None] | None:
    """``(dataset, split)`` from ``<dataset>[.<split>_sample].json``; None for other files."""
    m = _FILE_NAME.fullmatch(path.name)
    if m is None or m.group("dataset") not in DATASETS:
        return None
    return m.group("dataset"), m.group("split")


def _files(folder_or_files: str | Path | Sequence[str | Path]) -> list[tuple[Path, str, str | None]]:
    if isinstance(folder_or_files, (str, Path)) and Path(folder_or_files).is_dir():
        folder = Path(folder_or_files)
        found = [(p, *named) for p in sorted(folder.iterdir()) if (named := parse_file_name(p)) is not None]
        if not found:
            raise DataError(f"{folder}: no MatSci-NLP files (<dataset>[.train_sample|.test_sample].json)")
        return found
    paths = (
        [Path(folder_or_files)]
        if isinstance(folder_or_files, (str, Path))
        else [Path(p) for p in folder_or_files]
    )
    out = []
    for p in paths:
        if not p.is_file():
            raise DataError(f"data file not found: {p}")
        named = parse_file_name(p)
        if named is None:
            raise DataError(
                f"{p}: not a MatSci-NLP file name; expected <dataset>[.train_sample|.test_sample].json "
                f"with dataset one of: {', '.join(DATASETS)}"
            )
        out.append((p, *named))
    return out


def load_file(
    path: str | Path,
    dataset: str,
    tasks: Sequence[str] = TASKS,
    on_bad_record: str = "error",
    split: str | None = None,
) -> list[Record]:
    """Convert one source file, logging its record count per task.

    Args:
        path: The file.
        dataset: Its dataset (a key of ``DATASETS``), which fixes its format.
        tasks: Tasks to build.
        on_bad_record: "error" | "skip".
        split: Keep only this split's documents (see ``document_split``); None keeps all.
    """
    path = Path(path)
    bad = BadRecords(on_bad_record)
    items, convert = read_items(path, dataset, bad)
    docs = []
    for where, item in items:
        try:
            docs.append(convert(item, path.name, dataset, tasks))
        except _Bad as e:
            bad(f"{where}: {e}")
    bad.report(path)
    kept = [d for d in docs if split is None or document_split(d.group) == split]
    records = [r for d in kept for r in d.records]
    counts = Counter(r.meta["task"] for r in records)
    lost = sum(d.lost for d in kept)
    log.info(
        "matsci_nlp %s%s: %d record(s) (%s) from %d document(s); %d skipped; "
        "%d question(s) lost to unusable spans",
        path.name,
        f" [{split} documents]" if split else "",
        len(records),
        ", ".join(f"{t} {n}" for t, n in sorted(counts.items())),
        len(kept),
        len(bad.skipped),
        lost,
    )
    return records


def load_matsci_nlp(
    folder_or_files: str | Path | Sequence[str | Path],
    tasks: Sequence[str] | None = None,
    split: str | None = None,
    on_bad_record: str = "error",
) -> list[Record]:
    """Load MatSci-NLP source files as instruction records.

    Args:
        folder_or_files: A folder (every MatSci-NLP file in it), one file, or a list of files.
        tasks: Tasks to keep (of ``TASKS``); None keeps all seven. Files that yield none of them are not read.
        split: "train" or "test" keeps ``*.<split>_sample.json`` files and that split's documents of unsplit
            files (see ``document_split``); None keeps everything.
        on_bad_record: "error" raises on the first malformed source record; "skip" skips, counts and logs it.

    Returns:
        Records in file order. ``meta``: ``source``, ``task``, ``task_type`` ("classification"; "extraction"
        for ee), ``property`` (= task, so metrics are reported per task), ``label``, ``labels``, ``group``
        (the source document) and ``file`` (the source file name, for per-file counts).

    Raises:
        ConfigError: An unknown task or split.
        DataError: A missing, unrecognised or malformed file, a bad record (under "error"), or no records.
    """
    wanted = list(TASKS) if tasks is None else [str(t) for t in tasks]
    unknown = sorted(set(wanted) - set(TASKS))
    if unknown or not wanted:
        raise ConfigError(f"data.tasks: {unknown or wanted} is not a non-empty subset of: {', '.join(TASKS)}")
    if split not in (None, *SPLITS):
        raise ConfigError(f"data.split={split!r} is not one of: train, test, null")
    records = []
    for path, dataset, file_split in _files(folder_or_files):
        if not set(DATASETS[dataset]) & set(wanted) or (split and file_split and file_split != split):
            continue
        records += load_file(path, dataset, wanted, on_bad_record, split if file_split is None else None)
    if not records:
        raise DataError(f"{folder_or_files}: no MatSci-NLP records for tasks {wanted} (split {split})")
    return records

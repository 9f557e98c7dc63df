"""LightningDataModule: source -> validated records -> seeded splits -> token ids (cached) -> batches.

Tokenized splits are cached by a fingerprint of everything that decides their token ids; the batches come
from ``honeybee.data.batching`` (``data.batching``: pad, length_grouped or packed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import DataLoader

import honeybee.data.tokenize as tokenize_module
from honeybee.data.batching import batching_of, make_loader
from honeybee.data.prompts import PromptStyle
from honeybee.data.records import Record
from honeybee.data.sources import load_records
from honeybee.data.splits import save_splits, split_records
from honeybee.data.tokenize import TokenizeStats, tokenize_record
from honeybee.utils.errors import DataError
from honeybee.utils.io import atomic_write_json

log = logging.getLogger(__name__)

RECORD_FIELDS = ("instruction", "input", "output")


def prepare_splits(cfg: Any, seed: int) -> dict[str, list[Record]]:
    """Load and split the records of a ``data`` config node; no tokenizer or model needed (fails fast)."""
    batching_of(cfg)
    records = load_records(cfg)
    splits = split_records(
        records, float(cfg.val_fraction), float(cfg.test_fraction), int(cfg.get("split_seed", seed))
    )
    if not splits["train"]:
        raise DataError(f"data={cfg.name}: the train split is empty")
    return splits


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A sha256 of what in a tokenizer decides token ids (vocabulary, merges, specials, chat template)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        body = backend.to_str()
    else:
        from datasets.fingerprint import Hasher

        body = Hasher.hash(tokenizer)
    parts = {
        "class": type(tokenizer).__name__,
        "body": hashlib.sha256(body.encode()).hexdigest(),
        "eos_token_id": tokenizer.eos_token_id,
        "special_tokens": getattr(tokenizer, "special_tokens_map", None),
        "chat_template": getattr(tokenizer, "chat_template", None),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def split_fingerprint(
    records: Sequence[Record], tokenizer: Any, style: PromptStyle, max_seq_len: int, train_on_prompt: bool
) -> str:
    """The cache key of a tokenized split: a sha256 of every input that can change its token ids.

    The source of ``honeybee.data.tokenize`` and of the prompt style's class is part of the key, so an edit to
    the tokenization code never serves stale ids.
    """
    code = inspect.getsource(tokenize_module) + inspect.getsource(type(style))
    h = hashlib.sha256()
    head = {
        "code": hashlib.sha256(code.encode()).hexdigest(),
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "style": style.name,
        "max_seq_len": int(max_seq_len),
        "train_on_prompt": bool(train_on_prompt),
    }
    h.update(json.dumps(head, sort_keys=True).encode())
    for r in records:
        h.update(json.dumps([r.instruction, r.input, r.output], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def tokenize_split(
    records: Sequence[Record],
    tokenizer: Any,
    style: PromptStyle,
    max_seq_len: int,
    train_on_prompt: bool,
    cache: Path | None = None,
) -> tuple[Any, TokenizeStats]:
    """Tokenize records with ``datasets.Dataset.map``, reusing an earlier run's result when the inputs match.

    The result is cached as ``<cache>/<key>.arrow`` with its :class:`TokenizeStats` in ``<key>.stats.json``
    (key: :func:`split_fingerprint`), so a cached run still reports what was truncated or dropped. A hit opens
    the Arrow file memory-mapped and skips building and tokenizing the raw dataset altogether.

    Args:
        records: The split.
        tokenizer: A HF tokenizer.
        style: The prompt style.
        max_seq_len: Longest tokenized record (see :func:`honeybee.data.tokenize.tokenize_record`).
        train_on_prompt: Score prompt tokens too.
        cache: Folder for cached splits; None tokenizes in memory.

    Returns:
        ``(dataset, stats)``: a ``datasets.Dataset`` with ``input_ids``, ``labels`` and ``length`` columns
        (dropped records are absent), and the split's counts.
    """
    import datasets

    features = datasets.Features(
        {
            "input_ids": datasets.List(datasets.Value("int32")),
            "labels": datasets.List(datasets.Value("int32")),
            "length": datasets.Value("int32"),
        }
    )
    if not records:
        return datasets.Dataset.from_dict({k: [] for k in features}, features=features), TokenizeStats()
    key = split_fingerprint(records, tokenizer, style, max_seq_len, train_on_prompt)
    if cache is not None:
        arrow, stats_file = cache / f"{key}.arrow", cache / f"{key}.stats.json"
        if arrow.is_file() and stats_file.is_file():
            stats = TokenizeStats(**json.loads(stats_file.read_text(encoding="utf-8")))
            log.info("tokenized split reused from %s", arrow)
            return datasets.Dataset.from_file(str(arrow)), stats
        cache.mkdir(parents=True, exist_ok=True)

    stats = TokenizeStats()

    def tokenize_batch(batch: dict[str, list[str]]) -> dict[str, list]:
        out: dict[str, list] = {"input_ids": [], "labels": [], "length": []}
        for fields in zip(*(batch[k] for k in RECORD_FIELDS)):
            item = tokenize_record(Record(*fields), tokenizer, style, max_seq_len, train_on_prompt, stats)
            if item is not None:
                out["input_ids"].append(item["input_ids"])
                out["labels"].append(item["labels"])
                out["length"].append(len(item["input_ids"]))
        return out

    raw = datasets.Dataset.from_dict(
        {k: [getattr(r, k) for r in records] for k in RECORD_FIELDS},
        features=datasets.Features({k: datasets.Value("string") for k in RECORD_FIELDS}),
    )
    # A miss overwrites whatever Arrow file is there (it may have lost its stats file).
    where: dict[str, Any] = {"keep_in_memory": True}
    if cache is not None:
        where = {"cache_file_name": str(arrow), "load_from_cache_file": False}
    ds = raw.map(
        tokenize_batch,
        batched=True,
        remove_columns=list(RECORD_FIELDS),
        features=features,
        new_fingerprint=key,
        desc="tokenizing",
        **where,
    )
    if cache is not None:
        # Written after the Arrow file, and a hit needs both: a crash in between means a re-tokenization.
        atomic_write_json(stats_file, dataclasses.asdict(stats))
        log.info("tokenized split cached as %s", arrow)
    return ds, stats


class InstructionDataModule(L.LightningDataModule):
    """Serves tokenized train/val batches of one data config.

    Args:
        cfg: The ``data`` config node (batch size, max_seq_len, prompt style, batching, cache, ...).
        tokenizer: A HF tokenizer.
        splits: Output of :func:`prepare_splits`.
        seed: Seeds the shuffling so data order is reproducible.
        run_dir: Where ``splits/`` is written (None: not persisted).
    """

    def __init__(
        self, cfg: Any, tokenizer: Any, splits: dict[str, list[Record]], seed: int, run_dir: str | None
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.splits = splits
        self.seed = seed
        self.run_dir = run_dir
        self.batching = batching_of(cfg)
        self.style = PromptStyle.from_name(str(cfg.prompt_style), tokenizer)
        self.tokenized: dict[str, Any] = {}
        self.stats: dict[str, TokenizeStats] = {}
        self.resume_state: dict[str, int] | None = None
        self._saved = False

    def setup(self, stage: str | None = None) -> None:
        """Tokenize (see :meth:`tokenize`), then write the run's ``splits/``."""
        self.tokenize()
        if self.run_dir and not self._saved:
            save_splits(self.splits, Path(self.run_dir) / "splits")
            self._saved = True

    def tokenize(self) -> None:
        """Tokenize the train and val splits (once); writes nothing into the run folder, so the train task
        can refuse a split that ``max_seq_len`` empties before the run has written anything.

        Raises:
            DataError: every train record was dropped as too long.
        """
        if self.tokenized:
            return
        from honeybee.utils.paths import cache_dir

        cache = cache_dir() / "datasets" if self.cfg.get("cache", True) else None
        for name in ("train", "val"):
            self.tokenized[name], self.stats[name] = tokenize_split(
                self.splits[name],
                self.tokenizer,
                self.style,
                int(self.cfg.max_seq_len),
                bool(self.cfg.train_on_prompt),
                cache,
            )
            log.info("data %s/%s: %s", self.cfg.name, name, self.stats[name].as_dict())
        if not len(self.tokenized["train"]):
            self.tokenized = {}
            raise DataError(
                f"data={self.cfg.name}: every train record was dropped (max_seq_len={self.cfg.max_seq_len} "
                "holds no record's response; raise data.max_seq_len)"
            )

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        loader = make_loader(
            self.tokenized[name],
            self.batching,
            int(self.cfg.batch_size),
            self.tokenizer.pad_token_id,
            int(self.cfg.max_seq_len),
            self.seed,
            shuffle,
            self.cfg.get("pad_to_multiple_of"),
            int(self.cfg.get("num_workers", 0)),
            progress=self._batches_done if shuffle else None,
        )
        # Data parallel: the loaders shard themselves (trainer.use_distributed_sampler=false); see
        # ResumableBatchSampler.shard.
        if self.trainer is not None and self.trainer.world_size > 1:
            loader.batch_sampler.shard(self.trainer.global_rank, self.trainer.world_size)
        return loader

    def _batches_done(self) -> int:
        """Training batches finished in the current epoch (read when Lightning saves a checkpoint)."""
        return int(self.trainer.fit_loop.epoch_loop.batch_progress.current.processed) if self.trainer else 0

    def train_dataloader(self) -> DataLoader:
        # overfit_batches must see the same few batches every epoch, so no reshuffling then.
        overfit = bool(self.trainer is not None and self.trainer.overfit_batches)
        loader = self._loader("train", shuffle=not overfit)
        if self.resume_state is not None:  # set by the LightningModule when resuming from a checkpoint
            loader.load_state_dict(self.resume_state)
            self.resume_state = None
        return loader

    def val_dataloader(self) -> DataLoader | list:
        return self._loader("val", shuffle=False) if len(self.tokenized.get("val", ())) else []

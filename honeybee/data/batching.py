"""From token ids to batches: the three batching strategies, their samplers and a resumable DataLoader.

Three batching strategies (``data.batching``):

* ``pad``: shuffled batches right-padded to their longest record.
* ``length_grouped``: batches of similar lengths (less padding), in a seeded random order.
* ``packed``: records laid end to end in rows of up to ``max_seq_len`` tokens, with position ids restarting
  at every record so attention never crosses records (the loss equals the unpacked loss); rows are then
  length-grouped like records.

Every order is derived from a seed and the epoch alone, so an interrupted epoch can be replayed exactly.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from honeybee.data.collate import pack_collate, pad_collate
from honeybee.utils.errors import ConfigError

BATCHING = ("pad", "length_grouped", "packed")


def batching_of(cfg: Any) -> str:
    """The ``data.batching`` strategy of a config node (``pad`` when unset).

    Raises:
        ConfigError: for an unknown strategy.
    """
    batching = str(cfg.get("batching") or "pad")
    if batching not in BATCHING:
        raise ConfigError(f"data.batching={batching!r} is not one of: {', '.join(BATCHING)}")
    return batching


class LengthGroupedSampler(Sampler[int]):
    """Orders indices so that each run of ``batch_size`` consecutive ones holds records of similar length.

    With ``shuffle``, per epoch: shuffle all indices (seeded by ``seed`` and the epoch), cut them into
    megabatches of ``megabatch_size * batch_size``, sort each megabatch by length, cut it into batches and
    shuffle the batch order. Randomness thus stays (records only meet others from their megabatch) while most
    padding goes. The batch holding the longest record comes first so that an out-of-memory error shows at the
    first step, not hours in. Only the last batch may be short, which keeps the DataLoader's batches aligned
    with these groups. Without ``shuffle`` (evaluation) indices are simply sorted by length, longest first.

    Args:
        lengths: Token count of each record.
        batch_size: The DataLoader's batch size.
        seed: Seeds the order (with the epoch from :meth:`set_epoch`).
        megabatch_size: Batches per megabatch.
        shuffle: False sorts by length only.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        seed: int = 0,
        megabatch_size: int = 50,
        shuffle: bool = True,
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.megabatch_size = int(megabatch_size)
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def batches(self) -> list[list[int]]:
        """This epoch's batches, in order."""
        if not self.lengths:
            return []
        by_length = partial(sorted, key=lambda i: (-self.lengths[i], i))
        bs = self.batch_size
        if not self.shuffle:
            order = by_length(range(len(self.lengths)))
            return [order[i : i + bs] for i in range(0, len(order), bs)]
        rng = random.Random(f"{self.seed}/{self.epoch}")
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        mega = self.megabatch_size * bs
        batches = []
        for m in range(0, len(order), mega):
            group = by_length(order[m : m + mega])
            batches += [group[i : i + bs] for i in range(0, len(group), bs)]
        tail = [batches.pop()] if len(batches[-1]) < bs else []
        rng.shuffle(batches)
        batches += tail
        longest = max(range(len(batches)), key=lambda b: self.lengths[batches[b][0]])
        batches.insert(0, batches.pop(longest))
        return batches

    def __iter__(self) -> Iterator[int]:
        return (i for b in self.batches() for i in b)

    def __len__(self) -> int:
        return len(self.lengths)


def pack_by_length(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Best-fit-decreasing bin packing: group record indices into packs of at most ``capacity`` tokens.

    Records are placed longest first, each into the pack it fills most tightly, which leaves little room
    unused; a record is never split. The result depends only on the lengths (ties go to the lower index).

    Raises:
        ValueError: a record is longer than ``capacity``.
    """
    packs: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (room left, pack index), sorted: bisect finds the tightest fit
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        n = int(lengths[i])
        if n > capacity:
            raise ValueError(f"record {i} has {n} tokens, more than the pack capacity {capacity}")
        pos = bisect.bisect_left(free, (n, -1))
        if pos < len(free):
            room, p = free.pop(pos)
        else:
            room, p = capacity, len(packs)
            packs.append([])
        packs[p].append(i)
        if room - n > 0:
            bisect.insort(free, (room - n, p))
    return packs


class PackedRows(torch.utils.data.Dataset):
    """A dataset of packed rows: item ``i`` is the list of records packed into row ``i``.

    The packs are fixed (:func:`pack_by_length`). Which records share a row does not change the loss
    (attention and labels are per record), so fixed packs cost no randomness there; the order of the rows is
    shuffled every epoch by the sampler.

    Args:
        items: A tokenized split from :func:`honeybee.data.datamodule.tokenize_split`.
        capacity: Tokens per row (``max_seq_len``).
    """

    def __init__(self, items: Any, capacity: int) -> None:
        self.items = items
        record_lengths = items["length"][:]
        self.packs = pack_by_length(record_lengths, capacity)
        self.lengths = [sum(record_lengths[i] for i in p) for p in self.packs]

    def __len__(self) -> int:
        return len(self.packs)

    def __getitem__(self, i: int) -> list[dict[str, list[int]]]:
        return [self.items[j] for j in self.packs[i]]


class EpochShuffleSampler(Sampler[int]):
    """A random permutation per epoch, derived from ``seed`` and the epoch alone (not from a generator's
    running state), so an interrupted epoch can be replayed exactly."""

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle, self.epoch = int(n), int(seed), shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        order = list(range(self.n))
        if self.shuffle:
            random.Random(f"{self.seed}/{self.epoch}").shuffle(order)
        return iter(order)

    def __len__(self) -> int:
        return self.n


class ResumableBatchSampler(torch.utils.data.BatchSampler):
    """Batches of an epoch-seeded sampler, able to skip the first ``skip`` batches of the next epoch it serves.

    Skipping happens on indices, before any data is loaded or collated, so resuming deep into an epoch is cheap.
    """

    def __init__(self, sampler: Sampler[int], batch_size: int, drop_last: bool = False) -> None:
        super().__init__(sampler, batch_size, drop_last)
        self.skip = 0
        self.num_replicas, self.rank = 1, 0

    def shard(self, rank: int, num_replicas: int) -> None:
        """Serve only every ``num_replicas``-th batch, starting at ``rank`` (data parallel).

        Sharding whole batches of the single-process order means N processes see, per optimizer step, exactly
        the batches one process sees with N-fold gradient accumulation (and keeps length grouping/packing
        intact). The batch list is padded by wrapping around, so every rank runs the same number of steps:
        a rank with one batch fewer would leave the others waiting in a collective (ZeRO-3 forwards, DDP).
        """
        self.rank, self.num_replicas = int(rank), max(1, int(num_replicas))

    def _sharded(self) -> Iterator[list[int]]:
        if self.num_replicas == 1:
            return super().__iter__()
        batches = list(super().__iter__())
        n = -(-len(batches) // self.num_replicas) * self.num_replicas
        batches += batches[: n - len(batches)]
        return iter(batches[self.rank :: self.num_replicas])

    def __len__(self) -> int:
        return (super().__len__() + self.num_replicas - 1) // self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        skip, self.skip = self.skip, 0
        for i, batch in enumerate(self._sharded()):
            if i >= skip:
                yield batch


class ResumableDataLoader(DataLoader):
    """A DataLoader that Lightning checkpoints (``state_dict``) and restores mid-epoch (``load_state_dict``).

    The state is the epoch and the number of batches the training loop has finished in it (read through
    ``progress``, since the loop prefetches batches it has not trained on yet). With an epoch-seeded sampler
    this is all it takes to replay the rest of the epoch in the same order after a crash.
    """

    def __init__(self, *args: Any, progress: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.progress = progress

    def state_dict(self) -> dict[str, int]:
        sampler = self.batch_sampler.sampler
        return {
            "epoch": int(getattr(sampler, "epoch", 0)),
            "batches_done": int(self.progress() if self.progress else 0),
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.batch_sampler.skip = int(state.get("batches_done", 0))


def make_loader(
    items: Any,
    batching: str,
    batch_size: int,
    pad_id: int,
    max_seq_len: int,
    seed: int,
    shuffle: bool,
    pad_to_multiple_of: int | None = None,
    num_workers: int = 0,
    progress: Any = None,
) -> DataLoader:
    """A resumable DataLoader over tokenized items for one batching strategy.

    Args:
        items: A tokenized split from :func:`honeybee.data.datamodule.tokenize_split`.
        batching: One of :data:`BATCHING`.
        batch_size: Records per batch (``pad``, ``length_grouped``) or packed rows per batch (``packed``).
        pad_id: The tokenizer's pad id.
        max_seq_len: Row capacity for ``packed``.
        seed: Seeds the order together with the epoch (every strategy), so a resumed epoch replays exactly.
        shuffle: Random order (training); False gives a fixed order (validation).
        pad_to_multiple_of: Round padded widths up.
        num_workers: DataLoader worker processes.
        progress: Returns the batches finished in the current epoch (saved in checkpoints for mid-epoch resume).
    """
    pad_args: dict[str, Any] = {"pad_id": pad_id, "pad_to_multiple_of": pad_to_multiple_of}
    if batching == "pad":
        data, collate = items, partial(pad_collate, **pad_args)
        sampler: Sampler[int] = EpochShuffleSampler(len(items), seed, shuffle=shuffle)
    else:
        if batching == "packed":
            rows = PackedRows(items, max_seq_len)
            data, lengths, collate = rows, rows.lengths, partial(pack_collate, **pad_args)
        else:
            data, lengths, collate = items, items["length"][:], partial(pad_collate, **pad_args)
        # Packed rows are grouped by length too, or a row that is not full gets padded to the batch's fullest row.
        sampler = LengthGroupedSampler(lengths, batch_size, seed, shuffle=shuffle)
    return ResumableDataLoader(
        data,
        batch_sampler=ResumableBatchSampler(sampler, batch_size),
        collate_fn=collate,
        num_workers=num_workers,
        progress=progress,
    )

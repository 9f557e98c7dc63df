"""Mixtures (``data=mixture``): several data sources combined with per-source weights and caps.

``conf/data/mixture.yaml`` lists components under ``data.components``. A component is the config of one
source (``source``, ``path`` and that source's own keys, as in ``conf/data/<source>.yaml``; ``source``
defaults to the component's name) plus two mixing keys:

* ``weight``: the component's sampling probability, i.e. its share of the final mixture. Weights are
  normalised to sum to 1 (logged when they did not). 0 leaves the component out without loading it. A
  negative weight, or every weight 0, is a ``ConfigError`` naming ``data.components.<name>.weight``.
* ``cap``: at most this many distinct records of the component take part (null: all). The cap bounds the
  component's pool before weighting: it is a seeded random subset, not the first records, so a capped DARWIN
  still covers every task file.

Top-level keys a component does not set itself (``on_bad_record``) are inherited from ``data``.

Size. With pool ``n_i = min(available_i, cap_i)`` and normalised weight ``p_i``:

* ``total: null`` (default): the largest mixture that meets every weight without repeating a record,
  ``T = min_i floor(n_i / p_i)``. The scarcest component relative to its weight is used whole; the others are
  subsampled to match. A cap on that component therefore shrinks the whole mixture, keeping the weights.
* ``total: N``: N records apportioned by weight. Where a share exceeds its pool, ``upsample: true`` repeats
  the pool (whole passes, then part of one); ``upsample: false`` takes the pool once and logs a warning, so
  the mixture is smaller than N and under-weights that component.

Shares are apportioned by largest remainder: the counts sum to the total exactly and each is within one record
of ``p_i * T``. Weights are read as decimals (``0.1`` is 1/10, not the nearest binary float), so weights that
fit the pools exactly give exact counts.

Sampling. Component ``name`` draws from ``random.Random(f"{seed}/{name}")`` (seed: ``mixture_seed``, else
``split_seed``), so a mixture is deterministic for a seed, and adding, removing or reweighting one component
never changes the order another draws in. A component's records are a prefix of that one seeded order, so a
larger share only adds records. Records come out component by component in config order, each in its source's
order.

Provenance. Each record's ``meta['mixture_source']`` is its component's name, and its ``meta['group']`` is
prefixed with ``<name>:`` so groups from different sources never collide in the split (a record without a
group gets ``<name>:#<index>`` of its own, shared by its upsampled copies, which thus never straddle splits).
One log line reports, per component, realised/requested counts, weight, records available and cap; the run's
``splits/*.jsonl`` keep ``mixture_source``, so per-split counts can be recovered from them.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from omegaconf import DictConfig, OmegaConf

from honeybee.data.records import Record
from honeybee.utils.errors import ConfigError, HoneybeeError

log = logging.getLogger(__name__)

MIXING_KEYS = ("weight", "cap")
INHERITED = ("on_bad_record",)  # data.* keys the source loaders read, for components that do not set them


@dataclass(frozen=True)
class Component:
    """One source of a mixture.

    Attributes:
        name: Its key under ``data.components``; prefixes groups and becomes ``meta['mixture_source']``.
        weight: Its share of the mixture before normalisation (> 0).
        cap: Most distinct records taken from the source; None takes all.
        node: The source's config (``source``, ``path``, ...) handed to its loader.
    """

    name: str
    weight: float
    cap: int | None = None
    node: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Share:
    """What one component contributed to a mixture.

    Attributes:
        name: The component.
        weight: Its normalised weight.
        available: Records its source yielded.
        cap: Its cap (None: none).
        requested: Records its weight asked for.
        realised: Records it gave (fewer than requested only when its pool ran out and upsampling is off).
    """

    name: str
    weight: float
    available: int
    cap: int | None
    requested: int
    realised: int


def _count(value: Any, option: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{option}={value!r} must be null or an integer >= 1")
    return value


def _weight(node: Mapping[str, Any], option: str) -> float:
    if "weight" not in node:
        raise ConfigError(f"{option} is required (0 leaves the component out)")
    w = node["weight"]
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
        raise ConfigError(f"{option}={w!r} must be a number >= 0")
    return float(w)


def parse_components(cfg: Any, known: Collection[str]) -> list[Component]:
    """The weighted components of a mixture's ``data`` node, validated before any source is loaded.

    Args:
        cfg: The ``data`` config node (``components`` plus the keys components inherit).
        known: Source names a component may use.

    Returns:
        The components with a weight > 0, in config order.

    Raises:
        ConfigError: No components, a component that is not a mapping or names an unknown source, a missing,
            negative or non-numeric weight, a bad cap, or every weight 0; the message names the option.
    """
    nodes = cfg.get("components")
    if isinstance(nodes, DictConfig):
        nodes = OmegaConf.to_container(nodes, resolve=True)
    if not nodes:
        raise ConfigError("data.components is empty: data=mixture needs at least one component")
    inherited = {k: cfg.get(k) for k in INHERITED if cfg.get(k) is not None}
    out, zero = [], []
    for name, node in nodes.items():
        option = f"data.components.{name}"
        if not isinstance(node, Mapping):
            raise ConfigError(f"{option} must be a mapping (source, path, weight, cap, ...), got {node!r}")
        weight = _weight(node, f"{option}.weight")
        cap = _count(node.get("cap"), f"{option}.cap")
        source = str(node.get("source") or name)
        if source not in known:
            raise ConfigError(f"{option}.source={source!r} is not one of: {', '.join(known)}")
        if weight == 0:
            zero.append(f"{option}.weight")
            continue
        body = {k: v for k, v in node.items() if k not in MIXING_KEYS}
        out.append(Component(str(name), weight, cap, {**inherited, **body, "source": source}))
    if not out:
        raise ConfigError(f"every component weight is 0 ({', '.join(zero)}): give at least one a weight > 0")
    total = sum(c.weight for c in out)
    if not math.isclose(total, 1.0):
        log.info(
            "mixture: weights sum to %g; normalised to %s",
            total,
            ", ".join(f"{c.name} {c.weight / total:.3f}" for c in out),
        )
    return out


def normalised(weights: Sequence[float]) -> list[Fraction]:
    """Weights as exact fractions summing to 1, each read as the decimal it prints as."""
    exact = [Fraction(repr(float(w))) for w in weights]
    total = sum(exact)
    return [w / total for w in exact]


def apportion(total: int, shares: Sequence[Fraction]) -> list[int]:
    """Split ``total`` into integers proportional to ``shares`` (summing to 1) by largest remainder.

    Each count is its quota ``total * share`` rounded down or up, and the counts sum to ``total``; equal
    remainders go to the earlier share.
    """
    quotas = [total * s for s in shares]
    counts = [math.floor(q) for q in quotas]
    by_remainder = sorted(range(len(shares)), key=lambda i: (counts[i] - quotas[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def mixture_size(pools: Sequence[int], shares: Sequence[Fraction]) -> int:
    """The largest total whose apportioned counts fit every pool (``floor(n_i / p_i)`` at its smallest).

    A count is at most the ceiling of its quota, and a quota within an integer pool has its ceiling there too.
    """
    return min(math.floor(n / p) for n, p in zip(pools, shares))


def _tagged(record: Record, name: str, index: int) -> Record:
    own = record.meta.get("group")
    group = f"{name}:{f'#{index}' if own is None else own}"
    return Record(
        record.instruction,
        record.input,
        record.output,
        {**record.meta, "group": group, "mixture_source": name},
    )


def mix(
    components: Sequence[Component],
    loaded: Sequence[Sequence[Record]],
    seed: int,
    total: int | None = None,
    upsample: bool = False,
) -> tuple[list[Record], list[Share]]:
    """Draw a mixture from loaded components (see the module docstring for the semantics).

    Args:
        components: The components, weights > 0.
        loaded: Each component's records, in the same order.
        seed: Seeds every component's draw (with its name).
        total: Records wanted; None takes the largest mixture that needs no repeats.
        upsample: Repeat a component's pool when its share exceeds it (with ``total`` only).

    Returns:
        ``(records, shares)``: new records with ``meta['mixture_source']`` and prefixed ``meta['group']``, and
        per component what it contributed.
    """
    shares = normalised([c.weight for c in components])
    orders = []
    for c, records in zip(components, loaded):
        order = list(range(len(records)))
        random.Random(f"{seed}/{c.name}").shuffle(order)
        orders.append(order[: c.cap])
    size = mixture_size([len(o) for o in orders], shares) if total is None else total
    out: list[Record] = []
    report = []
    for c, records, order, share, wanted in zip(components, loaded, orders, shares, apportion(size, shares)):
        if wanted <= len(order):
            picked = order[:wanted]
        elif upsample and order:
            picked = order * (wanted // len(order)) + order[: wanted % len(order)]
            log.info("mixture: %s: its %d record(s) repeated to %d (upsample)", c.name, len(order), wanted)
        else:
            picked = order
            log.warning(
                "mixture: %s: %d record(s) requested but only %d available%s; set data.upsample=true "
                "to repeat them, or lower data.total",
                c.name,
                wanted,
                len(order),
                "" if c.cap is None else f" (cap {c.cap})",
            )
        if not picked:
            log.warning("mixture: %s: weight %.4f rounds to no record of %d", c.name, share, size)
        out += [_tagged(records[i], c.name, i) for i in sorted(picked)]
        report.append(Share(c.name, float(share), len(records), c.cap, wanted, len(picked)))
    return out, report


def describe(shares: Sequence[Share], seed: int) -> str:
    """The one-line table of a mixture's counts that :func:`load_mixture` logs."""
    cells = [
        f"{s.name} {s.realised}/{s.requested} (weight {s.weight:.3f}, of {s.available}"
        f"{'' if s.cap is None else f', cap {s.cap}'})"
        for s in shares
    ]
    realised, requested = sum(s.realised for s in shares), sum(s.requested for s in shares)
    return f"mixture (seed {seed}), realised/requested: {' | '.join(cells)} | total {realised}/{requested}"


def load_mixture(cfg: Any, sources: Mapping[str, Callable[[Any], list[Record]]]) -> list[Record]:
    """Load every weighted component of a ``data=mixture`` node with its source's loader, and mix them.

    Args:
        cfg: The ``data`` config node.
        sources: Loaders by source name (``honeybee.data.sources.SOURCES``); ``mixture`` itself is refused.

    Returns:
        The mixed records (see :func:`mix`).

    Raises:
        ConfigError: A bad mixing option (see :func:`parse_components`), ``data.total``, ``data.upsample`` or
            ``data.mixture_seed``, or a component's own bad option (prefixed with ``data.components.<name>``).
        DataError: A component's data cannot be loaded (prefixed with ``data.components.<name>``).
    """
    components = parse_components(cfg, [s for s in sources if s != "mixture"])
    total = _count(cfg.get("total"), "data.total")
    upsample = cfg.get("upsample", False)
    if not isinstance(upsample, bool):
        raise ConfigError(f"data.upsample={upsample!r} must be true or false")
    seed = cfg.get("mixture_seed")
    seed = cfg.get("split_seed", 0) if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"data.mixture_seed={seed!r} must be null (split_seed) or an integer")
    loaded = []
    for c in components:
        try:
            loaded.append(sources[c.node["source"]](OmegaConf.create(c.node)))
        except HoneybeeError as e:
            raise type(e)(f"data.components.{c.name}: {e}") from None
    records, shares = mix(components, loaded, seed, total, upsample)
    log.info("%s", describe(shares, seed))
    return records

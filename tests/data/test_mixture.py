"""data=mixture: counts follow weights and caps, seeded draws, option errors, real data and a real run."""

from __future__ import annotations

import json
import random
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import MATSCI_INSTRUCT, ROOT, SHARED_DATA, TINY, needs_shared
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from honeybee.cli import check_overrides
from honeybee.data.darwin_tasks import TASKS as DARWIN_TASKS
from honeybee.data.mixture import Component, apportion, mix, mixture_size, normalised
from honeybee.data.records import Record
from honeybee.data.sources import SOURCES, load_records
from honeybee.data.splits import split_records
from honeybee.utils.errors import ConfigError, DataError

DARWIN = SHARED_DATA / "darwin_fair"
FACTS = {"source": "materials_facts"}
MATSCI_NLP = SHARED_DATA / "matsci_nlp"


def _records(name: str, n: int, per_group: int = 1) -> list[Record]:
    return [Record(f"{name} q{i}", "", f"a{i}", {"group": f"g{i // per_group}"}) for i in range(n)]


def _mix(
    sizes: dict[str, int], weights: dict[str, float], caps: dict[str, int] | None = None, seed: int = 0, **kw
):
    comps = [Component(name, weights[name], (caps or {}).get(name)) for name in sizes]
    return mix(comps, [_records(name, n) for name, n in sizes.items()], seed, **kw)


def _counts(records: list[Record]) -> Counter:
    return Counter(r.meta["mixture_source"] for r in records)


def _data(components: dict, **top) -> DictConfig:
    """A mixture ``data`` node with the yaml's top-level defaults and the given components."""
    top = {"name": "mixture", "source": "mixture", "split_seed": 1234, "on_bad_record": "error", **top}
    return OmegaConf.create({**top, "components": components})


def _alpaca_file(path: Path, n: int, bad_line: bool = False) -> Path:
    lines = [json.dumps({"instruction": f"Q{i}", "input": "", "output": f"A{i}"}) for i in range(n)]
    if bad_line:
        lines.insert(1, "{not json")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_counts_follow_weights_and_caps():
    # Pools 100, 250 (capped from 1000) and 40 at shares 0.2 / 0.6 / 0.2: the largest mixture without repeats
    # is limited by c (40 / 0.2 = 200), so c is used whole and a, b are subsampled.
    records, shares = _mix({"a": 100, "b": 1000, "c": 40}, {"a": 1, "b": 3, "c": 1}, {"b": 250})
    assert _counts(records) == {"a": 40, "b": 120, "c": 40}
    assert [(s.requested, s.realised, s.available, s.cap) for s in shares] == [
        (40, 40, 100, None),
        (120, 120, 1000, 250),
        (40, 40, 40, None),
    ]
    # A tighter cap on b makes it the limit: 90 / 0.6 = 150 records in all, still 1:3:1.
    records, _ = _mix({"a": 100, "b": 1000, "c": 40}, {"a": 1, "b": 3, "c": 1}, {"b": 90})
    assert _counts(records) == {"a": 30, "b": 90, "c": 30}
    # A capped component draws from every part of its source, not its first records.
    assert max(int(r.output[1:]) for r in records if r.meta["mixture_source"] == "b") > 500


def test_apportioned_counts_stay_within_rounding_and_pools():
    rng = random.Random(0)
    for _ in range(300):
        k = rng.randint(1, 5)
        weights = [rng.choice([0.05, 0.1, 0.25, 1, 2.5, rng.random() + 0.01]) for _ in range(k)]
        pools = [rng.randint(1, 500) for _ in range(k)]
        shares = normalised(weights)
        total = mixture_size(pools, shares)
        counts = apportion(total, shares)
        assert sum(counts) == total
        assert all(abs(c - total * p) < 1 and c <= n for c, p, n in zip(counts, shares, pools))
        assert any((total + 1) * p > n for p, n in zip(shares, pools))  # no larger total fits every weight
    # Weights are read as decimals: 0.1 / 0.9 of pools 10 / 90 is exactly 100 records.
    assert mixture_size([10, 90], normalised([0.1, 0.9])) == 100
    assert normalised([1, 3]) == [Fraction(1, 4), Fraction(3, 4)]


def test_draws_are_seeded_and_nested():
    sizes, weights = {"a": 500, "b": 500}, {"a": 1, "b": 1}
    first, _ = _mix(sizes, weights, {"a": 100}, seed=1)
    again, _ = _mix(sizes, weights, {"a": 100}, seed=1)
    other, _ = _mix(sizes, weights, {"a": 100}, seed=2)
    assert [r.to_dict() for r in first] == [r.to_dict() for r in again]
    assert {r.instruction for r in first} != {r.instruction for r in other}
    # A component's draw is a prefix of one seeded order: a larger share only adds records, and another
    # component's weight or presence never changes which records it draws.
    small, _ = _mix({"a": 500, "b": 500}, {"a": 1, "b": 3}, seed=1, total=200)
    large, _ = _mix({"a": 500, "b": 500}, {"a": 1, "b": 1}, seed=1, total=200)
    alone, _ = _mix({"a": 500}, {"a": 1}, seed=1, total=100)
    a_small, a_large, a_alone = (
        {r.instruction for r in recs if r.meta["mixture_source"] == "a"} for recs in (small, large, alone)
    )
    assert len(a_small) == 50 and a_small < a_large == a_alone


def test_total_with_and_without_upsampling(caplog):
    with caplog.at_level("WARNING"):
        short, shares = _mix({"a": 30, "b": 500}, {"a": 1, "b": 1}, total=100)
    assert _counts(short) == {"a": 30, "b": 50}
    assert (shares[0].requested, shares[0].realised) == (50, 30)
    assert "a: 50 record(s) requested but only 30 available; set data.upsample=true" in caplog.text
    repeated, shares = _mix({"a": 30, "b": 500}, {"a": 1, "b": 1}, total=100, upsample=True)
    assert _counts(repeated) == {"a": 50, "b": 50} and shares[0].realised == 50
    a = [r for r in repeated if r.meta["mixture_source"] == "a"]
    copies = Counter(r.instruction for r in a)
    assert len(copies) == 30 and sorted(set(copies.values())) == [1, 2]
    # Copies share their group, so a repeated record never lands in two splits.
    splits = split_records(repeated, 0.2, 0.2, seed=0)
    where = {r.instruction: name for name, recs in splits.items() for r in recs}
    assert all(where[r.instruction] == name for name, recs in splits.items() for r in recs)


def test_config_inherits_options_prefixes_groups_and_logs(tmp_path, caplog):
    facts = load_records(OmegaConf.create({"source": "materials_facts"}))
    path = _alpaca_file(tmp_path / "mi.jsonl", 300, bad_line=True)
    cfg = _data(
        {
            "facts": {"source": "materials_facts", "weight": 2, "cap": 600},
            "matsci_instruct": {"path": str(path), "weight": 1},
        },
        on_bad_record="skip",
    )
    with caplog.at_level("INFO"):
        records = load_records(cfg)
    # facts: pool 600 at 2/3 allows 900, matsci_instruct: 300 at 1/3 allows 900 -> 600 + 300.
    assert _counts(records) == {"facts": 600, "matsci_instruct": 300}
    assert "skipped 1 bad record(s)" in caplog.text  # the top-level on_bad_record=skip reached the component
    assert "weights sum to 3; normalised to facts 0.667, matsci_instruct 0.333" in caplog.text
    assert (
        f"realised/requested: facts 600/600 (weight 0.667, of {len(facts)}, cap 600) | matsci_instruct "
        "300/300 (weight 0.333, of 300) | total 900/900"
    ) in caplog.text
    fact_groups = {r.meta["group"] for r in facts}
    for r in records:
        name, _, group = r.meta["group"].partition(":")
        assert name == r.meta["mixture_source"]
        assert group in fact_groups if name == "facts" else group.startswith("#")
    assert len({r.meta["group"] for r in records if r.meta["mixture_source"] == "matsci_instruct"}) == 300


def test_groups_of_different_sources_never_collide():
    # Both sources use group "g0".."g9"; prefixed, a split keeps each source's groups apart.
    comps = [Component("x", 1), Component("y", 1)]
    records, _ = mix(comps, [_records("x", 40, per_group=4), _records("y", 40, per_group=4)], seed=0)
    assert len({r.meta["group"] for r in records}) == 20
    splits = split_records(records, 0.25, 0.25, seed=3)
    assert sum(len(v) for v in splits.values()) == 80


@pytest.mark.parametrize(
    "components,match",
    [
        ({"facts": {**FACTS, "weight": -1}}, r"data\.components\.facts\.weight=-1 must be a number >= 0"),
        ({"facts": {**FACTS, "weight": "lots"}}, r"data\.components\.facts\.weight='lots' must be"),
        ({"facts": {**FACTS, "wieght": 1}}, r"data\.components\.facts\.weight is required"),
        (
            {"facts": {**FACTS, "weight": 0}, "darwin_fair": {"weight": 0.0}},
            r"weight is 0 \(data\.components\.facts\.weight, data\.components\.darwin_fair\.weight\)",
        ),
        ({"facts": {**FACTS, "weight": 1, "cap": 0}}, r"data\.components\.facts\.cap=0 must be null or an"),
        ({"x": {"weight": 1}}, r"data\.components\.x\.source='x' is not one of: materials_facts, "),
        ({"x": {"source": "mixture", "weight": 1}}, r"data\.components\.x\.source='mixture' is not one of"),
        (
            {"matsci_instruct": {"weight": 1, "path": None}},
            r"data\.components\.matsci_instruct: data\.path is required for data=matsci_instruct",
        ),
        ({"facts": "materials_facts"}, r"data\.components\.facts must be a mapping"),
        ({}, r"data\.components is empty"),
    ],
)
def test_bad_options_name_the_option(components, match):
    with pytest.raises(ConfigError, match=match):
        load_records(_data(components))


@pytest.mark.parametrize(
    "top,match",
    [
        ({"total": 0}, r"data\.total=0 must be null or an integer >= 1"),
        ({"upsample": "yes"}, r"data\.upsample='yes' must be true or false"),
        ({"mixture_seed": 1.5}, r"data\.mixture_seed=1\.5 must be null \(split_seed\) or an integer"),
    ],
)
def test_bad_top_level_options(top, match):
    with pytest.raises(ConfigError, match=match):
        load_records(_data({"facts": {"source": "materials_facts", "weight": 1}}, **top))


def test_component_data_errors_name_the_component(tmp_path):
    cfg = _data({"matsci_instruct": {"path": str(tmp_path / "missing.json"), "weight": 1}})
    match = r"^data\.components\.matsci_instruct: data\.path=.*missing\.json: no such file"
    with pytest.raises(DataError, match=match):
        load_records(cfg)


def test_mixture_seed_overrides_split_seed():
    comps = {"facts": {"source": "materials_facts", "weight": 1, "cap": 50}}
    by_split_seed = load_records(_data(comps))
    same = load_records(_data(comps, mixture_seed=1234, split_seed=7))
    other = load_records(_data(comps, split_seed=7))
    assert [r.to_dict() for r in by_split_seed] == [r.to_dict() for r in same]
    assert [r.instruction + r.input for r in other] != [r.instruction + r.input for r in same]


def _compose(overrides: list[str]):
    """The training config as ``train.py`` composes it, with Hydra's runtime filled in for interpolations."""
    from hydra.core.hydra_config import HydraConfig

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    cfg.hydra.runtime.output_dir = "/tmp/honeybee-mixture-test"
    cfg.hydra.runtime.cwd = str(ROOT)
    HydraConfig.instance().set_config(cfg)
    return cfg


def test_documented_overrides_compose():
    """The yaml's examples: reweighting is a plain override; an extra component is added with ``+``."""
    from honeybee.data.mixture import parse_components

    extra = (
        "+data.components.darwin_cls={source: darwin_fair, path: ${paths.shared_data_dir}/darwin_fair, "
        "tasks: [matbench_glass, matbench_is_metal], weight: 0.2}"
    )
    argv = [
        "data=mixture",
        "data.components.matsci_instruct.weight=1",
        "data.components.matsci_instruct.path=x.json",
        extra,
    ]
    problem, cfg = check_overrides(argv, "train")
    assert problem is None and cfg.data.components.darwin_cls.weight == 0.2
    typo, _ = check_overrides(["data=mixture", "data.components.matsci_instrct.weight=1"], "train")
    assert typo.startswith("Could not override 'data.components.matsci_instrct.weight'")
    comps = {c.name: c for c in parse_components(_compose(argv).data, list(SOURCES))}
    assert list(comps) == ["materials_facts", "darwin_fair", "matsci_instruct", "darwin_cls"]
    assert comps["darwin_cls"].node["tasks"] == ["matbench_glass", "matbench_is_metal"]
    assert comps["darwin_cls"].node["path"] == str(ROOT / ".." / "shared" / "data" / "darwin_fair")
    assert comps["darwin_fair"].cap == 2000 and comps["matsci_instruct"].node["on_bad_record"] == "error"


@needs_shared(DARWIN)
@needs_shared(MATSCI_NLP)
@needs_shared(MATSCI_INSTRUCT)
def test_real_shared_data_mixture():
    cfg = OmegaConf.create(
        {
            "paths": {"shared_data_dir": str(SHARED_DATA)},
            "data": OmegaConf.load(ROOT / "conf" / "data" / "mixture.yaml"),
        }
    )
    comps = cfg.data.components
    comps.matsci_nlp.weight, comps.matsci_instruct.weight = 0.25, 0.25
    comps.matsci_instruct.path = str(MATSCI_INSTRUCT)
    comps.materials_facts.weight = comps.darwin_fair.weight = 0.25
    records = load_records(cfg.data)
    counts = _counts(records)
    # matsci_instruct (2,307) and materials_facts (1,126) are smallest; facts at 1/4 limit the total to 4,504.
    assert counts == dict.fromkeys(("materials_facts", "darwin_fair", "matsci_instruct", "matsci_nlp"), 1126)
    darwin = [r for r in records if r.meta["mixture_source"] == "darwin_fair"]
    assert {r.meta["task"] for r in darwin} == {p.stem for p in DARWIN.glob("*.json")} <= set(DARWIN_TASKS)
    splits = split_records(records, float(cfg.data.val_fraction), float(cfg.data.test_fraction), 1234)
    groups = {name: {r.meta["group"] for r in recs} for name, recs in splits.items()}
    assert not groups["train"] & groups["test"] and not groups["train"] & groups["val"]
    assert all({r.meta["mixture_source"] for r in recs} == counts.keys() for recs in splits.values())
    assert [r.to_dict() for r in load_records(cfg.data)] == [r.to_dict() for r in records]


@needs_shared(DARWIN)
def test_train_runs_on_the_default_mixture(train_run):
    r = train_run([*TINY, "data=mixture", "debug=fdr"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert (
        "mixture (seed 1234), realised/requested: materials_facts 1126/1126 (weight 0.500, of 1126) | "
        "darwin_fair 1126/1126 (weight 0.500, of 4768, cap 2000) | total 2252/2252"
    ) in r.stdout
    splits = r.run_dir / "splits"
    written = [json.loads(line) for s in ("train", "val", "test") for line in (splits / f"{s}.jsonl").open()]
    assert Counter(d["meta"]["mixture_source"] for d in written) == {
        "materials_facts": 1126,
        "darwin_fair": 1126,
    }

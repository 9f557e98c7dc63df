"""honeybee.study.stats: aggregates and significance tests, checked against numpy/scipy and hand counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from honeybee.study import stats


def test_aggregate_matches_numpy_and_drops_missing():
    vals = [1.0, 2.5, None, math.nan, 4.0, math.inf]
    a = stats.aggregate(vals)
    xs = np.array([1.0, 2.5, 4.0])
    assert a["n"] == 3 and a["n_missing"] == 3
    assert a["mean"] == pytest.approx(xs.mean()) and a["std"] == pytest.approx(xs.std(ddof=1))
    one = stats.aggregate([3.0, None])
    assert one == {"mean": 3.0, "std": None, "n": 1, "n_missing": 1}
    assert stats.aggregate([None, math.nan]) == {"mean": None, "std": None, "n": 0, "n_missing": 2}


def test_seed_test_one_sample_against_a_single_base_value():
    row = [1.0, 1.1, 0.9]
    t = stats.seed_test(row, [2.0])
    assert t["test"] == stats.SEED_TEST_ONE_SAMPLE
    assert t["p"] == pytest.approx(sps.ttest_1samp(row, 2.0).pvalue) and t["p"] < 0.05
    near = stats.seed_test([1.9, 2.3], [2.0])
    assert near["p"] == pytest.approx(sps.ttest_1samp([1.9, 2.3], 2.0).pvalue) and near["p"] >= 0.05


def test_seed_test_welch_when_the_base_has_several_values():
    row, base = [1.0, 1.2, 0.9, 1.1], [2.0, 2.4]
    t = stats.seed_test(row, base)
    assert t["test"] == stats.SEED_TEST_WELCH
    assert t["p"] == pytest.approx(sps.ttest_ind(row, base, equal_var=False).pvalue)


@pytest.mark.parametrize(
    ("row", "base", "reason"),
    [
        ([1.0], [2.0], "n=1"),
        ([1.0, None], [2.0], "n=1"),
        ([1.0, 2.0], [], "no base value"),
        ([3.0, 3.0], [2.0], "zero variance"),
    ],
)
def test_seed_test_is_absent_without_enough_data(row, base, reason):
    t = stats.seed_test(row, base)
    assert t["p"] is None and t["reason"] == reason
    assert not stats.significant(t["p"])


def test_mcnemar_exact_counts_discordant_pairs():
    base = [1] * 20 + [0] * 20
    row = [1] * 30 + [0] * 10  # 10 of the base's wrong records right, none lost
    t = stats.mcnemar_exact(base, row)
    assert (t["b"], t["c"]) == (0, 10) and t["p"] == pytest.approx(2 * 0.5**10)
    assert stats.mcnemar_exact(base, base) == {"b": 0, "c": 0, "p": 1.0}
    # 3 lost, 5 gained: two-sided exact binomial
    row2 = [0] * 3 + [1] * 17 + [1] * 5 + [0] * 15
    t2 = stats.mcnemar_exact(base, row2)
    assert (t2["b"], t2["c"]) == (3, 5) and t2["p"] == pytest.approx(sps.binomtest(5, 8, 0.5).pvalue)
    with pytest.raises(ValueError, match="differ in length"):
        stats.mcnemar_exact(base, row[:-1])


def test_paired_test_takes_the_largest_per_seed_p():
    base = [1] * 20 + [0] * 20
    strong, weak = [1] * 35 + [0] * 5, [1] * 22 + [0] * 18
    t = stats.paired_test(base, [strong, weak, None])
    assert len(t["per_seed"]) == 2
    assert t["p"] == pytest.approx(max(stats.mcnemar_exact(base, s)["p"] for s in (strong, weak)))
    assert not stats.significant(t["p"])  # significant in one seed only: no mark
    assert stats.significant(stats.paired_test(base, [strong, strong])["p"])
    assert stats.paired_test(None, [strong]) is None and stats.paired_test(base, [None]) is None
    bad = stats.paired_test(base, [strong, strong[:-1]])
    assert (
        bad["p"] == stats.mcnemar_exact(base, strong)["p"]
        and "differ in length" in bad["per_seed"][1]["reason"]
    )


def test_best_rows_by_direction_with_ties_and_missing():
    means = {"a": 1.0, "b": 0.5, "c": None, "d": math.nan, "e": 1.0}
    assert stats.best_rows(means, higher_is_better=True) == ["a", "e"]
    assert stats.best_rows(means, higher_is_better=False) == ["b"]
    assert stats.best_rows({"a": None}, True) == []


def test_welch_difference_and_p():
    a, b = [1.0, 1.1, 0.9], [1.9, 2.3]
    w = stats.welch(a, b)
    assert w["diff"] == pytest.approx(np.mean(a) - np.mean(b))
    assert w["p"] == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    one = stats.welch([1.0], b)
    assert one["p"] is None and one["reason"] == "n=1 vs n=2" and one["diff"] == pytest.approx(1.0 - 2.1)

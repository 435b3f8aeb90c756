"""The dashboard statistics agree with scipy (and textbook formulas) on known data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from reports.dashboards import stats

BEFORE = np.array([52.0, 40, 64, 28, 48, 36, 60, 44, 32, 56, 20, 68])
AFTER = np.array([60.0, 52, 64, 44, 52, 48, 72, 40, 48, 68, 36, 76])


def test_mean_ci_matches_scipy_t_interval():
    result = stats.mean_ci(BEFORE)
    low, high = sps.t.interval(0.95, len(BEFORE) - 1, loc=BEFORE.mean(), scale=sps.sem(BEFORE))
    assert result.n == 12
    assert result.mean == pytest.approx(BEFORE.mean())
    assert result.sd == pytest.approx(BEFORE.std(ddof=1))
    assert (result.low, result.high) == pytest.approx((low, high))


def test_mean_ci_ignores_missing_values_instead_of_counting_them_as_zero():
    result = stats.mean_ci([10.0, float("nan"), 20.0])
    assert result.n == 2
    assert result.mean == 15.0


def test_mean_ci_of_one_or_no_value_has_no_interval():
    assert math.isnan(stats.mean_ci([]).mean)
    one = stats.mean_ci([7.0])
    assert one.mean == 7.0 and math.isnan(one.low) and math.isnan(one.high)


def test_quartiles_match_numpy_and_whiskers_stop_at_the_last_value_inside_1_5_iqr():
    values = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 100])
    box = stats.quartiles(values)
    assert (box.q1, box.median, box.q3) == tuple(np.quantile(values, [0.25, 0.5, 0.75]))
    assert box.lower_whisker == 1.0
    assert box.upper_whisker == 8.0  # 100 is an outlier: beyond q3 + 1.5 IQR
    assert box.maximum == 100.0


def test_paired_change_matches_scipy_wilcoxon_and_cohens_dz():
    change = stats.paired_change(BEFORE, AFTER)
    diff = AFTER - BEFORE
    assert change.n == 12
    assert change.mean == pytest.approx(diff.mean())
    assert change.p_wilcoxon == pytest.approx(sps.wilcoxon(diff[diff != 0]).pvalue)
    assert change.p_wilcoxon == pytest.approx(sps.wilcoxon(AFTER, BEFORE, zero_method="wilcox").pvalue)
    assert change.d_z == pytest.approx(diff.mean() / diff.std(ddof=1))
    low, high = sps.t.interval(0.95, 11, loc=diff.mean(), scale=sps.sem(diff))
    assert (change.low, change.high) == pytest.approx((low, high))


def test_paired_change_uses_only_complete_pairs():
    change = stats.paired_change([1.0, 2.0, float("nan"), 4.0], [2.0, float("nan"), 5.0, 6.0])
    assert change.n == 2
    assert change.mean == pytest.approx(1.5)


def test_paired_change_without_any_difference_has_no_p_value_and_no_effect_size():
    change = stats.paired_change([3.0, 4.0, 5.0], [3.0, 4.0, 5.0])
    assert change.mean == 0
    assert math.isnan(change.p_wilcoxon)
    assert math.isnan(change.d_z)


def test_paired_change_refuses_unequal_lengths():
    with pytest.raises(ValueError):
        stats.paired_change([1.0, 2.0], [1.0])


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (47, 120), (1, 1)])
def test_wilson_interval_matches_scipy(k, n):
    expected = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    result = stats.wilson_ci(k, n)
    assert result.p == pytest.approx(k / n)
    assert (result.low, result.high) == pytest.approx((expected.low, expected.high))


def test_wilson_interval_of_nobody_is_undefined_and_bad_counts_are_refused():
    assert math.isnan(stats.wilson_ci(0, 0).p)
    with pytest.raises(ValueError):
        stats.wilson_ci(5, 3)


def test_reliable_change_index_follows_jacobson_and_truax():
    sd, r = 5.0, 0.85
    s_diff = math.sqrt(2 * (sd * math.sqrt(1 - r)) ** 2)
    index = stats.reliable_change_index([10.0, 20.0], [16.0, 21.0], sd, r)
    assert index == pytest.approx([6 / s_diff, 1 / s_diff])
    assert stats.reliable_change_threshold(sd, r) == pytest.approx(1.959964 * s_diff, rel=1e-6)
    assert index[0] >= stats.RCI_CRITICAL > index[1]


def test_reliable_change_index_refuses_impossible_reliability_and_flat_baselines():
    with pytest.raises(ValueError):
        stats.reliable_change_index([1.0], [2.0], 5.0, 1.0)
    assert np.isnan(stats.reliable_change_index([1.0], [2.0], 0.0, 0.85)).all()

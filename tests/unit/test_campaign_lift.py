"""Welch's interval for a campaign's lift, checked against SciPy's own Welch t-test, and the
incremental return on its cost."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rewards.campaigns.lift import MIN_GROUP, incremental_roi, welch_interval

spends = st.lists(
    st.integers(min_value=0, max_value=500_000), min_size=MIN_GROUP, max_size=120
).filter(lambda values: len(set(values)) > 1)


@settings(max_examples=60, deadline=None)
@given(treated=spends, holdout=spends)
def test_the_interval_is_scipys_welch_interval(treated, holdout):
    ours = welch_interval(treated, holdout)
    theirs = stats.ttest_ind(treated, holdout, equal_var=False).confidence_interval(0.95)
    assert ours is not None
    assert ours.low == pytest.approx(theirs.low, rel=1e-9, abs=1e-6)
    assert ours.high == pytest.approx(theirs.high, rel=1e-9, abs=1e-6)


def test_a_known_case():
    rng = random.Random(3)
    treated = [rng.gauss(220, 40) for _ in range(200)]
    holdout = [rng.gauss(200, 40) for _ in range(200)]
    interval = welch_interval(treated, holdout)
    assert interval is not None
    assert interval.low < 20 < interval.high  # the true difference is inside
    assert 10 < interval.high - interval.low < 25  # about 2 × 1.97 × 4


@pytest.mark.parametrize("short", ["treated", "holdout"])
def test_groups_below_the_minimum_give_no_interval(short):
    big, small = [100, 200] * MIN_GROUP, [100, 200] * (MIN_GROUP // 2 - 1) + [150]
    groups = (small, big) if short == "treated" else (big, small)
    assert len(small) == MIN_GROUP - 1
    assert welch_interval(*groups) is None


def test_groups_without_spread_give_the_difference_itself():
    interval = welch_interval([300] * MIN_GROUP, [200] * MIN_GROUP)
    assert interval is not None
    assert (interval.low, interval.high) == (100, 100)


def test_incremental_roi():
    # 10,000.00 more sales at a 30 % margin against a cost of 1,000.00: 3,000 − 1,000 = 2 × cost
    assert incremental_roi(1_000_000, Decimal("0.30"), 100_000) == Decimal(2)
    assert incremental_roi(-50_000, Decimal("0.30"), 100_000) == Decimal("-1.15")
    assert incremental_roi(1_000_000, Decimal("0.30"), 0) is None

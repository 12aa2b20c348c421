"""RFM segment names: the documented grid of recency against the mean of frequency and spend."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from members.metrics import rfm
from members.metrics.service import year_before


@pytest.mark.parametrize(
    ("scores", "name"),
    [
        ((5, 5, 5), "Champions"),
        ((4, 4, 4), "Champions"),
        ((5, 4, 5), "Champions"),
        ((4, 3, 4), "Loyal"),
        ((3, 5, 5), "Loyal"),
        ((3, 3, 3), "Loyal"),
        ((5, 2, 2), "Potential loyalist"),
        ((3, 2, 2), "Potential loyalist"),
        ((5, 1, 1), "New"),
        ((4, 1, 2), "New"),
        ((2, 3, 3), "At risk"),
        ((1, 4, 3), "At risk"),
        ((2, 5, 5), "Cannot lose them"),
        ((1, 4, 4), "Cannot lose them"),
        ((3, 1, 1), "Hibernating"),
        ((2, 2, 2), "Hibernating"),
        ((1, 2, 2), "Lost"),
        ((1, 1, 1), "Lost"),
    ],
)
def test_a_member_is_named_from_recency_and_the_mean_of_frequency_and_spend(scores, name):
    assert rfm.segment(*scores) == name


def test_the_mean_of_frequency_and_spend_is_rounded_down():
    assert [rfm.fm_score(f, m) for f, m in [(1, 2), (4, 5), (5, 4), (3, 3), (1, 5)]] == [
        1,
        4,
        4,
        3,
        3,
    ]
    assert rfm.segment(5, 3, 4) == "Loyal"
    assert rfm.segment(5, 4, 4) == "Champions"


def test_every_combination_of_scores_has_one_of_the_eight_names():
    named = {rfm.segment(*scores) for scores in itertools.product(rfm.SCORES, repeat=3)}
    assert named == set(rfm.SEGMENTS)
    assert len(rfm.SEGMENTS) == 8


def test_more_recent_buyers_never_fall_in_a_lower_segment():
    order = ["Lost", "Hibernating", "At risk", "Cannot lose them", "New", "Potential loyalist"]
    order += ["Loyal", "Champions"]
    for f, m in itertools.product(rfm.SCORES, repeat=2):
        ranks = [order.index(rfm.segment(r, f, m)) for r in (1, 3, 5)]
        assert ranks == sorted(ranks), (f, m)


def test_the_sql_lookup_gives_the_same_names_as_the_grid():
    codes = rfm.segment_codes()
    assert len(codes) == 25
    for r, f, m in itertools.product(rfm.SCORES, repeat=3):
        assert codes[r * 10 + (f + m) // 2] == rfm.segment(r, f, m)


@pytest.mark.parametrize("scores", [(0, 3, 3), (6, 3, 3), (3, 0, 3), (3, 3, 6), (-1, 1, 1)])
def test_scores_outside_one_to_five_are_refused(scores):
    with pytest.raises(ValueError, match="from 1 to 5"):
        rfm.segment(*scores)


@pytest.mark.parametrize(
    ("day", "before"),
    [("2026-11-23", "2025-11-23"), ("2028-02-29", "2027-02-28"), ("2027-01-01", "2026-01-01")],
)
def test_twelve_months_start_after_the_same_day_a_year_before(day, before):
    assert year_before(date.fromisoformat(day)) == date.fromisoformat(before)

"""Lot rules: when earned points expire, and which lots a debit takes from."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from rewards.ledger.lots import allocate, expiry_for, lot_share_of_credit, lot_share_of_debit

BANGKOK = ZoneInfo("Asia/Bangkok")
TZ = "Asia/Bangkok"


def bangkok(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BANGKOK)


def test_points_earned_late_on_the_last_day_of_a_month_expire_at_the_end_of_its_24th_month():
    expires = expiry_for(bangkok(2026, 1, 31, 23, 30), 24, TZ)
    assert expires == bangkok(2028, 2, 1)
    assert expires == datetime(2028, 1, 31, 17, 0, tzinfo=UTC)


def test_the_month_earned_is_the_month_in_bangkok_not_in_utc():
    earned = datetime(2026, 1, 31, 18, 30, tzinfo=UTC)  # 2026-02-01 01:30 in Bangkok
    assert expiry_for(earned, 24, TZ) == bangkok(2028, 3, 1)


def test_points_earned_at_the_first_instant_of_a_month_belong_to_that_month():
    assert expiry_for(bangkok(2026, 3, 1, 0, 0), 24, TZ) == bangkok(2028, 4, 1)


def test_the_expiry_month_wraps_into_the_next_year():
    assert expiry_for(bangkok(2026, 12, 15, 9, 0), 24, TZ) == bangkok(2029, 1, 1)
    assert expiry_for(bangkok(2026, 11, 15, 9, 0), 1, TZ) == bangkok(2027, 1, 1)


def test_a_leap_february_ends_after_its_29th_day():
    expires = expiry_for(bangkok(2026, 2, 10), 24, TZ)
    assert expires == bangkok(2028, 3, 1)
    assert expires > bangkok(2028, 2, 29, 23, 59, 59)


def test_zero_months_means_the_end_of_the_month_earned():
    assert expiry_for(bangkok(2026, 5, 20), 0, TZ) == bangkok(2026, 6, 1)


def test_expiry_is_returned_timezone_aware_in_utc():
    expires = expiry_for(bangkok(2026, 7, 4, 12, 0), 24, TZ)
    assert expires.tzinfo == UTC
    assert expires.utcoffset().total_seconds() == 0


def test_the_program_time_zone_decides_the_month():
    earned = datetime(2026, 1, 31, 20, 0, tzinfo=UTC)
    assert expiry_for(earned, 24, "UTC") == datetime(2028, 2, 1, tzinfo=UTC)
    assert expiry_for(earned, 24, TZ) == bangkok(2028, 3, 1)


def test_allocation_takes_lots_in_the_order_given_until_the_points_are_covered():
    assert allocate([(7, 5), (3, 10), (9, 4)], 12) == [(7, 5), (3, 7)]


def test_allocation_takes_a_whole_lot_exactly_and_stops():
    assert allocate([(1, 5), (2, 5)], 5) == [(1, 5)]


def test_allocation_skips_empty_lots():
    assert allocate([(1, 0), (2, 3), (3, 0), (4, 8)], 6) == [(2, 3), (4, 3)]


def test_allocation_takes_less_than_asked_only_when_the_lots_run_out():
    assert allocate([(1, 2), (2, 3)], 10) == [(1, 2), (2, 3)]


@pytest.mark.parametrize("points", [0, -5])
def test_allocating_nothing_takes_nothing(points):
    assert allocate([(1, 2), (2, 3)], points) == []


def test_allocation_from_no_lots_is_empty():
    assert allocate([], 4) == []


@pytest.mark.parametrize(
    ("points", "balance_after", "into_lots"),
    [
        (10, 10, 10),  # from zero: everything forms a lot
        (10, 25, 10),  # on top of a positive balance
        (10, 6, 6),  # a balance of -4 is paid off first
        (10, 0, 0),  # a balance of -10 swallows it all
        (10, -3, 0),  # still negative afterwards
    ],
)
def test_a_credit_pays_off_a_negative_balance_before_it_forms_a_lot(
    points, balance_after, into_lots
):
    assert lot_share_of_credit(points, balance_after) == into_lots


@pytest.mark.parametrize(
    ("points", "balance_before", "from_lots"),
    [
        (4, 10, 4),  # covered by the lots
        (10, 10, 10),  # empties them
        (10, 6, 6),  # a reversal beyond the balance takes only what the lots hold
        (5, 0, 0),  # nothing in lots at a zero balance
        (5, -2, 0),  # nor below zero
    ],
)
def test_a_debit_takes_from_lots_only_down_to_a_zero_balance(points, balance_before, from_lots):
    assert lot_share_of_debit(points, balance_before) == from_lots

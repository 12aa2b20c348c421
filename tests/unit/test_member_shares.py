"""A member's share of the analytics member counts: spells of activity, weeks with the days
bought on, months by cohort, enrolment, and what is left out."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from rewards.analytics.member_shares import Standing, shares, spells
from rewards.analytics.periods import day_number, day_of, monday, month_label, month_number

BANGKOK = ZoneInfo("Asia/Bangkok")


def test_a_spell_lasts_active_days_from_each_sale_and_joins_overlapping_ones():
    assert spells([], 90) == []
    assert spells([10], 90) == [(10, 99)]
    assert spells([10, 99], 90) == [(10, 188)]  # the second sale falls within the first spell
    assert spells([10, 100], 90) == [(10, 99), (100, 189)]  # the day after: a spell of its own
    assert spells([1, 2, 3, 200], 30) == [(1, 32), (200, 229)]


def test_days_are_counted_in_the_programs_time_zone():
    # 18:30 UTC on 31 Dec is 01:30 on 1 Jan in Bangkok
    late = datetime(2025, 12, 31, 18, 30, tzinfo=UTC)
    assert day_number(late, BANGKOK) == day_of(date(2026, 1, 1))
    assert monday(day_of(date(2026, 1, 1))) == day_of(date(2025, 12, 29))
    assert month_label(month_number(date(2026, 1, 1))) == "2026-01"


def _at(day: date, hour: int = 5) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_a_members_share():
    enrolled = _at(date(2026, 3, 2))  # a Monday
    sales = [
        (_at(date(2026, 3, 1)), 3),  # before enrolment: left out
        (_at(date(2026, 3, 2)), 3),  # home store, Monday
        (_at(date(2026, 3, 4)), 5),  # another store, Wednesday of the same week
        (_at(date(2026, 4, 20)), 3),  # home store, the next month
    ]
    got = shares(Standing(enrolled, 3, "gold", 120), sales, BANGKOK, 30)
    start, march, april = day_of(date(2026, 3, 2)), 2026 * 12 + 2, 2026 * 12 + 3
    wednesday = 1 << 2
    assert got == {
        ("enrol", 0, 0, start): 1,
        ("enrol", 3, 0, start): 1,
        ("tier:gold", 0, 0, 0): 1,  # the tier held now, and the points above zero
        ("tier:gold", 3, 0, 0): 1,
        ("points:gold", 0, 0, 0): 120,
        ("points:gold", 3, 0, 0): 120,
        ("week", 0, 1 | wednesday, start): 1,  # both days, for the whole program
        ("week", 3, 1, start): 1,
        ("week", 5, wednesday, start): 1,
        ("week", 0, 1, day_of(date(2026, 4, 20))): 1,
        ("week", 3, 1, day_of(date(2026, 4, 20))): 1,
        ("month", 0, march, march): 1,
        ("month", 3, march, march): 1,
        ("month", 0, march, april): 1,
        ("month", 3, march, april): 1,
        # the whole program: 2 Mar–2 Apr (the sale of 4 Mar extends it), then 20 Apr–19 May
        ("active", 0, 0, start): 1,
        ("active", 0, 0, day_of(date(2026, 4, 2)) + 1): -1,
        ("active", 0, 0, day_of(date(2026, 4, 20))): 1,
        ("active", 0, 0, day_of(date(2026, 5, 19)) + 1): -1,
        # the home store counts its own sales only: 2–31 Mar, then 20 Apr–19 May
        ("active", 3, 0, start): 1,
        ("active", 3, 0, day_of(date(2026, 3, 31)) + 1): -1,
        ("active", 3, 0, day_of(date(2026, 4, 20))): 1,
        ("active", 3, 0, day_of(date(2026, 5, 19)) + 1): -1,
    }


def test_a_member_with_no_enrolment_store_counts_for_the_whole_program_only():
    enrolled = _at(date(2026, 3, 2))
    owing = Standing(enrolled, None, "member", -15)
    got = shares(owing, [(_at(date(2026, 3, 3)), 4)], BANGKOK, 30)
    assert ("enrol", 0, 0, day_of(date(2026, 3, 2))) in got
    assert got[("tier:member", 0, 0, 0)] == 1
    assert ("points:member", 0, 0, 0) not in got  # a balance below zero is owed, not held
    assert not any(k[0] != "week" and k[1] != 0 for k in got)
    assert got[("week", 4, 1 << 1, day_of(date(2026, 3, 2)))] == 1  # buyers at the store

"""Tier policy rules: windows, reviews, upgrades, downgrades, progress and the document."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from members.tiers.policy import (
    TierPolicy,
    add_months,
    document_problems,
    normalised,
    period_start,
    progress,
    review_at,
    review_to,
    review_window,
    upgrade_to,
    window_days,
)

BANGKOK = ZoneInfo("Asia/Bangkok")
TZ = "Asia/Bangkok"


def document(**changes) -> dict:
    doc = {
        "basis": "spend",
        "window": {"type": "rolling", "months": 12},
        "downgrade": "period_end",
        "tiers": [
            {"code": "member", "name": "Member", "threshold": "0", "multiplier": "1.0"},
            {"code": "silver", "threshold": "10000.00", "multiplier": "1.25"},
            {
                "code": "gold",
                "threshold": "50000.00",
                "multiplier": "1.5",
                "privileges": ["lounge"],
            },
        ],
    }
    doc.update(changes)
    return doc


def ladder(**changes) -> TierPolicy:
    return TierPolicy.from_document(document(**changes))


def test_a_document_reads_into_a_ladder_in_minor_units_with_defaults():
    policy = ladder()
    assert [(t.code, t.threshold) for t in policy.tiers] == [
        ("member", 0),
        ("silver", 1_000_000),
        ("gold", 5_000_000),
    ]
    assert policy.tiers[1].name == "Silver"
    assert policy.tiers[2].multiplier == Decimal("1.5")
    assert policy.tiers[2].privileges == ("lounge",)
    assert (policy.window_type, policy.window_months) == ("rolling", 12)


def test_points_thresholds_are_points():
    policy = ladder(
        basis="points",
        tiers=[{"code": "member", "threshold": "0"}, {"code": "vip", "threshold": "500"}],
    )
    assert [t.threshold for t in policy.tiers] == [0, 500]


@pytest.mark.parametrize(
    ("qualifying", "tier"),
    [
        (0, "member"),
        (999_999, "member"),
        (1_000_000, "silver"),
        (4_999_999, "silver"),
        (5_000_000, "gold"),
        (10**9, "gold"),
    ],
)
def test_the_tier_reached_is_the_highest_threshold_met(qualifying, tier):
    assert ladder().reached(qualifying).code == tier


def test_an_upgrade_only_goes_up():
    policy = ladder()
    assert upgrade_to(policy, "member", 1_000_000).code == "silver"
    assert upgrade_to(policy, "member", 6_000_000).code == "gold"
    assert upgrade_to(policy, "silver", 1_500_000) is None
    assert upgrade_to(policy, "gold", 1_500_000) is None


@pytest.mark.parametrize(
    ("downgrade", "current", "qualifying", "after"),
    [
        ("period_end", "gold", 0, "member"),
        ("period_end", "gold", 1_200_000, "silver"),
        ("period_end", "gold", 5_000_000, "gold"),
        ("one_tier", "gold", 0, "silver"),
        ("one_tier", "silver", 0, "member"),
        ("one_tier", "gold", 5_000_000, "gold"),
        ("period_end", "silver", 5_000_000, "gold"),  # a review raises a tier the window reached
        ("one_tier", "member", 0, "member"),
    ],
)
def test_a_review_keeps_lowers_or_raises_by_policy(downgrade, current, qualifying, after):
    assert review_to(ladder(downgrade=downgrade), current, qualifying).code == after


def test_an_unknown_tier_counts_as_the_lowest():
    policy = ladder()
    assert policy.rank("bronze") == 0
    assert upgrade_to(policy, "bronze", 1_000_000).code == "silver"


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2026, 11, 23), 12, date(2027, 11, 23)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 1, 10), -12, date(2025, 1, 10)),
    ],
)
def test_months_are_added_on_the_calendar(day, months, expected):
    assert add_months(day, months) == expected


def test_a_rolling_window_is_the_months_up_to_the_day():
    assert window_days(ladder(), date(2026, 11, 23)) == (date(2025, 11, 24), date(2026, 11, 23))
    three = ladder(window={"type": "rolling", "months": 3})
    assert window_days(three, date(2026, 5, 31)) == (date(2026, 3, 1), date(2026, 5, 31))


def test_a_calendar_year_window_starts_on_the_first_of_january():
    policy = ladder(window={"type": "calendar_year"})
    assert window_days(policy, date(2026, 11, 23)) == (date(2026, 1, 1), date(2026, 11, 23))
    assert window_days(policy, date(2026, 1, 1)) == (date(2026, 1, 1), date(2026, 1, 1))


def test_a_tier_reached_is_held_from_the_next_program_day_and_a_review_starts_a_period():
    # 20:00 UTC is already the 16th in Bangkok
    assert period_start(datetime(2026, 3, 15, 20, 0, tzinfo=UTC), TZ, reached=True) == date(
        2026, 3, 17
    )
    review = datetime(2027, 3, 16, tzinfo=BANGKOK)
    assert period_start(review, TZ, reached=False) == date(2027, 3, 16)


def test_a_rolling_review_is_at_midnight_the_months_after_the_period_starts():
    assert review_at(ladder(), date(2026, 3, 16), TZ) == datetime(2027, 3, 16, tzinfo=BANGKOK)
    three = ladder(window={"type": "rolling", "months": 3})
    assert review_at(three, date(2026, 11, 30), TZ) == datetime(2027, 2, 28, tzinfo=BANGKOK)


def test_a_calendar_year_review_is_at_the_new_year_after_the_period_starts():
    policy = ladder(window={"type": "calendar_year"})
    assert review_at(policy, date(2026, 6, 2), TZ) == datetime(2027, 1, 1, tzinfo=BANGKOK)
    # reached on the last day of a year: held through the next one
    assert review_at(policy, date(2027, 1, 1), TZ) == datetime(2028, 1, 1, tzinfo=BANGKOK)


def test_the_windows_of_successive_rolling_periods_neither_overlap_nor_leave_a_gap():
    policy = ladder()
    first = review_at(
        policy, period_start(datetime(2026, 3, 15, 12, tzinfo=BANGKOK), TZ, reached=True), TZ
    )
    second = review_at(policy, period_start(first, TZ, reached=False), TZ)
    assert review_window(policy, first, TZ) == (date(2026, 3, 16), date(2027, 3, 15))
    assert review_window(policy, second, TZ) == (date(2027, 3, 16), date(2028, 3, 15))


def test_a_review_is_decided_by_the_window_ending_the_day_before_it():
    rolling = ladder()
    due = datetime(2027, 3, 15, tzinfo=BANGKOK)
    assert review_window(rolling, due, TZ) == (date(2026, 3, 15), date(2027, 3, 14))
    year = ladder(window={"type": "calendar_year"})
    new_year = datetime(2027, 1, 1, tzinfo=BANGKOK)
    assert review_window(year, new_year, TZ) == (date(2026, 1, 1), date(2026, 12, 31))


def test_progress_names_the_next_tier_and_what_keeps_the_current_one():
    due = datetime(2027, 3, 15, tzinfo=BANGKOK)
    found = progress(ladder(), "silver", qualifying=1_500_000, keeping=400_000, review=due)
    assert (found.next_tier, found.to_next) == ("gold", 3_500_000)
    assert (found.to_keep, found.keep_by) == (600_000, due)


def test_progress_at_the_top_and_at_the_bottom():
    top = progress(ladder(), "gold", 6_000_000, 6_000_000, datetime(2027, 1, 1, tzinfo=UTC))
    assert (top.next_tier, top.to_next, top.to_keep) == (None, None, 0)
    bottom = progress(ladder(), "member", 250_000, 250_000, None)
    assert (bottom.next_tier, bottom.to_next) == ("silver", 750_000)
    assert (bottom.to_keep, bottom.keep_by) == (None, None)


@pytest.mark.parametrize(
    ("tiers", "field"),
    [
        ([{"code": "basic", "threshold": "0"}], "tiers.0.code"),
        ([{"code": "member", "threshold": "0"}, {"code": "member", "threshold": "5"}], "tiers"),
        (
            [
                {"code": "member", "threshold": "0"},
                {"code": "a", "threshold": "9"},
                {"code": "b", "threshold": "5"},
            ],
            "tiers",
        ),
        ([{"code": "member", "threshold": "0"}, {"code": "a", "threshold": "0"}], "tiers"),
        ([{"code": "member", "threshold": "10"}], "tiers.0.threshold"),
    ],
)
def test_a_ladder_that_breaks_a_rule_names_the_field(tiers, field):
    assert [f for f, _ in document_problems(document(tiers=tiers))] == [field]


def test_points_thresholds_must_be_whole():
    tiers = [{"code": "member", "threshold": "0"}, {"code": "vip", "threshold": "10.50"}]
    assert document_problems(document(basis="points", tiers=tiers)) == [
        ("tiers", "points thresholds are whole numbers")
    ]
    assert document_problems(document()) == []


def test_the_stored_document_has_every_field_in_a_single_form():
    doc = document(
        tiers=[
            {"code": "member", "threshold": Decimal("0"), "multiplier": Decimal("1")},
            {
                "code": "silver",
                "name": " Silver ",
                "threshold": Decimal("10000.5"),
                "multiplier": 2,
            },
        ]
    )
    assert normalised(doc)["tiers"] == [
        {
            "code": "member",
            "name": "Member",
            "threshold": "0.00",
            "multiplier": "1.0",
            "privileges": [],
        },
        {
            "code": "silver",
            "name": "Silver",
            "threshold": "10000.50",
            "multiplier": "2.0",
            "privileges": [],
        },
    ]
    points = normalised(
        document(
            basis="points",
            window={"type": "calendar_year"},
            tiers=[{"code": "member", "threshold": "0"}],
        )
    )
    assert points["window"] == {"type": "calendar_year"}
    assert points["tiers"][0]["threshold"] == "0"
    assert normalised(document())["tiers"][1]["multiplier"] == "1.25"

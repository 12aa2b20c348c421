"""The engine's pure planning: holdout hashing, limit periods, effect worth, the plan itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from rewards.campaigns.planning import (
    Basket,
    CampaignRule,
    Effect,
    Event,
    effect_points,
    in_holdout,
    ordered,
    period_start,
    plan,
    within_limits,
)
from rewards.campaigns.rules import Line
from rewards.earning.points import EarnBasis

TZ = "Asia/Bangkok"
BANGKOK = ZoneInfo(TZ)
AT = datetime(2026, 3, 4, 5, 0, tzinfo=UTC)  # a Wednesday, noon in Bangkok
DEFAULT = EarnBasis(points=1, amount_minor=2500)
LINES = (
    Line("CF-LATTE", "coffee", Decimal(2), 10_000),
    Line("BK-CAKE", "bakery", Decimal(1), 5_000),
)


def basket(base: int = 6, basis: EarnBasis = DEFAULT, lines: tuple = LINES) -> Basket:
    total = sum(line.amount_minor for line in lines)
    return Basket(total, "BKK01", lines, base, basis)


def rule(campaign_id: int = 1, **doc: Any) -> CampaignRule:
    """A sale campaign awarding 10 points, compiled from its JSON like the engine does."""
    window = {k: doc.pop(k) for k in ("starts_at", "ends_at") if k in doc}
    body = {
        "name": f"Campaign {campaign_id}",
        "trigger": "transaction.recorded",
        "effects": [{"type": "award_points", "points": 10}],
        **doc,
    }
    return CampaignRule.compile(campaign_id, 1, body, **window)


def sale(member_id: int = 7, at: datetime = AT, **extra: Any) -> Event:
    return Event("transaction.recorded", f"txn:{member_id}", member_id, at, basket(), **extra)


@dataclass
class FakeLimits:
    """What campaigns have given so far, held in memory; records what planning asked."""

    used: dict[int, int] = field(default_factory=dict)
    budgets: dict[int, tuple[int, int]] = field(default_factory=dict)
    asked_periods: list[tuple[datetime, datetime] | None] = field(default_factory=list)
    budget_reads: int = 0

    def used_by_member(
        self, rule: CampaignRule, member_id: int, period: tuple[datetime, datetime] | None
    ) -> int:
        self.asked_periods.append(period)
        return self.used.get(rule.id, 0)

    def budget_used(self, rule: CampaignRule) -> tuple[int, int]:
        self.budget_reads += 1
        return self.budgets.get(rule.id, (0, 0))


# in_holdout


def test_the_holdout_is_the_same_for_a_member_every_time():
    first = [in_holdout(3, member, 50) for member in range(1, 501)]
    again = [in_holdout(3, member, 50) for member in range(1, 501)]
    assert first == again


@pytest.mark.parametrize("percent", [10, 50, 90])
def test_the_holdout_takes_roughly_its_share(percent):
    held = sum(in_holdout(11, member, percent) for member in range(1, 10_001))
    assert abs(held - percent * 100) < 300  # within 3 points of the share over 10 000 members


def test_no_holdout_keeps_nobody_out():
    assert not any(in_holdout(11, member, 0) for member in range(1, 2_001))


def test_a_larger_holdout_keeps_out_everyone_a_smaller_one_did():
    small = {m for m in range(1, 2_001) if in_holdout(4, m, 20)}
    large = {m for m in range(1, 2_001) if in_holdout(4, m, 50)}
    assert small < large


def test_each_campaign_draws_its_own_holdout():
    one = {m for m in range(1, 2_001) if in_holdout(1, m, 50)}
    two = {m for m in range(1, 2_001) if in_holdout(2, m, 50)}
    assert one != two
    assert one & two  # independent draws overlap, too


# period_start


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "at", "start_in_bangkok"),
    [
        # 16:59 UTC is 23:59 in Bangkok: still Sunday 1 March there
        ("day", utc(2026, 3, 1, 16, 59), datetime(2026, 3, 1)),
        # 17:30 UTC on 1 March is 00:30 on Monday 2 March in Bangkok
        ("day", utc(2026, 3, 1, 17, 30), datetime(2026, 3, 2)),
        ("week", utc(2026, 3, 1, 16, 59), datetime(2026, 2, 23)),
        ("week", utc(2026, 3, 1, 17, 30), datetime(2026, 3, 2)),
        ("week", utc(2026, 3, 8, 16, 59), datetime(2026, 3, 2)),  # Sunday 23:59 in Bangkok
        ("month", utc(2026, 2, 28, 16, 59), datetime(2026, 2, 1)),
        ("month", utc(2026, 2, 28, 17, 30), datetime(2026, 3, 1)),
        ("month", utc(2026, 12, 31, 17, 0), datetime(2027, 1, 1)),
    ],
)
def test_a_limit_period_starts_at_midnight_in_bangkok(period, at, start_in_bangkok):
    start = period_start(period, at, TZ)
    assert start == start_in_bangkok.replace(tzinfo=BANGKOK)
    assert start <= at


def test_a_campaign_long_period_has_no_start():
    assert period_start("campaign", AT, TZ) is None


# effect_points


def effect(**data: Any) -> Effect:
    return Effect.from_json(0, data)


def test_a_fixed_award_is_worth_its_points_with_or_without_a_basket():
    award = effect(type="award_points", points=30)
    assert effect_points(award, basket()) == 30
    assert effect_points(award, None) == 30


@pytest.mark.parametrize(
    ("scope", "points"),
    [
        (None, 15 * 2),  # 150.00 in all: 15 × 10.00
        ({"category": ["bakery"]}, 5 * 2),
        ({"sku": ["CF-LATTE"]}, 10 * 2),
        ({"sku": ["CF-LATTE"], "category": ["bakery"]}, 15 * 2),
        ({"category": ["tea"]}, 0),
    ],
)
def test_points_per_amount_counts_the_scoped_lines(scope, points):
    data = {"type": "points_per_amount", "points": 2, "amount": "10.00"}
    per_amount = effect(**data, **({"scope": scope} if scope else {}))
    assert effect_points(per_amount, basket()) == points


def test_effects_that_need_a_sale_are_worth_nothing_without_one():
    assert effect_points(effect(type="points_per_amount", points=2, amount="10.00"), None) == 0
    assert effect_points(effect(type="multiply_points", factor=2), None) == 0


@pytest.mark.parametrize(
    ("factor", "scope", "base", "basis", "points"),
    [
        (2, None, 6, DEFAULT, 6),
        ("1.5", None, 6, DEFAULT, 3),
        ("1.5", None, 5, DEFAULT, 2),  # 2.5 rounded down
        (3, None, 0, DEFAULT, 0),  # no base points (the base rule paused): nothing to multiply
        (2, {"sku": ["CF-LATTE"]}, 6, DEFAULT, 4),  # the latte's 100.00 earns 4 base points
        (2, {"category": ["bakery"]}, 6, DEFAULT, 2),
        (2, {"category": ["tea"]}, 6, DEFAULT, 0),
        # a gold member's base includes the tier multiplier, and so does the scoped part
        (2, {"sku": ["CF-LATTE"]}, 9, EarnBasis(1, 2500, Decimal("1.5")), 6),
        # never more than the sale's base points, whatever the scope
        (2, {"sku": ["CF-LATTE"]}, 3, DEFAULT, 3),
    ],
)
def test_multiply_points_adds_the_extra_on_the_scoped_base(factor, scope, base, basis, points):
    multiplier = effect(
        type="multiply_points", factor=factor, **({"scope": scope} if scope else {})
    )
    assert effect_points(multiplier, basket(base, basis)) == points


@pytest.mark.parametrize(
    "data",
    [
        {"type": "issue_reward", "reward_id": 3},
        {"type": "send_message", "channel": "sms", "template": "welcome"},
        {"type": "tag_member", "tag": "vip"},
    ],
)
def test_effects_that_give_no_points_are_worth_none(data):
    assert effect_points(effect(**data), basket()) == 0


# within_limits


def test_no_limits_are_never_read():
    limits = FakeLimits()
    assert within_limits(rule(), sale(), 10, limits, TZ)
    assert (limits.asked_periods, limits.budget_reads) == ([], 0)


@pytest.mark.parametrize(("used", "allowed"), [(0, True), (1, True), (2, False), (5, False)])
def test_a_per_member_limit_allows_up_to_its_count(used, allowed):
    limited = rule(limits={"per_member": {"count": 2, "period": "day"}})
    assert within_limits(limited, sale(), 10, FakeLimits(used={1: used}), TZ) is allowed


@pytest.mark.parametrize(
    ("period", "bounds"),
    [
        ("day", (datetime(2026, 3, 4, tzinfo=BANGKOK), datetime(2026, 3, 5, tzinfo=BANGKOK))),
        ("week", (datetime(2026, 3, 2, tzinfo=BANGKOK), datetime(2026, 3, 9, tzinfo=BANGKOK))),
        ("month", (datetime(2026, 3, 1, tzinfo=BANGKOK), datetime(2026, 4, 1, tzinfo=BANGKOK))),
        ("campaign", None),
    ],
)
def test_a_per_member_limit_counts_within_its_period(period, bounds):
    limits = FakeLimits()
    limited = rule(limits={"per_member": {"count": 1, "period": period}})
    assert within_limits(limited, sale(), 10, limits, TZ)
    assert limits.asked_periods == [bounds]


@pytest.mark.parametrize(
    ("budget", "used", "points", "allowed"),
    [
        ({"budget_points": 100}, (90, 9), 10, True),  # exactly the budget
        ({"budget_points": 100}, (91, 9), 10, False),
        ({"budget_points": 100}, (0, 0), 101, False),
        ({"budget_count": 3}, (500, 2), 10, True),
        ({"budget_count": 3}, (0, 3), 10, False),
        ({"budget_points": 100, "budget_count": 3}, (10, 3), 10, False),
        ({"budget_points": 100, "budget_count": 3}, (95, 1), 10, False),
    ],
)
def test_a_budget_is_never_exceeded(budget, used, points, allowed):
    budgeted = rule(limits=budget)
    assert within_limits(budgeted, sale(), points, FakeLimits(budgets={1: used}), TZ) is allowed


# plan


def ids(outcomes: list) -> list[tuple[int, str]]:
    return [(o.rule.id, o.group) for o in outcomes]


def test_campaigns_are_ordered_by_priority_then_age():
    rules = [rule(1, priority=0), rule(2, priority=50), rule(3, priority=50), rule(4, priority=-5)]
    assert [r.id for r in ordered(rules)] == [2, 3, 1, 4]


def test_every_stackable_campaign_that_holds_applies():
    rules = ordered([rule(1, priority=1), rule(2, priority=9)])
    outcomes = plan(rules, sale(), {}, FakeLimits(), TZ)
    assert ids(outcomes) == [(2, "treated"), (1, "treated")]
    assert [o.points for o in outcomes] == [10, 10]


def test_an_exclusive_campaign_stops_those_below_it_only():
    rules = ordered(
        [rule(1, priority=100), rule(2, priority=50, stackable=False), rule(3), rule(4)]
    )
    assert ids(plan(rules, sale(), {}, FakeLimits(), TZ)) == [(1, "treated"), (2, "treated")]


@pytest.mark.parametrize(
    "blocked",
    [
        {"conditions": {"fact": "transaction.total", "op": "gte", "value": "500.00"}},
        {"limits": {"budget_count": 1}},
        {"audience": {"tiers": ["gold"]}},
    ],
    ids=["its condition fails", "its budget is spent", "another audience"],
)
def test_an_exclusive_campaign_that_does_not_apply_stops_nothing(blocked):
    exclusive = rule(1, priority=50, stackable=False, **blocked)
    facts = {"transaction.total": "150.00", "member.tier": "member"}
    limits = FakeLimits(budgets={1: (10, 1)})
    assert ids(plan([exclusive, rule(2)], sale(), facts, limits, TZ)) == [(2, "treated")]


def test_a_held_out_member_is_recorded_and_lower_campaigns_still_apply():
    member = next(m for m in range(1, 1_000) if in_holdout(1, m, 50))
    exclusive = rule(1, priority=50, stackable=False, holdout_percent=50)
    outcomes = plan([exclusive, rule(2)], sale(member), {}, FakeLimits(), TZ)
    assert ids(outcomes) == [(1, "holdout"), (2, "treated")]
    assert outcomes[0].effects == []
    assert outcomes[0].points == 0


def test_a_treated_member_of_a_campaign_with_a_holdout_gets_its_effects():
    member = next(m for m in range(1, 1_000) if not in_holdout(1, m, 50))
    outcomes = plan([rule(1, holdout_percent=50)], sale(member), {}, FakeLimits(), TZ)
    assert ids(outcomes) == [(1, "treated")]
    assert outcomes[0].points == 10


def test_a_campaign_answers_only_its_own_trigger():
    welcome = rule(1, trigger="member.enrolled")
    assert plan([welcome, rule(2)], sale(), {}, FakeLimits(), TZ)[0].rule.id == 2


@pytest.mark.parametrize(
    ("window", "applies"),
    [
        ({"starts_at": AT}, True),  # from its start, inclusive
        ({"starts_at": AT + timedelta(seconds=1)}, False),
        ({"ends_at": AT}, False),  # until its end, exclusive
        ({"ends_at": AT + timedelta(seconds=1)}, True),
        ({"starts_at": AT - timedelta(days=1), "ends_at": AT + timedelta(days=1)}, True),
    ],
)
def test_a_campaign_applies_only_inside_its_window(window, applies):
    outcomes = plan([rule(1, **window)], sale(), {}, FakeLimits(), TZ)
    assert bool(outcomes) is applies


def test_a_daily_campaign_answers_only_events_of_its_own_parameter():
    inactive = rule(1, trigger="member.inactive", inactive_days=30)
    event = Event("member.inactive", "member.inactive:7:2026-03-04:30", 7, AT, param=30)
    assert ids(plan([inactive], event, {}, FakeLimits(), TZ)) == [(1, "treated")]
    other = Event("member.inactive", "member.inactive:7:2026-03-04:60", 7, AT, param=60)
    assert plan([inactive], other, {}, FakeLimits(), TZ) == []


def test_an_audience_of_tags_needs_one_of_its_tags():
    tagged = rule(1, audience={"tags": ["vip", "staff"]})
    assert plan([tagged], sale(), {"member.tags": ["staff"]}, FakeLimits(), TZ)
    assert not plan([tagged], sale(), {"member.tags": ["new"]}, FakeLimits(), TZ)
    assert not plan([tagged], sale(), {}, FakeLimits(), TZ)
    assert tagged.needs_tags
    assert not rule(2).needs_tags


def test_each_effect_is_valued_on_the_sale():
    effects = [
        {"type": "award_points", "points": 5},
        {"type": "multiply_points", "factor": 2},
        {"type": "tag_member", "tag": "buyer"},
    ]
    outcome = plan([rule(1, effects=effects)], sale(), {}, FakeLimits(), TZ)[0]
    assert [(e.type, points) for e, points in outcome.effects] == [
        ("award_points", 5),
        ("multiply_points", 6),
        ("tag_member", 0),
    ]
    assert outcome.points == 11

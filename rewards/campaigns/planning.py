"""The engine's pure part: campaigns compiled from their JSON, and the plan for one event.

Planning decides which campaigns apply to an event and what each is worth, reading limits
through a `Limits` object; the live engine, the quote and the simulation share it, so they
give the same numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from rewards.campaigns import rules
from rewards.earning.points import EarnBasis, base_points


@dataclass(frozen=True)
class Effect:
    index: int
    type: str
    points: int = 0
    per_minor: int = 0
    scope: Mapping[str, Sequence[str]] | None = None
    factor: Decimal = Decimal(1)
    reward_id: int | None = None
    channel: str | None = None
    template: str | None = None
    tag: str | None = None

    @classmethod
    def from_json(cls, index: int, data: Mapping[str, Any]) -> Effect:
        return cls(
            index=index,
            type=data["type"],
            points=int(data.get("points", 0)),
            per_minor=int(Decimal(data["amount"]) * 100) if "amount" in data else 0,
            scope=data.get("scope"),
            factor=Decimal(str(data.get("factor", 1))),
            reward_id=data.get("reward_id"),
            channel=data.get("channel"),
            template=data.get("template"),
            tag=data.get("tag"),
        )


@dataclass(frozen=True)
class CampaignRule:
    """One version of a campaign, ready to evaluate."""

    id: int
    version: int
    name: str
    trigger: str
    priority: int
    stackable: bool
    holdout_percent: int
    starts_at: datetime | None
    ends_at: datetime | None
    param: int | None  # inactive_days or days_before
    tiers: frozenset[str] | None
    tags: frozenset[str] | None
    conditions: Mapping[str, Any]
    effects: tuple[Effect, ...]
    per_member: tuple[int, str] | None
    budget_points: int | None
    budget_count: int | None
    builtin: str | None = None
    reads: frozenset[str] = frozenset()  # the facts its conditions read
    segments: frozenset[int] | None = None  # audience: members in any of these segments

    @classmethod
    def compile(
        cls,
        campaign_id: int,
        version: int,
        doc: Mapping[str, Any],
        *,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
        builtin: str | None = None,
    ) -> CampaignRule:
        """From a campaign's definition (or a version's snapshot) and its columns."""
        audience = doc.get("audience") or {}
        limits = doc.get("limits") or {}
        per_member = limits.get("per_member")
        return cls(
            id=campaign_id,
            version=version,
            name=doc["name"],
            trigger=doc["trigger"],
            priority=int(doc.get("priority", 0)),
            stackable=bool(doc.get("stackable", True)),
            holdout_percent=int(doc.get("holdout_percent") or 0),
            starts_at=starts_at,
            ends_at=ends_at,
            param=doc.get("inactive_days") or doc.get("days_before"),
            tiers=frozenset(audience["tiers"]) if audience.get("tiers") else None,
            tags=frozenset(audience["tags"]) if audience.get("tags") else None,
            conditions=doc.get("conditions") or {},
            effects=tuple(Effect.from_json(i, e) for i, e in enumerate(doc.get("effects", []))),
            per_member=(int(per_member["count"]), per_member["period"]) if per_member else None,
            budget_points=limits.get("budget_points"),
            budget_count=limits.get("budget_count"),
            builtin=builtin,
            reads=frozenset(rules.facts_in(doc.get("conditions"))),
            segments=frozenset(audience["segments"]) if audience.get("segments") else None,
        )

    @property
    def needs_tags(self) -> bool:
        return self.tags is not None or "member.tags" in self.reads

    @property
    def needs_segments(self) -> bool:
        return self.segments is not None

    def live_at(self, at: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= at) and (
            self.ends_at is None or at < self.ends_at
        )


@dataclass(frozen=True)
class Basket:
    """A sale as the rules see it."""

    total_minor: int
    store_code: str | None
    lines: tuple[rules.Line, ...]
    base_points: int
    basis: EarnBasis


@dataclass(frozen=True)
class Event:
    """Something that happened to a member, which campaigns of its trigger may answer."""

    trigger: str
    key: str  # unique per event: the application's idempotency key
    member_id: int
    occurred_at: datetime
    basket: Basket | None = None
    transaction_id: int | None = None
    param: int | None = None  # the inactive_days / days_before it was emitted for
    facts: Mapping[str, Any] = field(default_factory=dict)  # what the event itself carries


@dataclass
class Outcome:
    """A campaign's answer to an event: treated with effects, or held out."""

    rule: CampaignRule
    group: str  # treated | holdout
    effects: list[tuple[Effect, int]] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(points for _effect, points in self.effects)


class Limits(Protocol):
    """How planning reads what a campaign has already given."""

    def used_by_member(
        self, rule: CampaignRule, member_id: int, period: tuple[datetime, datetime] | None
    ) -> int:
        """Treated applications of the rule to the member in [start, end) (None: ever)."""

    def budget_used(self, rule: CampaignRule) -> tuple[int, int]:
        """(points, applications) the rule has counted against its budget."""


def in_holdout(campaign_id: int, member_id: int, percent: int) -> bool:
    """A stable pseudo-random share of members: the same member is always in or out."""
    if percent <= 0:
        return False
    digest = hashlib.sha256(f"holdout:{campaign_id}:{member_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000 < percent * 100


def period_start(period: str, at: datetime, timezone: str) -> datetime | None:
    """Where a per-member limit's period begins, in the program's time zone."""
    if period == "campaign":
        return None
    local = at.astimezone(ZoneInfo(timezone)).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        local -= timedelta(days=local.weekday())
    elif period == "month":
        local = local.replace(day=1)
    return local


def period_bounds(period: str, at: datetime, timezone: str) -> tuple[datetime, datetime] | None:
    """The limit period `at` falls in, [start, end), in the program's days (None: the campaign)."""
    start = period_start(period, at, timezone)
    if start is None:
        return None
    if period in ("day", "week"):  # wall-clock arithmetic in the program's zone
        end = start + timedelta(days=1 if period == "day" else 7)
    else:
        end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def effect_points(effect: Effect, basket: Basket | None) -> int:
    """What a points effect is worth on this basket (0 for effects that give no points)."""
    if effect.type == "award_points":
        return effect.points
    if basket is None:
        return 0
    if effect.type == "points_per_amount":
        amount = rules.scoped_amount(basket.lines, effect.scope, basket.total_minor)
        return rules.points_per_amount(amount, effect.points, effect.per_minor)
    if effect.type == "multiply_points":
        if effect.scope:
            amount = rules.scoped_amount(basket.lines, effect.scope, basket.total_minor)
            base = min(base_points(amount, basket.basis), basket.base_points)
        else:
            base = basket.base_points
        return rules.extra_for_multiplier(base, effect.factor)
    return 0


def in_audience(rule: CampaignRule, facts: Mapping[str, Any]) -> bool:
    """In any listed tier, in any listed segment ("member.segments") and with any listed tag."""
    if rule.tiers is not None and facts.get("member.tier") not in rule.tiers:
        return False
    if rule.segments is not None and not rule.segments & set(facts.get("member.segments") or ()):
        return False
    return rule.tags is None or bool(rule.tags & set(facts.get("member.tags") or ()))


def within_limits(
    rule: CampaignRule, event: Event, points: int, limits: Limits, timezone: str
) -> bool:
    if rule.per_member is not None:
        count, period = rule.per_member
        bounds = period_bounds(period, event.occurred_at, timezone)
        if limits.used_by_member(rule, event.member_id, bounds) >= count:
            return False
    if rule.budget_points is None and rule.budget_count is None:
        return True
    used_points, used_count = limits.budget_used(rule)
    if rule.budget_count is not None and used_count + 1 > rule.budget_count:
        return False
    return rule.budget_points is None or used_points + points <= rule.budget_points


def plan(
    candidates: Sequence[CampaignRule],
    event: Event,
    facts: Mapping[str, Any],
    limits: Limits,
    timezone: str,
) -> list[Outcome]:
    """Which campaigns answer the event, highest priority first; an exclusive (not stackable)
    campaign that applies stops the ones below it. Held-out members are recorded, not treated,
    and do not stop lower campaigns (the holdout sees the program as if it did not exist)."""
    outcomes: list[Outcome] = []
    for rule in candidates:
        if rule.trigger != event.trigger or not rule.live_at(event.occurred_at):
            continue
        if rule.param is not None and rule.param != event.param:
            continue
        if not in_audience(rule, facts) or not rules.evaluate(rule.conditions, facts):
            continue
        if in_holdout(rule.id, event.member_id, rule.holdout_percent):
            outcomes.append(Outcome(rule, "holdout"))
            continue
        outcome = Outcome(
            rule, "treated", [(e, effect_points(e, event.basket)) for e in rule.effects]
        )
        if not within_limits(rule, event, outcome.points, limits, timezone):
            continue
        outcomes.append(outcome)
        if not rule.stackable:
            break
    return outcomes


def ordered(candidates: Sequence[CampaignRule]) -> list[CampaignRule]:
    return sorted(candidates, key=lambda r: (-r.priority, r.id))

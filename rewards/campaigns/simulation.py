"""Simulate a campaign before launch: replay the last N days through it, touching nothing.

Events are rebuilt from history (receipts, enrolments, birthdays, inactivity gaps, expiring
lots, tier changes, redemptions) in the order they happened, each with the member's facts as
they stood then (visits and spend counted from receipts; tier, tags and segments as they are
now), and
go through the same planning as the live engine, with limits and budgets counted in memory.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.models import OutboxMessage, Store
from loyalty.money import from_minor
from loyalty.settings import get_setting
from members.models import Member, MemberTag
from members.segments.service import segments_of
from rewards.campaigns import daily
from rewards.campaigns.engine import compile_campaign
from rewards.campaigns.events import day_start
from rewards.campaigns.facts import basket_facts, lines_of, profile_facts
from rewards.campaigns.planning import Basket, CampaignRule, Event, Outcome, plan
from rewards.campaigns.service import get_campaign
from rewards.earning.points import EarnBasis, base_points
from rewards.models import JournalEntry, LotMovement, PointsLot, Redemption, Transaction


class MemoryLimits:
    """Limits and budget counted as the replay goes."""

    def __init__(self) -> None:
        self.times: dict[int, list[datetime]] = defaultdict(list)
        self.points = 0
        self.count = 0

    def used_by_member(
        self, rule: CampaignRule, member_id: int, period: tuple[datetime, datetime] | None
    ) -> int:
        times = self.times[member_id]
        if period is None:
            return len(times)
        return sum(1 for t in times if period[0] <= t < period[1])

    def budget_used(self, rule: CampaignRule) -> tuple[int, int]:
        return self.points, self.count

    def record(self, event: Event, outcome: Outcome) -> None:
        self.times[event.member_id].append(event.occurred_at)
        self.points += outcome.points
        self.count += 1


@dataclass
class Tally:
    events: int = 0
    reach: set[int] = field(default_factory=set)
    held_out: set[int] = field(default_factory=set)
    applications: int = 0
    effects: Counter = field(default_factory=Counter)
    points: int = 0

    def add(self, event: Event, outcome: Outcome) -> None:
        if outcome.group == "holdout":
            self.held_out.add(event.member_id)
            return
        self.reach.add(event.member_id)
        self.applications += 1
        self.points += outcome.points
        self.effects.update(effect.type for effect, _points in outcome.effects)


class Profiles:
    """Members' profile values, and their visits and spend at any time, from receipts."""

    def __init__(
        self, session: Session, member_ids: set[int], with_tags: bool, with_segments: bool = False
    ) -> None:
        self.segments = segments_of(session, member_ids) if with_segments else None
        self.rows = {
            row.id: row
            for row in session.execute(
                select(Member.id, Member.tier_code, Member.enrolled_at, Member.birthdate).where(
                    Member.id.in_(member_ids)
                )
            )
        }
        self.tags: dict[int, list[str]] | None = None
        if with_tags:
            self.tags = defaultdict(list)
            for member_id, tag in session.execute(
                select(MemberTag.member_id, MemberTag.tag).where(
                    MemberTag.member_id.in_(member_ids)
                )
            ):
                self.tags[member_id].append(tag)
        t = Transaction.__table__
        self.moves: dict[int, list[tuple[datetime, int, int, int]]] = defaultdict(list)
        sales = select(t.c.member_id, t.c.occurred_at, t.c.id, t.c.total_minor).where(
            t.c.type == "sale", t.c.status == "processed", t.c.member_id.in_(member_ids)
        )
        for member_id, at, txn_id, total in session.execute(sales):
            self.moves[member_id].append((at, txn_id, 1, total))
        refunds = select(t.c.member_id, t.c.occurred_at, t.c.id, t.c.total_minor).where(
            t.c.type == "refund", t.c.status == "processed", t.c.member_id.in_(member_ids)
        )
        for member_id, at, txn_id, total in session.execute(refunds):
            self.moves[member_id].append((at, txn_id, 0, -total))
        self.running: dict[int, tuple[list[tuple[datetime, int]], list[int], list[int]]] = {}
        for member_id, moves in self.moves.items():
            moves.sort()
            visits, spend, v, s = [], [], 0, 0
            for _at, _id, visit, amount in moves:
                v, s = v + visit, s + amount
                visits.append(v)
                spend.append(s)
            self.running[member_id] = ([(m[0], m[1]) for m in moves], visits, spend)

    def counters(self, member_id: int, at: datetime, txn_id: int | None = None) -> tuple[int, int]:
        """(visits, spend) counted up to `at` (and up to the receipt `txn_id` itself)."""
        keys, visits, spend = self.running.get(member_id, ([], [], []))
        index = bisect.bisect_right(keys, (at, txn_id if txn_id is not None else -1))
        return (visits[index - 1], spend[index - 1]) if index else (0, 0)

    def facts(self, member_id: int, at: datetime, timezone: str, txn_id: int | None = None):
        row = self.rows[member_id]
        visits, spend = self.counters(member_id, at, txn_id)
        return profile_facts(
            tier=row.tier_code,
            visits=visits,
            spend_minor=spend,
            enrolled_at=row.enrolled_at,
            birthdate=row.birthdate,
            at=at,
            timezone=timezone,
            tags=self.tags.get(member_id, []) if self.tags is not None else None,
            segments=self.segments.get(member_id, []) if self.segments is not None else None,
        )


def _days(since: datetime, until: datetime, timezone: str) -> list[date]:
    zone = ZoneInfo(timezone)
    first = since.astimezone(zone).date()
    last = until.astimezone(zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _sale_base(row: Any) -> int:
    """What the base rule gave the sale when it was processed."""
    if row.earn_basis is None or (row.base_points <= 0 and row.refunded_minor <= 0):
        return 0
    return base_points(row.total_minor, EarnBasis.from_dict(row.earn_basis))


def sale_events(session: Session, since: datetime, until: datetime) -> Iterator[Event]:
    t = Transaction.__table__
    stores = dict(session.execute(select(Store.id, Store.code)).all())
    rows = session.execute(
        select(t)
        .where(
            t.c.type == "sale",
            t.c.status == "processed",
            t.c.member_id.is_not(None),
            t.c.occurred_at >= since,
            t.c.occurred_at < until,
        )
        .order_by(t.c.occurred_at, t.c.id)
    )
    for row in rows:
        basis = EarnBasis.from_dict(row.earn_basis) if row.earn_basis else EarnBasis(1, 2500)
        basket = Basket(
            row.total_minor, stores.get(row.store_id), lines_of(row.items), _sale_base(row), basis
        )
        yield Event(
            "transaction.recorded",
            f"txn:{row.id}",
            row.member_id,
            row.occurred_at,
            basket=basket,
            transaction_id=row.id,
        )


def enrolment_events(session: Session, since: datetime, until: datetime) -> Iterator[Event]:
    rows = session.execute(
        select(Member.id, Member.enrolled_at)
        .where(Member.enrolled_at >= since, Member.enrolled_at < until)
        .order_by(Member.enrolled_at, Member.id)
    )
    for member_id, at in rows:
        yield Event("member.enrolled", f"member.enrolled:{member_id}", member_id, at)


def birthday_events(session: Session, days: list[date], timezone: str) -> Iterator[Event]:
    for day in days:
        for member_id, _extra in daily.birthdays(session, day):
            key = f"member.birthday:{member_id}:{day.isoformat()}:0"
            yield Event("member.birthday", key, member_id, day_start(day, timezone))


def inactivity_events(
    session: Session, days: list[date], quiet: int, timezone: str
) -> Iterator[Event]:
    """Days on which a member's last activity (a purchase, or enrolment) was `quiet` days back."""
    zone = ZoneInfo(timezone)
    t = Transaction.__table__
    activity: dict[int, list[datetime]] = defaultdict(list)
    for member_id, at in session.execute(select(Member.id, Member.enrolled_at)):
        activity[member_id].append(at)
    sales = select(t.c.member_id, t.c.occurred_at).where(
        t.c.type == "sale", t.c.member_id.is_not(None)
    )
    for member_id, at in session.execute(sales):
        activity[member_id].append(at)
    wanted = set(days)
    found: list[Event] = []
    for member_id, times in activity.items():
        times.sort()
        for index, at in enumerate(times):
            day = at.astimezone(zone).date() + timedelta(days=quiet)
            nxt = times[index + 1] if index + 1 < len(times) else None
            if day in wanted and (nxt is None or nxt >= day_start(day, timezone)):
                key = f"member.inactive:{member_id}:{day.isoformat()}:{quiet}"
                found.append(
                    Event("member.inactive", key, member_id, day_start(day, timezone), param=quiet)
                )
    return iter(sorted(found, key=lambda e: (e.occurred_at, e.member_id)))


def expiring_events(
    session: Session, days: list[date], before: int, timezone: str
) -> Iterator[Event]:
    """Members who, on each day, held points due to expire `before` days later."""
    for day in days:
        expires_on = day + timedelta(days=before)
        start, as_of = day_start(expires_on, timezone), day_start(day, timezone)
        lots = select(PointsLot.id, PointsLot.member_id, PointsLot.points).where(
            PointsLot.expires_at >= start,
            PointsLot.expires_at < start + timedelta(days=1),
            PointsLot.earned_at < as_of,
        )
        left: dict[int, int] = defaultdict(int)
        for lot_id, member_id, points in session.execute(lots):
            moved = session.scalar(
                select(func.coalesce(func.sum(LotMovement.points), 0))
                .join(JournalEntry, JournalEntry.id == LotMovement.entry_id)
                .where(LotMovement.lot_id == lot_id, JournalEntry.occurred_at < as_of)
            )
            left[member_id] += points + int(moved or 0)
        for member_id in sorted(m for m, points in left.items() if points > 0):
            key = f"points.expiring:{member_id}:{day.isoformat()}:{before}"
            facts = {"points.expiring": left[member_id], "expires_on": expires_on.isoformat()}
            yield Event("points.expiring", key, member_id, as_of, param=before, facts=facts)


def tier_events(session: Session, since: datetime, until: datetime) -> Iterator[Event]:
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.topic == "tier.changed", OutboxMessage.created_at >= since)
        .order_by(OutboxMessage.id)
    )
    for message in rows:
        at = datetime.fromisoformat(message.payload["at"])
        if since <= at < until:
            p = message.payload
            key = f"tier.changed:{p['member_id']}:{p['to']}:{int(at.timestamp())}"
            facts = {"tier.from": p["from"], "tier.to": p["to"]}
            yield Event("tier.changed", key, int(p["member_id"]), at, facts=facts)


def redemption_events(session: Session, since: datetime, until: datetime) -> Iterator[Event]:
    rows = session.scalars(
        select(Redemption)
        .where(
            Redemption.reward_id.is_not(None),
            Redemption.channel != "campaign",
            Redemption.created_at >= since,
            Redemption.created_at < until,
        )
        .order_by(Redemption.created_at, Redemption.id)
    )
    for found in rows:
        key = f"reward.redeemed:{found.id}"
        facts = {"reward.id": found.reward_id}
        yield Event("reward.redeemed", key, found.member_id, found.created_at, facts=facts)


def history_events(
    session: Session, rule: CampaignRule, since: datetime, until: datetime, timezone: str
) -> list[Event]:
    """The events of the rule's trigger that happened in the window, in order."""
    days = _days(since, until, timezone)
    if rule.trigger == "transaction.recorded":
        found: Iterator[Event] = sale_events(session, since, until)
    elif rule.trigger == "member.enrolled":
        found = enrolment_events(session, since, until)
    elif rule.trigger == "member.birthday":
        found = birthday_events(session, days, timezone)
    elif rule.trigger == "member.inactive":
        found = inactivity_events(session, days, rule.param or 0, timezone)
    elif rule.trigger == "points.expiring":
        found = expiring_events(session, days, rule.param or 0, timezone)
    elif rule.trigger == "tier.changed":
        found = tier_events(session, since, until)
    else:
        found = redemption_events(session, since, until)
    return [e for e in found if since <= e.occurred_at < until]


def simulate(
    session: Session, campaign_id: int, days: int, now: datetime, timezone: str
) -> dict[str, Any]:
    """What the campaign, as defined now, would have done over the last `days` days."""
    campaign = get_campaign(session, campaign_id)
    rule = compile_campaign(campaign)
    since = now - timedelta(days=days)
    events = history_events(session, rule, since, now, timezone)
    members = {e.member_id for e in events}
    profiles = Profiles(session, members, rule.needs_tags, rule.needs_segments)
    limits, tally = MemoryLimits(), Tally()
    for event in events:
        if event.member_id not in profiles.rows:
            continue
        tally.events += 1
        facts = profiles.facts(event.member_id, event.occurred_at, timezone, event.transaction_id)
        if event.basket is not None:
            facts.update(basket_facts(event.basket, event.occurred_at, timezone))
        facts.update(event.facts)
        for outcome in plan([rule], event, facts, limits, timezone):
            if outcome.group == "treated":
                limits.record(event, outcome)
            tally.add(event, outcome)
    value = Decimal(get_setting(session, "point_value")["amount_minor"])
    return {
        "campaign_id": campaign.id,
        "version": campaign.version,
        "days": days,
        "since": since,
        "until": now,
        "events": tally.events,
        "reach": len(tally.reach),
        "held_out": len(tally.held_out),
        "applications": tally.applications,
        "effects": dict(tally.effects),
        "points": tally.points,
        "cost": f"{from_minor(int(tally.points * value)):.2f}",
        "rewards": tally.effects.get("issue_reward", 0),
        "messages": tally.effects.get("send_message", 0),
    }

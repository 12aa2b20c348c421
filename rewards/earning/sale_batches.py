"""The engine's set-based path for a run of recorded sales (an import, a busy hour): the same
work as `processing.process_sale` for each, in the same order, with a handful of statements
for the whole run instead of some twenty per sale.

It applies while the base rule has no conditions or audience and every live campaign on
`transaction.recorded` gives points or tags only: those campaigns are decided for the whole
run by `rewards/campaigns/sale_runs.py`. Otherwise, and for the sales of members who may not
earn (merged, erased), the outbox gives the sales to `process_sale` one at a time. Each
sale's row and each member's row are locked first (on PostgreSQL; SQLite holds its write
lock), so the figures read are the figures written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.bulk import update_rows
from loyalty.db import is_postgres, one_of, utcnow
from loyalty.settings import get_setting
from members.metrics import activity
from members.models import Member, MemberDay
from members.tiers import policy as rules
from members.tiers.moves import Move, change_tier
from members.tiers.service import PolicyVersion, policy_in_force
from rewards.campaigns import engine, sale_runs
from rewards.campaigns.facts import lines_of
from rewards.campaigns.planning import Basket, Event
from rewards.earning.points import EarnBasis, base_points
from rewards.earning.service import Purchase, base_entry, count_purchases, earn_rate, multipliers
from rewards.ledger import journal, lots
from rewards.models import Transaction

SALES = Transaction.__table__
MEMBERS = Member.__table__
TRIGGER = "transaction.recorded"


def batchable(session: Session) -> bool:
    """Whether the live program can decide a run of sales at once: a base rule for everyone
    and campaigns on the sale that give points or tags only."""
    program = engine.live_program(session)
    base = program.base
    plain_base = base is None or (
        not base.conditions and base.tiers is None and base.segments is None and base.tags is None
    )
    return plain_base and sale_runs.decidable(program.rules_for(TRIGGER))


@dataclass
class MemberState:
    """What the run changes of a member, as it goes: tier, and the days its window reads."""

    tier: str
    days: dict[date, list[int]] = field(default_factory=dict)  # day → [spend, points]


@dataclass
class Run:
    """The program's rules for this run and what it has decided so far."""

    rate: tuple[int, int]
    base_on: bool
    base_version: int | None
    multipliers: dict[str, Decimal]
    expiry_months: int
    in_force: PolicyVersion
    timezone: str
    credits: list[tuple[journal.Entry, datetime]] = field(default_factory=list)
    purchases: list[Purchase] = field(default_factory=list)
    activities: list[activity.Purchase] = field(default_factory=list)
    sales: list[dict[str, Any]] = field(default_factory=list)
    campaigns: sale_runs.SaleCampaigns | None = None

    @property
    def tiered(self) -> bool:
        return len(self.in_force.policy.tiers) > 1


def _locked_sales(session: Session, ids: Sequence[int]) -> dict[int, Any]:
    stmt = select(SALES).where(one_of(session, SALES.c.id, ids)).order_by(SALES.c.id)
    if is_postgres(session):
        stmt = stmt.with_for_update(key_share=True)
    return {row.id: row for row in session.execute(stmt)}


def _locked_members(session: Session, member_ids: set[int]) -> dict[int, Any]:
    m = MEMBERS.c
    stmt = (
        select(m.id, m.status, m.tier_code, m.points_balance, m.visits, m.lifetime_spend_minor)
        .add_columns(m.enrolled_at, m.birthdate)
        .where(one_of(session, MEMBERS.c.id, member_ids))
        .order_by(MEMBERS.c.id)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(key_share=True)
    return {row.id: row for row in session.execute(stmt)}


def _window_days(
    session: Session, run: Run, states: dict[int, MemberState], sales: list[Any]
) -> None:
    """Load the member days that the tier windows of these sales reach."""
    policy = run.in_force.policy
    spans = [
        rules.window_days(policy, rules.program_day(s.occurred_at, run.timezone)) for s in sales
    ]
    first, last = min(span[0] for span in spans), max(span[1] for span in spans)
    rows = session.execute(
        select(MemberDay.member_id, MemberDay.day, MemberDay.spend_minor, MemberDay.points).where(
            one_of(session, MemberDay.member_id, states),
            MemberDay.day >= first,
            MemberDay.day <= last,
        )
    )
    for member_id, day, spend, points in rows:
        states[member_id].days[day] = [int(spend), int(points)]


def _new_run(session: Session, timezone: str) -> Run:
    program = engine.live_program(session)
    return Run(
        rate=earn_rate(session),
        base_on=program.base is not None,
        base_version=program.base.version if program.base else None,
        multipliers=multipliers(session),
        expiry_months=int(get_setting(session, "points_expiry")["months"]),
        in_force=policy_in_force(session),
        timezone=timezone,
    )


def process_sales(session: Session, transaction_ids: Sequence[int], timezone: str) -> set[int]:
    """Process the recorded sales given (in the order given) as `process_sale` would; returns
    the ids it left to `process_sale`: sales of members who may not earn, and refunds."""
    ids = list(dict.fromkeys(transaction_ids))  # a sale given twice is processed once
    found = _locked_sales(session, ids)
    todo = [found[i] for i in ids if i in found and found[i].status != "processed"]
    members = _locked_members(session, {s.member_id for s in todo if s.member_id is not None})
    left = {s.id for s in todo if s.type != "sale"}
    left |= {
        s.id for s in todo if s.member_id is not None and members[s.member_id].status != "active"
    }
    todo = [s for s in todo if s.id not in left]
    if not todo:
        return left
    run = _new_run(session, timezone)
    states = {m: MemberState(row.tier_code) for m, row in members.items()}
    earning = [s for s in todo if s.member_id is not None]
    campaigns = engine.live_program(session).rules_for(TRIGGER)
    if campaigns and earning:
        stores = {s.store_id for s in earning}
        run.campaigns = sale_runs.for_run(session, campaigns, members, stores, timezone)
    if run.tiered and earning:
        _window_days(session, run, states, earning)
    for sale in todo:
        if sale.member_id is None:
            run.sales.append(_processed(sale, 0, 0, None))
        else:
            _earn(session, run, states[sale.member_id], sale)
    _write(session, run, {m: int(row.points_balance) for m, row in members.items()})
    return left


def _earn(session: Session, run: Run, state: MemberState, sale: Any) -> None:
    """One sale, in memory: the base points at the member's tier multiplier now, the visit,
    the day and affinities, and an upgrade if the sale's spend reaches a higher tier."""
    basis = EarnBasis(*run.rate, run.multipliers.get(state.tier, Decimal(1)))
    total = sale.total_minor - sale.refund_processed_minor
    points = base_points(total, basis) if run.base_on else 0
    purchase = Purchase(
        sale.id, sale.member_id, total, sale.occurred_at, sale.store_id, sale.external_id
    )
    expiry, lines = _expiry(run, sale.occurred_at), lines_of(sale.items)
    if points > 0:
        run.credits.append((base_entry(purchase, points), expiry))
    bonus = _bonus(run, state, sale, Basket(total, None, lines, points, basis))
    run.credits.extend((entry, expiry) for entry in bonus)
    awarded = points + sum(entry.points for entry in bonus)
    run.purchases.append(purchase)
    earn_basis = {**basis.as_dict(), "version": run.base_version}
    run.sales.append(_processed(sale, points, awarded, earn_basis))
    run.activities.append(
        activity.Purchase(
            member_id=sale.member_id,
            at=sale.occurred_at,
            spend_minor=total,
            receipts=1,
            points=awarded,
            store_id=sale.store_id,
            categories=[(line.category, line.amount_minor) for line in lines],
        )
    )
    if run.tiered:
        day = rules.program_day(sale.occurred_at, run.timezone)
        held = state.days.setdefault(day, [0, 0])
        held[0] += total
        held[1] += awarded
        _reassess(session, run, state, sale)


def _bonus(run: Run, state: MemberState, sale: Any, basket: Basket) -> list[journal.Entry]:
    """The campaigns' entries for the sale (its visit and spend counted first, as
    `process_sale` counts them before it plans)."""
    if run.campaigns is None:
        return []
    run.campaigns.profiles.count(sale.member_id, basket.total_minor)
    event = Event(
        trigger=TRIGGER,
        key=f"txn:{sale.id}",
        member_id=sale.member_id,
        occurred_at=sale.occurred_at,
        basket=replace(basket, store_code=run.campaigns.stores.get(sale.store_id)),
        transaction_id=sale.id,
    )
    return run.campaigns.decide(event, state.tier)


def _reassess(session: Session, run: Run, state: MemberState, sale: Any) -> None:
    """`tiering.reassess_tier` on the run's figures for the member."""
    policy = run.in_force.policy
    if policy.is_top(state.tier):
        return
    first, last = rules.window_days(policy, rules.program_day(sale.occurred_at, run.timezone))
    column = 0 if policy.basis == "spend" else 1
    amount = sum(v[column] for day, v in state.days.items() if first <= day <= last)
    target = rules.upgrade_to(policy, state.tier, amount)
    if target is None:
        return
    move = Move(sale.member_id, state.tier, target.code, "upgrade", amount, sale.occurred_at)
    change_tier(session, move, run.in_force, run.timezone)
    state.tier = target.code


def _expiry(run: Run, at: datetime) -> datetime:
    return lots.expiry_for(at, run.expiry_months, run.timezone)


def _processed(
    sale: Any, points: int, awarded: int, basis: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "id": sale.id,
        "base_points": points,
        "points_awarded": awarded,
        "earn_basis": basis,
    }


def _write(session: Session, run: Run, balances: dict[int, int]) -> None:
    """The run's decisions in one statement per table."""
    ids = journal.credit_batch(session, run.credits, balances)
    if run.campaigns is not None:
        keys = {spec.key: entry_id for (spec, _), entry_id in zip(run.credits, ids, strict=True)}
        run.campaigns.write(session, keys)
    if run.purchases:
        count_purchases(session, run.purchases)
    activity.record_many(session, run.activities, run.timezone)
    now = utcnow()
    update_rows(
        session,
        SALES,
        "id",
        run.sales,
        lambda v: {
            "status": "processed",
            "processed_at": now,
            "base_points": v["base_points"],
            "points_awarded": v["points_awarded"],
            "earn_basis": v["earn_basis"],
            "points_pending": 0,
        },
    )

"""The program's figures for a window of days, whole or for one store (docs/ANALYTICS.md):
members, points by flow, outstanding points and their liability, weeks and cohorts.

Each figure is one grouped query over the ledger, receipts and members. An entry's store is
the till's it was made at, else its receipt's, else its member's enrolment store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import String, and_, case, cast, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from loyalty.money import format_minor
from loyalty.settings import get_setting
from members.models import Member
from rewards.analytics.periods import Window
from rewards.models import JournalEntry, LotMovement, PointsLot, Transaction

SHARE = Decimal("0.0001")
MEMBERS, SALES, ENTRIES = Member.__table__, Transaction.__table__, JournalEntry.__table__
CLOSED = ("merged", "erased")  # members not counted: erased, or merged into another


@dataclass(frozen=True)
class Scope:
    """The window and, when given, the one store the figures are limited to."""

    window: Window
    store_id: int | None
    active_days: int


def share(part: int | Decimal, whole: int | Decimal) -> str | None:
    """part ÷ whole to four places; None when there is no whole."""
    if not whole:
        return None
    return f"{(Decimal(part) / Decimal(whole)).quantize(SHARE, ROUND_HALF_UP)}"


def bucket(column: Any, bounds: list[tuple[datetime, datetime]]) -> Any:
    """Which of the consecutive [start, end) spans the column falls in (its index), else None."""
    return case(*[(column < end, i) for i, (_start, end) in enumerate(bounds)], else_=None)


# -- members -----------------------------------------------------------------------------


def counted_members(scope: Scope) -> ColumnElement[bool]:
    condition = MEMBERS.c.status.not_in(CLOSED)
    if scope.store_id is not None:
        condition = and_(condition, MEMBERS.c.enrolled_store_id == scope.store_id)
    return condition


def members(session: Session, scope: Scope) -> dict[str, Any]:
    w = scope.window
    enrolled = MEMBERS.c.enrolled_at
    total, new = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((enrolled >= w.start(), 1), else_=0)), 0),
        ).where(counted_members(scope), enrolled < w.end)
    ).one()
    since = w.start(w.last - timedelta(days=scope.active_days - 1))
    stmt = (
        select(func.count(func.distinct(MEMBERS.c.id)))
        .select_from(MEMBERS.join(SALES, SALES.c.member_id == MEMBERS.c.id))
        .where(counted_members(scope), enrolled < w.end, SALES.c.type == "sale")
        .where(SALES.c.occurred_at >= since, SALES.c.occurred_at < w.end)
        .where(SALES.c.occurred_at >= enrolled)
    )
    if scope.store_id is not None:
        stmt = stmt.where(SALES.c.store_id == scope.store_id)
    active = session.scalar(stmt)
    return {"total": total, "new": int(new), "active": active, "active_rate": share(active, total)}


# -- points ------------------------------------------------------------------------------


def entries(scope: Scope, *columns: Any) -> Any:
    """The ledger's entries (at the store), with `columns`."""
    stmt = select(*columns)
    if scope.store_id is None:
        return stmt.select_from(ENTRIES)
    receipt = and_(
        ENTRIES.c.cause_type == "transaction", ENTRIES.c.cause_id == cast(SALES.c.id, String)
    )
    store = func.coalesce(ENTRIES.c.store_id, SALES.c.store_id, MEMBERS.c.enrolled_store_id)
    return (
        stmt.select_from(ENTRIES)
        .outerjoin(SALES, receipt)
        .join(MEMBERS, MEMBERS.c.id == ENTRIES.c.member_id)
        .where(store == scope.store_id)
    )


def flows(rows: Any) -> dict[str, int]:
    """Points by flow from (kind, cause type, signed points) sums."""
    got = {(kind, cause): int(points) for kind, cause, points in rows}

    def total(kind: str, cause: str | None = None) -> int:
        return sum(v for (k, c), v in got.items() if k == kind and cause in (None, c))

    return {
        "issued": total("earn") + total("bonus"),
        "redeemed": -total("redeem") - total("reverse", "redemption"),
        "expired": -total("expire"),
        "reversed": -total("reverse", "transaction"),
        "adjusted": total("adjust"),
    }


def flow_columns() -> tuple[Any, ...]:
    return ENTRIES.c.kind, ENTRIES.c.cause_type, func.sum(ENTRIES.c.points)


def point_flows(session: Session, scope: Scope, start: datetime, end: datetime) -> dict[str, int]:
    stmt = entries(scope, *flow_columns()).where(
        ENTRIES.c.occurred_at >= start, ENTRIES.c.occurred_at < end
    )
    return flows(session.execute(stmt.group_by(ENTRIES.c.kind, ENTRIES.c.cause_type)))


def balances(session: Session, scope: Scope) -> tuple[int, int]:
    """(outstanding, owed) at the end of the window: the members' balances above zero, and
    the sum of those below it as a positive number. A balance then is the member's balance now
    less what the ledger posted since, so the cost follows the entries after the window, not
    the whole ledger."""
    later = (
        select(ENTRIES.c.member_id, func.sum(ENTRIES.c.points).label("points"))
        .where(ENTRIES.c.occurred_at >= scope.window.end)
        .group_by(ENTRIES.c.member_id)
        .subquery()
    )
    balance = MEMBERS.c.points_balance - func.coalesce(later.c.points, 0)
    stmt = select(
        func.coalesce(func.sum(case((balance > 0, balance), else_=0)), 0),
        func.coalesce(func.sum(case((balance < 0, -balance), else_=0)), 0),
    ).select_from(MEMBERS.outerjoin(later, later.c.member_id == MEMBERS.c.id))
    if scope.store_id is not None:
        stmt = stmt.where(MEMBERS.c.enrolled_store_id == scope.store_id)
    outstanding, owed = session.execute(stmt).one()
    return int(outstanding), int(owed)


def pending(session: Session, scope: Scope) -> int:
    stmt = select(func.coalesce(func.sum(SALES.c.points_pending), 0)).where(
        SALES.c.status == "queued"
    )
    if scope.store_id is not None:
        stmt = stmt.where(SALES.c.store_id == scope.store_id)
    return int(session.scalar(stmt) or 0)


def breakage(session: Session, scope: Scope) -> str | None:
    """Of the points in lots that have closed (used up or expired), the share that expired."""
    lots, moves = PointsLot.__table__, LotMovement.__table__
    expired = (
        select(func.coalesce(func.sum(-moves.c.points), 0))
        .select_from(moves.join(ENTRIES, ENTRIES.c.id == moves.c.entry_id))
        .where(moves.c.lot_id == lots.c.id, ENTRIES.c.kind == "expire")
        .scalar_subquery()
    )
    stmt = select(func.coalesce(func.sum(lots.c.points), 0), func.coalesce(func.sum(expired), 0))
    stmt = stmt.where(lots.c.remaining == 0, lots.c.earned_at < scope.window.end)
    if scope.store_id is not None:
        stmt = stmt.where(lots.c.entry_id.in_(entries(scope, ENTRIES.c.id)))
    closed, expired_points = session.execute(stmt).one()
    return share(int(expired_points), int(closed))


def liability(session: Session, outstanding: int, breakage_rate: str | None) -> dict[str, Any]:
    value_minor = int(get_setting(session, "point_value")["amount_minor"])
    expected = Decimal(breakage_rate or get_setting(session, "expected_breakage")["share"])
    value = Decimal(outstanding * value_minor) / 100
    return {
        "point_value": format_minor(value_minor),
        "points": outstanding,
        "value": f"{value:.2f}",
        "expected_breakage": f"{expected.quantize(SHARE)}",
        "expected_value": f"{(value * (1 - expected)).quantize(Decimal('0.01'), ROUND_HALF_UP)}",
    }


def by_tier(session: Session, scope: Scope) -> list[dict[str, Any]]:
    """Members and their outstanding points by tier, as they stand now."""
    balance = MEMBERS.c.points_balance
    rows = session.execute(
        select(
            MEMBERS.c.tier_code,
            func.count(),
            func.coalesce(func.sum(case((balance > 0, balance), else_=0)), 0),
        )
        .where(counted_members(scope))
        .group_by(MEMBERS.c.tier_code)
        .order_by(MEMBERS.c.tier_code)
    )
    return [{"tier": t, "members": n, "outstanding": int(points)} for t, n, points in rows]

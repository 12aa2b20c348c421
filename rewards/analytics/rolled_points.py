"""Outstanding and owed points at the end of a window, and the breakage rate, read from the
rollups with what they do not hold yet (docs/ANALYTICS.md, "Rollups").

The members' balances at the end of a day are the sum of the entries dated up to it; those
above zero are that sum plus what the members below zero owe, and a member can only owe then
if they have entries dated after it or owe now (and then an entry of theirs left a balance
below zero).
"""

from __future__ import annotations

from collections import Counter
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.db import one_of
from rewards.analytics import closed_lots
from rewards.analytics.models import BalancesByDay, ClosedLotsByDay
from rewards.analytics.periods import day_of
from rewards.analytics.program import ENTRIES, MEMBERS, Scope, share
from rewards.analytics.sums import BalanceKey


def _later(session: Session, scope: Scope, unrolled: Counter[BalanceKey]) -> dict[int, int]:
    """Each member's points of entries dated after the window (read only when the rollups or
    the entries they do not hold yet have such days)."""
    last = day_of(scope.window.last)
    after = select(BalancesByDay.day).where(BalancesByDay.day > last).limit(1)
    if not any(day > last for day, _home in unrolled) and session.scalar(after) is None:
        return {}
    stmt = (
        select(ENTRIES.c.member_id, func.sum(ENTRIES.c.points))
        .where(ENTRIES.c.occurred_at >= scope.window.end)
        .group_by(ENTRIES.c.member_id)
    )
    return {member_id: int(points) for member_id, points in session.execute(stmt)}


def _owed(session: Session, scope: Scope, unrolled: Counter[BalanceKey]) -> int:
    """What members below zero at the end of the window owe (a positive number)."""
    later = _later(session, scope, unrolled)
    ever_below = select(ENTRIES.c.member_id).where(ENTRIES.c.balance_after < 0).distinct()
    candidates = set(later) | set(session.scalars(ever_below))
    if not candidates:
        return 0
    stmt = select(MEMBERS.c.id, MEMBERS.c.points_balance).where(
        one_of(session, MEMBERS.c.id, candidates)
    )
    if scope.store_id is not None:
        stmt = stmt.where(MEMBERS.c.enrolled_store_id == scope.store_id)
    return sum(max(0, later.get(m, 0) - balance) for m, balance in session.execute(stmt))


def balances(session: Session, scope: Scope, unrolled: Counter[BalanceKey]) -> tuple[int, int]:
    """(outstanding, owed) at the end of the window; `unrolled`: the entries the rollups do
    not hold yet, by day and enrolment store."""
    last, t = day_of(scope.window.last), BalancesByDay
    stmt = select(func.coalesce(func.sum(t.points), 0)).where(t.day <= last)
    if scope.store_id is not None:
        stmt = stmt.where(t.home_store_id == scope.store_id)
    net = int(session.scalar(stmt)) + sum(
        points
        for (day, home), points in unrolled.items()
        if day <= last and scope.store_id in (None, home)
    )
    owed = _owed(session, scope, unrolled)
    return net + owed, owed


def breakage(session: Session, scope: Scope, movements_after: int, zone: ZoneInfo) -> str | None:
    """Of the points in lots earned by the end of the window that have closed, the share that
    expired; None while none has closed."""
    last, t = day_of(scope.window.last), ClosedLotsByDay
    stmt = select(
        func.coalesce(func.sum(t.closed_points), 0), func.coalesce(func.sum(t.expired_points), 0)
    ).where(t.day <= last)
    if scope.store_id is not None:
        stmt = stmt.where(t.store_id == scope.store_id)
    closed, expired = (int(n) for n in session.execute(stmt).one())
    for (day, store), (more, gone) in closed_lots.change(
        session, movements_after, None, zone
    ).items():
        if day <= last and scope.store_id in (None, store):
            closed, expired = closed + more, expired + gone
    return share(expired, closed)

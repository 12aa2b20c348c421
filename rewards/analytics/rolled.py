"""The program's members, points flows, weeks and cohorts read from the rollups, with what the
rollups do not hold yet worked out from the rows themselves, so a figure counts a receipt as
soon as the engine has processed it (docs/ANALYTICS.md, "Rollups")."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from loyalty.money import format_minor
from rewards.analytics import program, rolled_points, rollups, sums
from rewards.analytics.member_shares import Key
from rewards.analytics.models import MemberCount, PointsByDay, RollupState, SalesByDay
from rewards.analytics.periods import day_date, day_of, monday, month_label, month_number
from rewards.analytics.program import Scope, share


@dataclass(frozen=True)
class Rolled:
    """What a report reads, for its scope: points and sales by day within the window, and the
    member counts of the scope's store (0: the whole program)."""

    points: dict[int, list[tuple[str, str, int]]]
    sales: dict[int, list[int]]
    counts: Counter[tuple[str, int, int]]  # kind, cohort, period
    active_days: int
    balances: tuple[int, int]  # outstanding and owed at the end of the window
    breakage_rate: str | None


def _in_scope(scope: Scope, store: int, day: int, first: int, last: int) -> bool:
    return first <= day <= last and (scope.store_id is None or store == scope.store_id)


def _points(session: Session, scope: Scope, unrolled: Counter[sums.PointsKey]) -> dict:
    first, last = day_of(scope.window.first), day_of(scope.window.last)
    t = PointsByDay
    stmt = select(t.day, t.kind, t.cause_type, func.sum(t.points)).where(t.day.between(first, last))
    if scope.store_id is not None:
        stmt = stmt.where(t.store_id == scope.store_id)
    found: dict[int, Counter] = {}
    for day, kind, cause, points in session.execute(stmt.group_by(t.day, t.kind, t.cause_type)):
        found.setdefault(day, Counter())[(kind, cause)] += int(points)
    for (day, store, kind, cause), points in unrolled.items():
        if _in_scope(scope, store, day, first, last):
            found.setdefault(day, Counter())[(kind, cause)] += points
    return {day: [(k, c, n) for (k, c), n in got.items()] for day, got in found.items()}


def _sales(session: Session, scope: Scope, marks: rollups.Marks, zone: ZoneInfo) -> dict:
    first, last = day_of(scope.window.first), day_of(scope.window.last)
    t = SalesByDay
    stmt = select(t.day, func.sum(t.sales_minor), func.sum(t.member_sales_minor)).where(
        t.day.between(first, last)
    )
    if scope.store_id is not None:
        stmt = stmt.where(t.store_id == scope.store_id)
    found = {day: [int(a), int(b)] for day, a, b in session.execute(stmt.group_by(t.day))}
    for (day, store), (a, b) in sums.sales(session, marks.sales, None, zone).items():
        if _in_scope(scope, store, day, first, last):
            got = found.setdefault(day, [0, 0])
            got[0], got[1] = got[0] + a, got[1] + b
    return found


def _counts(
    session: Session, scope: Scope, row: RollupState | None, zone: ZoneInfo
) -> Counter[tuple[str, int, int]]:
    """The member counts a report reads: enrolments and activity up to the end of the window's
    last month, weeks of the window, months of its cohorts, tiers now."""
    w, t = scope.window, MemberCount
    first, last = day_of(w.first), day_of(w.last)
    month_end = day_of(w.months()[-1][2].date()) - 1
    store = t.store_id == (scope.store_id or 0)
    found: Counter[tuple[str, int, int]] = Counter()
    for condition in (
        and_(t.kind.in_(("enrol", "active")), store, t.period <= month_end),
        and_(t.kind == "week", store, t.period.between(monday(first), last)),
        and_(t.kind == "month", store, t.cohort >= month_number(w.first)),
        and_(or_(t.kind.startswith("tier:"), t.kind.startswith("points:")), store),
    ):
        for kind, cohort, period, members in session.execute(
            select(t.kind, t.cohort, t.period, t.members).where(condition)
        ):
            found[(kind, cohort, period)] += int(members)
    who = rollups.touched(session, rollups.held(row), None)
    change: Counter[Key] = rollups.change_in_counts(session, who, zone, scope.active_days)
    for (kind, scope_store, cohort, period), n in change.items():
        if scope_store == (scope.store_id or 0):
            found[(kind, cohort, period)] += n
    return found


def load(session: Session, scope: Scope) -> Rolled:
    zone = ZoneInfo(scope.window.timezone)
    row = session.get(RollupState, 1)
    marks = rollups.held(row)
    points, balances = sums.entries(session, marks.entries, None, zone)
    return Rolled(
        _points(session, scope, points),
        _sales(session, scope, marks, zone),
        _counts(session, scope, row, zone),
        row.active_days if row is not None else 0,
        rolled_points.balances(session, scope, balances),
        rolled_points.breakage(session, scope, marks.movements, zone),
    )


def _total(counts: Counter, kind: str, first: int, last: int) -> int:
    return sum(n for (k, _c, p), n in counts.items() if k == kind and first <= p <= last)


def members(session: Session, scope: Scope, rolled: Rolled) -> dict[str, Any]:
    first, last = day_of(scope.window.first), day_of(scope.window.last)
    total = _total(rolled.counts, "enrol", 0, last)
    if rolled.active_days == scope.active_days:
        active = _total(rolled.counts, "active", 0, last)
    else:  # the setting changed and the rollups are not counted again yet
        active = program.members(session, scope)["active"]
    return {
        "total": total,
        "new": _total(rolled.counts, "enrol", first, last),
        "active": active,
        "active_rate": share(active, total),
    }


def point_flows(rolled: Rolled, first: int, last: int) -> dict[str, int]:
    return program.flows(
        row for day, rows in rolled.points.items() if first <= day <= last for row in rows
    )


def by_tier(rolled: Rolled) -> list[dict[str, Any]]:
    """Members and their points above zero by the tier they hold now."""
    tiers = sorted(k[5:] for (k, _c, _p), n in rolled.counts.items() if k.startswith("tier:") and n)
    return [
        {
            "tier": tier,
            "members": rolled.counts[(f"tier:{tier}", 0, 0)],
            "outstanding": rolled.counts[(f"points:{tier}", 0, 0)],
        }
        for tier in tiers
    ]


def by_week(scope: Scope, rolled: Rolled) -> list[dict[str, Any]]:
    weeks = []
    buying: dict[int, list[tuple[int, int]]] = {}
    for (kind, bits, period), n in rolled.counts.items():
        if kind == "week":
            buying.setdefault(period, []).append((bits, n))
    for start, _first_at, _end_at in scope.window.weeks():
        week = day_of(start)
        first = max(week, day_of(scope.window.first))
        last = min(week + 6, day_of(scope.window.last))
        flows = point_flows(rolled, first, last)
        sales = [
            sum(rolled.sales.get(d, [0, 0])[i] for d in range(first, last + 1)) for i in (0, 1)
        ]
        days = sum(1 << (d - week) for d in range(first, last + 1))
        buyers = sum(n for bits, n in buying.get(week, ()) if bits & days)
        weeks.append(
            {
                "week_start": start.isoformat(),
                **{name: flows[name] for name in ("issued", "redeemed", "expired")},
                "new_members": _total(rolled.counts, "enrol", first, last),
                "active_members": buyers,
                "sales": format_minor(sales[0]),
                "member_sales_share": share(sales[1], sales[0]) or "0.0000",
            }
        )
    return weeks


def cohorts(scope: Scope, rolled: Rolled) -> list[dict[str, Any]]:
    months = [month_number(start.date()) for _label, start, _end in scope.window.months()]
    sizes: Counter[int] = Counter()
    for (kind, _cohort, period), n in rolled.counts.items():
        if kind == "enrol":
            sizes[month_number(day_date(period))] += n
    return [
        {
            "month": month_label(cohort),
            "members": sizes[cohort],
            "retained": [
                share(rolled.counts[("month", cohort, later)], sizes[cohort]) or "0.0000"
                for later in months[i:]
            ],
        }
        for i, cohort in enumerate(months)
    ]

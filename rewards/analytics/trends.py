"""The program week by week and its members by enrolment month (cohorts): one grouped query
each, the rows put in weeks or months by their time in the program's zone."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from loyalty.money import format_minor
from rewards.analytics.program import (
    CLOSED,
    ENTRIES,
    MEMBERS,
    SALES,
    Scope,
    bucket,
    counted_members,
    entries,
    flow_columns,
    flows,
    share,
)

FLOWS = ("issued", "redeemed", "expired")


def _weekly_flows(session: Session, scope: Scope, bounds: list) -> list[dict[str, int]]:
    week = bucket(ENTRIES.c.occurred_at, bounds).label("week")
    stmt = entries(scope, week, *flow_columns()).where(
        ENTRIES.c.occurred_at >= scope.window.start(), ENTRIES.c.occurred_at < scope.window.end
    )
    rows: list[list] = [[] for _ in bounds]
    for index, kind, cause, points in session.execute(
        stmt.group_by(week, ENTRIES.c.kind, ENTRIES.c.cause_type)
    ):
        rows[index].append((kind, cause, points))
    return [flows(found) for found in rows]


def _weekly_sales(session: Session, scope: Scope, bounds: list) -> list[tuple[int, int, int]]:
    """(sales less refunds, the members' part of it, members buying) per week."""
    week = bucket(SALES.c.occurred_at, bounds).label("week")
    signed = case((SALES.c.type == "refund", -SALES.c.total_minor), else_=SALES.c.total_minor)
    member = SALES.c.member_id.is_not(None)
    buyer = and_(
        SALES.c.type == "sale",
        MEMBERS.c.status.not_in(CLOSED),
        SALES.c.occurred_at >= MEMBERS.c.enrolled_at,
    )
    stmt = (
        select(
            week,
            func.sum(signed),
            func.sum(case((member, signed), else_=0)),
            func.count(func.distinct(case((buyer, SALES.c.member_id)))),
        )
        .select_from(SALES.outerjoin(MEMBERS, MEMBERS.c.id == SALES.c.member_id))
        .where(
            SALES.c.occurred_at >= scope.window.start(),
            SALES.c.occurred_at < scope.window.end,
        )
    )
    if scope.store_id is not None:
        stmt = stmt.where(SALES.c.store_id == scope.store_id)
    found = [(0, 0, 0)] * len(bounds)
    for index, sales, members_part, buyers in session.execute(stmt.group_by(week)):
        found[index] = (int(sales or 0), int(members_part or 0), int(buyers))
    return found


def _weekly_enrolments(session: Session, scope: Scope, bounds: list) -> list[int]:
    week = bucket(MEMBERS.c.enrolled_at, bounds).label("week")
    stmt = select(week, func.count()).where(
        counted_members(scope),
        MEMBERS.c.enrolled_at >= scope.window.start(),
        MEMBERS.c.enrolled_at < scope.window.end,
    )
    found = [0] * len(bounds)
    for index, count in session.execute(stmt.group_by(week)):
        found[index] = int(count)
    return found


def by_week(session: Session, scope: Scope) -> list[dict[str, Any]]:
    weeks = scope.window.weeks()
    bounds = [(start, end) for _monday, start, end in weeks]
    flows = _weekly_flows(session, scope, bounds)
    sales = _weekly_sales(session, scope, bounds)
    enrolments = _weekly_enrolments(session, scope, bounds)
    return [
        {
            "week_start": monday.isoformat(),
            **{name: flows[i][name] for name in FLOWS},
            "new_members": enrolments[i],
            "active_members": sales[i][2],
            "sales": format_minor(sales[i][0]),
            "member_sales_share": share(sales[i][1], sales[i][0]) or "0.0000",
        }
        for i, (monday, _start, _end) in enumerate(weeks)
    ]


def cohorts(session: Session, scope: Scope) -> list[dict[str, Any]]:
    """Members enrolled in each month of the window, and the share of them buying in that
    month and each month after it up to the window's last."""
    months = scope.window.months()
    bounds = [(start, end) for _label, start, end in months]
    cohort = bucket(MEMBERS.c.enrolled_at, bounds).label("cohort")
    sizes = [0] * len(months)
    for index, count in session.execute(
        select(cohort, func.count())
        .where(counted_members(scope))
        .where(MEMBERS.c.enrolled_at >= bounds[0][0], MEMBERS.c.enrolled_at < bounds[-1][1])
        .group_by(cohort)
    ):
        sizes[index] = int(count)
    bought = bucket(SALES.c.occurred_at, bounds).label("bought")
    stmt = (
        select(cohort, bought, func.count(func.distinct(MEMBERS.c.id)))
        .select_from(MEMBERS.join(SALES, SALES.c.member_id == MEMBERS.c.id))
        .where(counted_members(scope), SALES.c.type == "sale")
        .where(MEMBERS.c.enrolled_at >= bounds[0][0], MEMBERS.c.enrolled_at < bounds[-1][1])
        .where(SALES.c.occurred_at >= MEMBERS.c.enrolled_at, SALES.c.occurred_at < bounds[-1][1])
    )
    if scope.store_id is not None:
        stmt = stmt.where(SALES.c.store_id == scope.store_id)
    buyers: dict[tuple[int, int], int] = {}
    for c, b, count in session.execute(stmt.group_by(cohort, bought)):
        buyers[(c, b)] = int(count)
    return [
        {
            "month": label,
            "members": sizes[c],
            "retained": [
                share(buyers.get((c, b), 0), sizes[c]) or "0.0000" for b in range(c, len(months))
            ],
        }
        for c, (label, _start, _end) in enumerate(months)
    ]

"""What each member adds to the member counts of the rollups, worked out from their enrolment
and their sales (pure rules first, then the reads that feed them).

A member adds, for the whole program (store 0) and, where it applies, one store:
- "enrol": 1 on their enrolment day (the store: where they enrolled);
- "tier:<code>": 1 in the tier they hold now, and "points:<code>" their balance above zero;
- "week": 1 on each week they bought in, keyed by the Monday and the days of the week they
  bought on as bits (a window that cuts a week counts the buyers of its days);
- "month": 1 for each month they bought in, with their enrolment month as cohort (the store:
  their enrolment store, for sales there);
- "active": +1 where a spell of activity starts and -1 the day after it ends; a sale on day d
  makes a member active from d to d + active_days - 1 (the store: as for months).
Only sales at or after enrolment count, and members merged or erased add nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from rewards.analytics.models import MemberShare
from rewards.analytics.periods import day_date, day_number, monday, month_number
from rewards.analytics.program import CLOSED, MEMBERS, SALES

Key = tuple[str, int, int, int]  # kind, store (0: all), cohort, period
Sale = tuple[datetime, int]  # when, store


def spells(days: Sequence[int], active_days: int) -> list[tuple[int, int]]:
    """(first, last) days of activity, from the sorted days with a sale."""
    found: list[tuple[int, int]] = []
    for day in days:
        if found and day - (found[-1][1] - active_days + 1) < active_days:
            found[-1] = (found[-1][0], day + active_days - 1)
        else:
            found.append((day, day + active_days - 1))
    return found


@dataclass(frozen=True)
class Standing:
    """A member as they stand now: enrolment, enrolment store, tier, balance."""

    enrolled_at: datetime
    home: int | None
    tier: str = "member"
    balance: int = 0


def shares(
    member: Standing, sales: Iterable[Sale], zone: ZoneInfo, active_days: int
) -> Counter[Key]:
    """One counted member's share of the member counts."""
    enrolled_at, home = member.enrolled_at, member.home
    enrolled = day_number(enrolled_at, zone)
    cohort = month_number(day_date(enrolled))
    got: Counter[Key] = Counter()
    for scope in (0,) if home is None else (0, home):
        got[("enrol", scope, 0, enrolled)] += 1
        got[(f"tier:{member.tier}", scope, 0, 0)] += 1
        got[(f"points:{member.tier}", scope, 0, 0)] += max(member.balance, 0)
    week_days: dict[tuple[int, int], int] = {}
    days: dict[int, set[int]] = {}
    for when, store in sales:
        if when < enrolled_at:
            continue
        day = day_number(when, zone)
        start = monday(day)
        for scope in (0, store):
            week_days[(scope, start)] = week_days.get((scope, start), 0) | 1 << (day - start)
        for scope in (0, store) if store == home else (0,):
            days.setdefault(scope, set()).add(day)
    for (scope, start), bits in week_days.items():
        got[("week", scope, bits, start)] += 1
    for scope, bought in days.items():
        for month in {month_number(day_date(day)) for day in bought}:
            got[("month", scope, cohort, month)] += 1
        for first, last in spells(sorted(bought), active_days):
            got[("active", scope, 0, first)] += 1
            got[("active", scope, 0, last + 1)] -= 1
    return Counter({key: weight for key, weight in got.items() if weight})


def fresh(session: Session, where: Any, zone: ZoneInfo, active_days: int) -> dict[int, Counter]:
    """The shares of the members `where` selects, from their rows now (empty for members
    merged or erased)."""
    found: dict[int, Counter[Key]] = {}
    people = session.execute(
        select(
            MEMBERS.c.id,
            MEMBERS.c.status,
            MEMBERS.c.enrolled_at,
            MEMBERS.c.enrolled_store_id,
            MEMBERS.c.tier_code,
            MEMBERS.c.points_balance,
        ).where(where)
    ).all()
    sales: dict[int, list[Sale]] = {}
    bought = select(SALES.c.member_id, SALES.c.occurred_at, SALES.c.store_id).where(
        SALES.c.type == "sale", SALES.c.member_id.in_(select(MEMBERS.c.id).where(where))
    )
    for member_id, when, store in session.execute(bought):
        sales.setdefault(member_id, []).append((when, store))
    for member_id, status, *standing in people:
        member = Standing(*standing)
        counted = status not in CLOSED
        bought = sales.get(member_id, ())
        found[member_id] = shares(member, bought, zone, active_days) if counted else Counter()
    return found


def stored(session: Session, where: Any) -> dict[int, Counter]:
    """The shares the rollups hold for the members `where` selects (a condition on
    MemberShare.member_id)."""
    rows = session.execute(select(MemberShare.member_id, MemberShare.counts).where(where))
    return {member_id: Counter({tuple(k): w for *k, w in counts}) for member_id, counts in rows}


def as_rows(got: Counter[Key]) -> list[list[Any]]:
    return [[*key, weight] for key, weight in sorted(got.items())]

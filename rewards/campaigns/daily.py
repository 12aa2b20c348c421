"""The daily events: member.birthday, member.inactive and points.expiring, once per member
per day, emitted to the outbox for the engine. Running a day again emits nothing new.

Only triggers (and inactive_days / days_before values) that an active campaign listens to are
emitted; the members are selected in SQL. Days are the program's days (its time zone).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from sqlalchemy import extract, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty.outbox import emit
from members.models import Member
from rewards.campaigns.events import DAILY_TRIGGERS, day_start
from rewards.models import Campaign, DailyRun, PointsLot


def listening(session: Session) -> set[tuple[str, int]]:
    """(trigger, param) pairs that active campaigns answer."""
    rows = session.execute(
        select(Campaign.trigger, Campaign.definition).where(
            Campaign.status == "active", Campaign.trigger.in_(DAILY_TRIGGERS)
        )
    )
    found = set()
    for trigger, definition in rows:
        param = definition.get("inactive_days") or definition.get("days_before") or 0
        found.add((trigger, int(param)))
    return found


def birthdays(session: Session, day: date) -> Iterable[tuple[int, dict]]:
    """Members born on this day and month (29 February counts on 28 February otherwise)."""
    days = [day.day]
    leap = day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0)
    if day.month == 2 and day.day == 28 and not leap:
        days.append(29)
    stmt = select(Member.id).where(
        Member.status == "active",
        extract("month", Member.birthdate) == day.month,
        extract("day", Member.birthdate).in_(days),
    )
    return ((member_id, {}) for member_id in session.scalars(stmt))


def inactive(
    session: Session, day: date, quiet_days: int, timezone: str
) -> Iterable[tuple[int, dict]]:
    """Members whose last purchase (or enrolment, if none) was exactly `quiet_days` ago."""
    start = day_start(day - timedelta(days=quiet_days), timezone)
    end = start + timedelta(days=1)
    last_seen = func.coalesce(Member.last_purchase_at, Member.enrolled_at)
    stmt = select(Member.id).where(Member.status == "active", last_seen >= start, last_seen < end)
    return ((member_id, {}) for member_id in session.scalars(stmt))


def expiring(
    session: Session, day: date, days_before: int, timezone: str
) -> Iterable[tuple[int, dict]]:
    """Members with points that expire `days_before` days from this day, and how many."""
    expires_on = day + timedelta(days=days_before)
    start = day_start(expires_on, timezone)
    stmt = (
        select(PointsLot.member_id, func.sum(PointsLot.remaining))
        .where(
            PointsLot.remaining > 0,
            PointsLot.expires_at >= start,
            PointsLot.expires_at < start + timedelta(days=1),
        )
        .group_by(PointsLot.member_id)
    )
    return (
        (member_id, {"points": int(points), "expires_on": expires_on.isoformat()})
        for member_id, points in session.execute(stmt)
    )


def _members_for(
    session: Session, trigger: str, param: int, day: date, timezone: str
) -> Iterable[tuple[int, dict]]:
    if trigger == "member.birthday":
        return birthdays(session, day)
    if trigger == "member.inactive":
        return inactive(session, day, param, timezone)
    return expiring(session, day, param, timezone)


def label(trigger: str, param: int) -> str:
    return f"{trigger}:{param}" if param else trigger


def emit_day(session: Session, day: date, trigger: str, param: int, timezone: str) -> int:
    """Emit the day's events of one (trigger, param), once per day; returns how many (0 when
    that day already ran). The loop over triggers is rewards.jobs.run_daily."""
    if session.get(DailyRun, (day, trigger, param)) is not None:
        return 0
    run = DailyRun(day=day, trigger=trigger, param=param, emitted=0)
    try:
        with session.begin_nested():  # another run of the same day may get there first
            session.add(run)
    except IntegrityError:
        return 0
    count = 0
    for member_id, extra in _members_for(session, trigger, param, day, timezone):
        payload = {
            "trigger": trigger,
            "member_id": member_id,
            "day": day.isoformat(),
            "param": param or None,
            **extra,
        }
        emit(session, trigger, payload)
        count += 1
    run.emitted = count
    return count

"""Periodic jobs of the ledger (run by `rq cron loyalty.cron` through loyalty.jobs) and the
batch loops they share with `flask points` / `flask events`: one unit of work per batch."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.unit_of_work import AnySession, unit_of_work
from rewards.campaigns import daily
from rewards.ledger import expiry


def expire_points(session: AnySession, now: datetime, batch: int = 500) -> int:
    """Expire every lot whose date has passed, a commit per batch; returns the points expired.

    Safe to run again or concurrently: an expired lot has nothing left to take.
    """
    total = 0
    while True:
        with unit_of_work(session):
            expired = expiry.expire_batch(session, now, batch)
        if not expired:  # nothing due, or nothing could be taken: stop rather than spin
            return total
        total += expired


def expire_due_points(session: Session) -> int:
    """Expire the lots whose date has passed; idempotent."""
    return expire_points(session, utcnow())


def program_today(timezone: str) -> date:
    return utcnow().astimezone(ZoneInfo(timezone)).date()


def run_daily(session: AnySession, day: date, timezone: str) -> dict[str, int]:
    """Emit the day's events, each (trigger, param) once per day and in a unit of its own;
    returns how many per trigger (0 for one already run)."""
    with unit_of_work(session):
        listening = sorted(daily.listening(session))
    emitted: dict[str, int] = {}
    for trigger, param in listening:
        with unit_of_work(session):
            emitted[daily.label(trigger, param)] = daily.emit_day(
                session, day, trigger, param, timezone
            )
    return emitted


def emit_daily_events(session: Session) -> dict[str, int]:
    """Today's birthday, inactivity and expiring-points events; idempotent per day."""
    timezone = current_app.config["TIMEZONE"]
    return run_daily(session, program_today(timezone), timezone)

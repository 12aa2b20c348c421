"""Periodic jobs of the ledger (run by `rq cron loyalty.cron` through loyalty.jobs)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from rewards.campaigns.daily import run_daily
from rewards.ledger.expiry import expire_points


def expire_due_points(session: Session) -> int:
    """Expire the lots whose date has passed; idempotent."""
    return expire_points(session, utcnow())


def program_today(timezone: str) -> date:
    return utcnow().astimezone(ZoneInfo(timezone)).date()


def emit_daily_events(session: Session) -> dict[str, int]:
    """Today's birthday, inactivity and expiring-points events; idempotent per day."""
    timezone = current_app.config["TIMEZONE"]
    return run_daily(session, program_today(timezone), timezone)

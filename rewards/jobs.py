"""Periodic jobs of the ledger (run by `rq cron loyalty.cron` through loyalty.jobs)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from loyalty.db import utcnow
from rewards.expiry import expire_points


def expire_due_points(session: Session) -> int:
    """Expire the lots whose date has passed; idempotent."""
    return expire_points(session, utcnow())

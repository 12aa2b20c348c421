"""Tier reviews as a job (the periodic task "review_tiers" and `flask tiers review`): one
unit of work for the scheduling, then one per batch of reviews."""

from __future__ import annotations

from datetime import datetime

from loyalty.db import utcnow
from loyalty.unit_of_work import AnySession, unit_of_work
from members.tiers.moves import ReviewRun, review_batch, schedule_unreviewed
from members.tiers.service import policy_in_force


def review_due(session: AnySession, at: datetime, timezone: str, batch: int = 500) -> ReviewRun:
    """Review every member whose review is due by `at`, a commit per batch. Idempotent: a
    review moves its date on."""
    with unit_of_work(session):
        in_force = policy_in_force(session)
        scheduled = schedule_unreviewed(session, in_force, at, timezone)
    reviewed = changed = 0
    while True:
        with unit_of_work(session):
            done, moved = review_batch(session, at, in_force, timezone, batch)
        if not done:
            return ReviewRun(reviewed, changed, scheduled)
        reviewed, changed = reviewed + done, changed + moved


def review_due_now(session: AnySession, timezone: str) -> ReviewRun:
    """The periodic job: the reviews due by now."""
    return review_due(session, utcnow(), timezone)

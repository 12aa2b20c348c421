"""Points expiry: lots past their date are taken off the balance, one entry per member."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rewards.ledger import journal
from rewards.models import JournalEntry, PointsLot


def expire_batch(session: Session, now: datetime, batch: int = 500) -> int | None:
    """Expire up to `batch` of the lots whose date has passed; returns the points expired,
    or None when no lot is due. The loop over batches is rewards.jobs.expire_points.

    Safe to run again or concurrently: an expired lot has nothing left to take.
    """
    due = _due_lots(session, now, batch)
    if not due:
        return None
    return sum(_expire_member_lots(session, m, ids, now) for m, ids in due.items())


def _expire_member_lots(session: Session, member_id: int, lot_ids: list[int], now: datetime) -> int:
    """Expire what is left in these lots, read again under the member's lock."""
    journal.lock_member(session, member_id)
    lots = session.execute(
        select(PointsLot.id, PointsLot.remaining)
        .where(PointsLot.id.in_(lot_ids), PointsLot.remaining > 0)
        .order_by(PointsLot.id)
    ).all()
    points = sum(remaining for _, remaining in lots)
    if points <= 0:
        return 0
    # The member's latest entry makes the key unique: points put back into an expired lot
    # (a cancelled redemption) expire in a new entry, even at the same `now`.
    latest = session.scalar(
        select(func.max(JournalEntry.id)).where(JournalEntry.member_id == member_id)
    )
    spec = journal.Entry(
        member_id=member_id,
        kind="expire",
        points=points,
        account="expiry",
        key=f"expire:{member_id}:{now.isoformat()}:{lots[0][0]}:{latest}",
        cause_type="expiry",
        cause_id=now.date().isoformat(),
        description=f"{points} points expired",
    )
    journal.debit(session, spec, allow_negative=True, from_lots=[lot_id for lot_id, _ in lots])
    return points


def _due_lots(session: Session, now: datetime, batch: int) -> dict[int, list[int]]:
    rows = session.execute(
        select(PointsLot.member_id, PointsLot.id)
        .where(PointsLot.expires_at <= now, PointsLot.remaining > 0)
        .order_by(PointsLot.member_id, PointsLot.id)
        .limit(batch)
    )
    due: dict[int, list[int]] = defaultdict(list)
    for member_id, lot_id in rows:
        due[member_id].append(lot_id)
    return dict(due)

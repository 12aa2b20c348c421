"""Points expiry: lots past their date are taken off the balance, one entry per member."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rewards import journal
from rewards.models import PointsLot


def expire_points(session: Session, now: datetime, batch: int = 500) -> int:
    """Expire every lot whose date has passed; returns the points expired.

    Safe to run again or concurrently: an expired lot has nothing left to take.
    """
    total = 0
    while due := _due_lots(session, now, batch):
        for member_id, lots in due.items():
            points = sum(remaining for _, remaining in lots)
            spec = journal.Entry(
                member_id=member_id,
                kind="expire",
                points=points,
                account="expiry",
                key=f"expire:{member_id}:{now.isoformat()}:{lots[0][0]}",
                cause_type="expiry",
                cause_id=now.date().isoformat(),
                description=f"{points} points expired",
            )
            journal.debit(session, spec, allow_negative=True, from_lots=[i for i, _ in lots])
            total += points
        session.commit()
    return total


def _due_lots(session: Session, now: datetime, batch: int) -> dict[int, list[tuple[int, int]]]:
    rows = session.execute(
        select(PointsLot.member_id, PointsLot.id, PointsLot.remaining)
        .where(PointsLot.expires_at <= now, PointsLot.remaining > 0)
        .order_by(PointsLot.member_id, PointsLot.id)
        .limit(batch)
    )
    due: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for member_id, lot_id, remaining in rows:
        due[member_id].append((lot_id, remaining))
    return dict(due)

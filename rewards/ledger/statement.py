"""Read models of the ledger: a member's statement."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from rewards.models import JournalEntry


def member_ledger(
    session: Session, member_id: int, limit: int = 50, before_id: int | None = None
) -> list[JournalEntry]:
    """Journal entries of one member, newest first, paged by `before_id`."""
    stmt = (
        select(JournalEntry)
        .where(JournalEntry.member_id == member_id)
        .order_by(JournalEntry.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(JournalEntry.id < before_id)
    return list(session.scalars(stmt))

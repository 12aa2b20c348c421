"""Manual adjustments by an admin: a reason is required and lands in the audit log."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import InvalidInput
from loyalty.models import AuditLog
from rewards.earning.service import points_expiry
from rewards.ledger import journal
from rewards.models import JournalEntry


def adjust_points(
    session: Session,
    member_id: int,
    points: int,
    reason: str,
    actor: str,
    staff_user_id: int | None,
    timezone: str,
) -> JournalEntry:
    """Add (positive) or remove (negative) points; never below zero. Audited."""
    if points == 0:
        raise InvalidInput("points", "must not be zero")
    if len(reason.strip()) < 3:
        raise InvalidInput("reason", "say why, in at least 3 characters")
    spec = journal.Entry(
        member_id=member_id,
        kind="adjust",
        points=abs(points),
        account="adjustment",
        key=f"adjust:{uuid.uuid4().hex}",
        cause_type="adjustment",
        cause_id=actor,
        description=reason.strip(),
        staff_user_id=staff_user_id,
    )
    if points > 0:
        entry = journal.credit(session, spec, points_expiry(session, utcnow(), timezone))
    else:
        entry = journal.debit(session, spec)
    session.add(
        AuditLog(
            actor=actor,
            action="points.adjust",
            subject_type="member",
            subject_id=str(member_id),
            reason=reason.strip(),
            data={"points": points, "entry_id": entry.id},
        )
    )
    session.flush()
    return entry

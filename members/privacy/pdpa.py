"""Personal data rights (Thailand's PDPA): a member's data export, and erasure.

Erasure anonymises what identifies the person and keeps what the program's books need: the
ledger (still balanced; remaining points are forfeited by the ledger's erase step), receipts
and the purchase summaries analytics sum over, all under the member's number only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, update
from sqlalchemy.orm import Session

from loyalty.models import AuditLog, OutgoingMessage
from loyalty.outbox import emit
from members.errors import UnknownMember
from members.hooks import EraseStep, ExportSection
from members.models import Card, Consent, Member, MemberTag, OneTimeCode
from members.privacy.export import OWN_SECTIONS, iso
from members.privacy.merge import check_reason, lock_members
from members.privacy.row_moves import leave_segments
from members.service import get_member

ERASED_NAME = "Erased member"
REDACTED = "[erased]"


def export_member(
    session: Session, member_id: int, sections: Mapping[str, ExportSection], now: datetime
) -> dict[str, Any]:
    """The member's own data: every section, the profile store's and the other packages'."""
    get_member(session, member_id)
    merged = {**OWN_SECTIONS, **sections}
    return {
        "member_id": member_id,
        "exported_at": iso(now),
        "data": {name: merged[name](session, member_id) for name in merged},
    }


def erase_member(
    session: Session,
    member_id: int,
    *,
    reason: str,
    actor: str,
    steps: Mapping[str, EraseStep],
    now: datetime,
) -> tuple[Member, bool]:
    """Anonymise the member; returns (member, erased now). Erasing an erased member again
    changes nothing. Audited; emits member.erased."""
    reason = check_reason(reason)
    member = lock_members(session, [member_id]).get(member_id)
    if member is None:
        raise UnknownMember(f"No member {member_id}.")
    if member.status == "erased":
        return get_member(session, member_id), False
    changed = _erase_own(session, member, now)
    for name, step in steps.items():
        changed[name] = step(session, member_id, now)
    session.execute(
        update(Member)
        .where(Member.id == member_id)
        .values(
            name=ERASED_NAME,
            phone=None,
            email=None,
            birthdate=None,
            external_ref=None,
            status="erased",
            erased_at=now,
        )
    )
    session.add(
        AuditLog(
            actor=actor,
            action="member.erased",
            subject_type="member",
            subject_id=str(member_id),
            reason=reason,
            data={"member_no": member.member_no, "changed": changed},
            occurred_at=now,
        )
    )
    emit(session, "member.erased", {"member_id": member_id})
    session.flush()
    return get_member(session, member_id), True


def _erase_own(session: Session, member: Member, now: datetime) -> dict[str, int]:
    addresses = [a for a in (member.phone, member.email) if a]
    return {
        "consents_withdrawn": _run(
            session,
            update(Consent)
            .where(Consent.member_id == member.id, Consent.granted.is_(True))
            .values(granted=False, changed_at=now),
        ),
        "cards_blocked": _run(
            session,
            update(Card)
            .where(Card.member_id == member.id, Card.status == "active")
            .values(status="blocked", status_changed_at=now),
        ),
        "tags_removed": _run(session, delete(MemberTag).where(MemberTag.member_id == member.id)),
        "sign_in_codes_removed": _run(
            session,
            delete(OneTimeCode).where(
                or_(OneTimeCode.member_id == member.id, OneTimeCode.destination.in_(addresses))
            ),
        ),
        "messages_redacted": _redact_messages(session, member.id, addresses),
        "segments_left": leave_segments(session, member.id),
    }


def _redact_messages(session: Session, member_id: int, addresses: list[str]) -> int:
    """Messages to the member keep their channel, status and times; not who or what."""
    theirs = or_(OutgoingMessage.member_id == member_id, OutgoingMessage.recipient.in_(addresses))
    _run(
        session,
        update(OutgoingMessage)
        .where(theirs, OutgoingMessage.status == "queued")
        .values(status="cancelled"),
    )
    return _run(
        session,
        update(OutgoingMessage)
        .where(theirs)
        .values(recipient=REDACTED, subject=None, body=REDACTED, last_error=None),
    )


def _run(session: Session, stmt: Any) -> int:
    return session.execute(stmt.execution_options(synchronize_session=False)).rowcount

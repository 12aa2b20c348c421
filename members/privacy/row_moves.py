"""The profile store's own rows in a merge: consents, tags, cards, purchase days, affinities,
messages; and what is dropped with the duplicate (its scores, segment places, sign-in codes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from loyalty.db import dialect_insert, utcnow
from loyalty.models import OutgoingMessage
from members.models import (
    Card,
    Consent,
    MemberAffinity,
    MemberDay,
    MemberMetrics,
    MemberTag,
    OneTimeCode,
    Segment,
    SegmentMember,
)

CHUNK = 500


def move_own_rows(session: Session, source_id: int, target_id: int) -> dict[str, int]:
    """Move the source's rows of the profile store to the target; returns counts by kind."""
    return {
        "consents": merge_consents(session, source_id, target_id),
        "tags": merge_tags(session, source_id, target_id),
        "cards": move_cards(session, source_id, target_id),
        "purchase_days": add_up(session, MemberDay, ("day",), source_id, target_id),
        "affinities": add_up(session, MemberAffinity, ("kind", "key"), source_id, target_id),
        "messages": reassign(session, OutgoingMessage, source_id, target_id),
        "segments_left": leave_segments(session, source_id),
        "sign_in_codes_dropped": _drop_derived(session, source_id),
    }


def reassign(session: Session, model: Any, source_id: int, target_id: int) -> int:
    """A merge step for rows that simply change hands: the source's rows of `model` become the
    target's. Returns how many moved."""
    return session.execute(
        update(model)
        .where(model.member_id == source_id)
        .values(member_id=target_id)
        .execution_options(synchronize_session=False)
    ).rowcount


def drop(session: Session, model: Any, member_id: int, *where: Any) -> int:
    """Delete the member's rows of `model` (those matching `where` too); returns how many."""
    return session.execute(
        delete(model)
        .where(model.member_id == member_id, *where)
        .execution_options(synchronize_session=False)
    ).rowcount


def merge_consents(session: Session, source_id: int, target_id: int) -> int:
    """Per channel, the most recent decision of the two wins."""
    theirs = session.execute(
        select(Consent.id, Consent.channel, Consent.granted, Consent.changed_at).where(
            Consent.member_id == source_id
        )
    ).all()
    ours = {
        row.channel: row
        for row in session.execute(
            select(Consent.id, Consent.channel, Consent.changed_at).where(
                Consent.member_id == target_id
            )
        )
    }
    for row in theirs:
        mine = ours.get(row.channel)
        if mine is None:
            stmt = update(Consent).where(Consent.id == row.id).values(member_id=target_id)
        elif row.changed_at > mine.changed_at:
            stmt = (
                update(Consent)
                .where(Consent.id == mine.id)
                .values(granted=row.granted, changed_at=row.changed_at)
            )
        else:
            continue
        session.execute(stmt.execution_options(synchronize_session=False))
    drop(session, Consent, source_id)
    return len(theirs)


def merge_tags(session: Session, source_id: int, target_id: int) -> int:
    have = set(session.scalars(select(MemberTag.tag).where(MemberTag.member_id == target_id)))
    theirs = set(session.scalars(select(MemberTag.tag).where(MemberTag.member_id == source_id)))
    new = sorted(theirs - have)
    if new:
        session.execute(
            update(MemberTag)
            .where(MemberTag.member_id == source_id, MemberTag.tag.in_(new))
            .values(member_id=target_id)
            .execution_options(synchronize_session=False)
        )
    drop(session, MemberTag, source_id)
    return len(theirs)


def move_cards(session: Session, source_id: int, target_id: int) -> int:
    """Cards become the target's. A printed card keeps working (it is in the customer's
    wallet); a digital one is retired as replaced: the app shows the target's card."""
    session.execute(
        update(Card)
        .where(Card.member_id == source_id, Card.kind == "digital", Card.status != "replaced")
        .values(status="replaced", status_changed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return reassign(session, Card, source_id, target_id)


def add_up(
    session: Session, model: Any, keys: tuple[str, ...], source_id: int, target_id: int
) -> int:
    """Add the source's rows to the target's rows with the same key, then drop them."""
    counted = [c.name for c in model.__table__.columns if c.name not in ("member_id", *keys)]
    rows = session.execute(select(model).where(model.member_id == source_id)).scalars().all()
    values = [
        {"member_id": target_id, **{name: getattr(row, name) for name in (*keys, *counted)}}
        for row in rows
    ]
    for start in range(0, len(values), CHUNK):
        stmt = dialect_insert(session, model).values(values[start : start + CHUNK])
        stmt = stmt.on_conflict_do_update(
            index_elements=["member_id", *keys],
            set_={name: getattr(model, name) + getattr(stmt.excluded, name) for name in counted},
        )
        session.execute(stmt)
    drop(session, model, source_id)
    return len(values)


def leave_segments(session: Session, source_id: int) -> int:
    """The duplicate leaves its segments; the next refresh places the merged profile."""
    held = select(SegmentMember.segment_id).where(SegmentMember.member_id == source_id)
    session.execute(
        update(Segment)
        .where(Segment.id.in_(held))
        .values(size=Segment.size - 1)
        .execution_options(synchronize_session=False)
    )
    return drop(session, SegmentMember, source_id)


def _drop_derived(session: Session, source_id: int) -> int:
    """The duplicate's scores are recomputed on the merged profile by the next refresh; its
    unused sign-in codes must not sign anyone in as it."""
    drop(session, MemberMetrics, source_id)
    return drop(session, OneTimeCode, source_id, OneTimeCode.used_at.is_(None))

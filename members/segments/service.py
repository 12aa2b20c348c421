"""Segment services: named rules over profile facts whose members are kept in SQL.

A segment's members are the rows of `segment_members`, filled when it is created and brought
up to date by `refresh_segment` (the periodic task "refresh_segments", and on demand). A
refresh emits `segment.entered` / `segment.left` {"segment_id", "member_id"} for the members
it adds and removes; the first fill emits nothing. Campaign audiences read the membership.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import BigInteger, Row, case, delete, exists, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from loyalty import outbox
from loyalty.db import UTCDateTime, is_postgres
from loyalty.errors import Conflict, InvalidInput, NotFound
from members.models import Consent, Member, Segment, SegmentMember
from members.segments import sql as segment_sql

# Something that may name a segment (a campaign's audience): what uses it, or None.
SegmentUser = Callable[[Session, int], str | None]
USERS = "members.segment_users"


class UnknownSegment(NotFound):
    slug = "unknown-segment"


class SegmentInUse(Conflict):
    slug = "segment-in-use"


@dataclass(frozen=True)
class Refresh:
    segment_id: int
    entered: int
    left: int
    size: int


def register_segment_user(app: Flask, user: SegmentUser) -> None:
    """Let a package that names segments keep one it uses from being deleted."""
    app.extensions.setdefault(USERS, []).append(user)


def segment_users(app: Flask) -> list[SegmentUser]:
    return app.extensions.get(USERS, [])


def check_rule(rule: Any) -> None:
    """InvalidInput naming the part of the rule that is wrong."""
    found = segment_sql.problems(rule)
    if found:
        path, problem = found[0]
        raise InvalidInput(f"rule.{path}" if path else "rule", problem)


def _query(rule: Mapping[str, Any], now: datetime, timezone: str, *columns: Any):
    return segment_sql.members_query(rule, segment_sql.Context.at(now, timezone), *columns)


def preview_size(session: Session, rule: Any, now: datetime, timezone: str) -> int:
    """How many members the rule holds for now; nothing is saved."""
    check_rule(rule)
    return session.scalar(select(func.count()).select_from(_query(rule, now, timezone).subquery()))


def create_segment(
    session: Session, name: str, rule: Any, actor: str, now: datetime, timezone: str
) -> Segment:
    """Save a segment and fill it with the members its rule holds for (no events)."""
    check_rule(rule)
    segment = Segment(name=name, rule=rule, created_by=actor, created_at=now, size=0)
    session.add(segment)
    session.flush()
    _add_members(session, segment, now, timezone, new=True)
    segment.size, segment.refreshed_at = _size(session, segment.id), now
    session.flush()
    return segment


def _add_members(
    session: Session, segment: Segment, now: datetime, timezone: str, *, new: bool = False
) -> list[int]:
    """INSERT the members the rule holds for and the segment lacks; their ids, unless the
    segment is `new`. A new segment's first fill checks for no members it cannot have yet:
    planned on an empty `segment_members`, that check scanned the table being filled once per
    candidate (minutes for a few hundred thousand)."""
    entering = _query(
        segment.rule,
        now,
        timezone,
        literal(segment.id, BigInteger),
        Member.id,
        literal(now, UTCDateTime),
    )
    columns = ["segment_id", "member_id", "entered_at"]
    if new:
        session.execute(insert(SegmentMember).from_select(columns, entering))
        return []
    stmt = insert(SegmentMember).from_select(
        columns, entering.where(~_is_member(segment.id, Member.id))
    )
    return list(session.scalars(stmt.returning(SegmentMember.member_id)))


def _remove_members(session: Session, segment: Segment, now: datetime, timezone: str) -> list[int]:
    """DELETE the members the rule no longer holds for; their ids. The set difference (EXCEPT)
    evaluates the rule once over all members, where a NOT EXISTS per member was planned as
    three index probes for each (7 s instead of 2 for 400,000 members)."""
    held = select(SegmentMember.member_id).where(SegmentMember.segment_id == segment.id)
    gone = held.except_(_query(segment.rule, now, timezone, Member.id))
    stmt = delete(SegmentMember).where(
        SegmentMember.segment_id == segment.id, SegmentMember.member_id.in_(gone)
    )
    return list(session.scalars(stmt.returning(SegmentMember.member_id)))


def _is_member(segment_id: int, member_id: Any):
    return exists().where(
        SegmentMember.segment_id == segment_id, SegmentMember.member_id == member_id
    )


def _size(session: Session, segment_id: int) -> int:
    return session.scalar(select(func.count()).where(SegmentMember.segment_id == segment_id)) or 0


def refresh_segment(session: Session, segment_id: int, now: datetime, timezone: str) -> Refresh:
    """Bring a segment's members up to date with its rule, in SQL, and emit an event for each
    member who entered or left. Two refreshes of one segment wait for each other."""
    segment = _locked(session, segment_id)
    left = _remove_members(session, segment, now, timezone)
    entered = _add_members(session, segment, now, timezone)
    _emit_each(session, "segment.left", segment.id, left)
    _emit_each(session, "segment.entered", segment.id, entered)
    segment.size, segment.refreshed_at = _size(session, segment.id), now
    session.flush()
    return Refresh(segment.id, len(entered), len(left), segment.size)


def _locked(session: Session, segment_id: int) -> Segment:
    stmt = select(Segment).where(Segment.id == segment_id)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    segment = session.scalar(stmt)
    if segment is None:
        raise UnknownSegment(f"No segment {segment_id}.")
    return segment


def _emit_each(session: Session, topic: str, segment_id: int, member_ids: list[int]) -> None:
    """One outbox message per member, written in one statement."""
    payloads = [{"segment_id": segment_id, "member_id": m} for m in sorted(member_ids)]
    outbox.emit_many(session, topic, payloads)


def segment_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Segment.id).order_by(Segment.id)))


def get_segment(session: Session, segment_id: int) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise UnknownSegment(f"No segment {segment_id}.")
    return segment


def list_segments(session: Session) -> list[Segment]:
    return list(session.scalars(select(Segment).order_by(Segment.id)))


def delete_segment(session: Session, segment_id: int, users: Iterable[SegmentUser]) -> None:
    """Delete a segment and its membership (no events); SegmentInUse while something, such as
    a campaign that has not ended, names it."""
    segment = _locked(session, segment_id)
    for user in users:
        if (used_by := user(session, segment_id)) is not None:
            raise SegmentInUse(f"Segment {segment_id} is in the audience of {used_by}.")
    session.execute(delete(SegmentMember).where(SegmentMember.segment_id == segment.id))
    session.delete(segment)
    session.flush()


def members_page(
    session: Session, segment_id: int, limit: int, after_id: int | None = None
) -> list[Row]:
    """Members of the segment by id, from after `after_id` (keyset paging)."""
    get_segment(session, segment_id)
    stmt = (
        select(
            Member.id,
            Member.member_no,
            Member.name,
            Member.tier_code.label("tier"),
            SegmentMember.entered_at,
        )
        .join(SegmentMember, SegmentMember.member_id == Member.id)
        .where(SegmentMember.segment_id == segment_id, Member.id > (after_id or 0))
        .order_by(Member.id)
        .limit(limit)
    )
    return list(session.execute(stmt))


def _consented(channel: str) -> Any:
    return exists().where(
        Consent.member_id == Member.id, Consent.channel == channel, Consent.granted.is_(True)
    )


def export_rows(session: Session, segment_id: int, batch: int = 1000) -> Iterator[tuple]:
    """(member_no, name, email, phone) of the members who may be contacted: the email only
    with marketing_email consent, the phone only with marketing_sms consent; members with
    neither are left out. Read in batches by member id."""
    email = case((_consented("marketing_email"), Member.email), else_=None).label("email")
    phone = case((_consented("marketing_sms"), Member.phone), else_=None).label("phone")
    after = 0
    while True:
        rows = session.execute(
            select(Member.id, Member.member_no, Member.name, email, phone)
            .join(SegmentMember, SegmentMember.member_id == Member.id)
            .where(
                SegmentMember.segment_id == segment_id,
                Member.id > after,
                or_(email.is_not(None), phone.is_not(None)),
            )
            .order_by(Member.id)
            .limit(batch)
        ).all()
        yield from ((r.member_no, r.name, r.email or "", r.phone or "") for r in rows)
        if len(rows) < batch:
            return
        after = rows[-1].id


def member_segment_ids(session: Session, member_id: int) -> list[int]:
    """The segments the member is in now (as last refreshed)."""
    stmt = select(SegmentMember.segment_id).where(SegmentMember.member_id == member_id)
    return sorted(session.scalars(stmt))


def segments_of(session: Session, member_ids: Iterable[int]) -> dict[int, list[int]]:
    """The segments each of the members is in now (members in none are left out)."""
    found: dict[int, list[int]] = {}
    stmt = (
        select(SegmentMember.member_id, SegmentMember.segment_id)
        .where(SegmentMember.member_id.in_(set(member_ids)))
        .order_by(SegmentMember.segment_id)
    )
    for member_id, segment_id in session.execute(stmt):
        found.setdefault(member_id, []).append(segment_id)
    return found


def unknown_segments(session: Session, segment_ids: Iterable[int]) -> list[int]:
    """Those of the ids that name no segment."""
    wanted = set(segment_ids)
    found = set(session.scalars(select(Segment.id).where(Segment.id.in_(wanted))))
    return sorted(wanted - found)

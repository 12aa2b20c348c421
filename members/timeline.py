"""A member's timeline: purchases, points, tier changes, campaigns and messages, newest first.

Every source (the profile store's own, and those other packages register in
`members.hooks`) returns its newest entries older than the page boundary; the page is
the newest `limit` of them all. The boundary is an opaque cursor naming the last entry shown.
"""

from __future__ import annotations

import base64
import binascii
import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.db import MAX_ID
from loyalty.errors import InvalidInput
from loyalty.models import AuditLog, OutgoingMessage
from members.hooks import TimelineEntry, TimelineSource, TimelineWindow
from members.models import Member, TierChange


@dataclass(frozen=True)
class Cursor:
    at: datetime
    source: str
    ref: int

    def encode(self) -> str:
        raw = f"{self.at.isoformat()}|{self.source}|{self.ref}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor a previous page gave; InvalidInput("before") for anything else."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            at, source, ref = raw.split("|")
            when = datetime.fromisoformat(at)
            if when.tzinfo is None:
                raise ValueError("a cursor's time has an offset")
            if not 0 <= int(ref) <= MAX_ID:
                raise ValueError("a cursor's id is a row id")
            return cls(when.astimezone(UTC), source, int(ref))
        except (ValueError, OverflowError, binascii.Error) as exc:
            raise InvalidInput("before", "not a cursor this timeline gave") from exc


@dataclass(frozen=True)
class Page:
    entries: list[TimelineEntry]
    next_cursor: str | None


def _window(
    member_id: int, limit: int, private: bool, name: str, cursor: Cursor | None
) -> TimelineWindow:
    if cursor is None:
        return TimelineWindow(member_id, limit, private)
    if name < cursor.source:
        below: int | None = None
    else:
        below = cursor.ref if name == cursor.source else 0
    return TimelineWindow(member_id, limit, private, cursor.at, below)


def timeline(
    session: Session,
    member_id: int,
    sources: Mapping[str, TimelineSource],
    *,
    limit: int = 50,
    before: str | None = None,
    private: bool = False,
) -> Page:
    """One page of the member's timeline, newest first; `before` is the previous page's
    `next_cursor`. InvalidInput("before") for a cursor this timeline did not give."""
    cursor = Cursor.decode(before) if before else None
    merged = {**OWN_SOURCES, **sources}
    found: list[TimelineEntry] = []
    for name in sorted(merged):
        found.extend(merged[name](session, _window(member_id, limit + 1, private, name, cursor)))
    newest = heapq.nlargest(limit + 1, found, key=lambda entry: entry.key)
    page = newest[:limit]
    last = page[-1] if page and len(newest) > limit else None
    return Page(page, Cursor(last.at, last.source, last.ref).encode() if last else None)


def _tier_changes(session: Session, window: TimelineWindow) -> list[TimelineEntry]:
    t = TierChange
    stmt = window.page(select(t), t.member_id, t.occurred_at, t.id)
    return [
        TimelineEntry(
            at=row.occurred_at,
            kind="tier",
            summary=f"Tier {row.from_tier} → {row.to_tier} ({row.reason})",
            detail={
                "from": row.from_tier,
                "to": row.to_tier,
                "reason": row.reason,
                "policy_version": row.policy_version,
            },
            source="tiers",
            ref=row.id,
        )
        for row in session.scalars(stmt)
    ]


def _message_detail(row: OutgoingMessage, private: bool) -> dict:
    detail = {
        "message_id": row.id,
        "channel": row.channel,
        "status": row.status,
        "template": row.template,
        "campaign_id": row.campaign_id,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
    }
    if private:
        detail.update(subject=row.subject, body=row.body)
    return detail


def _message_summary(row: OutgoingMessage) -> str:
    template = f" {row.template}" if row.template else ""
    return f"{row.channel} message{template} ({row.status})"


def _messages(session: Session, window: TimelineWindow) -> list[TimelineEntry]:
    m = OutgoingMessage
    stmt = window.page(select(m), m.member_id, m.created_at, m.id)
    return [
        TimelineEntry(
            at=row.created_at,
            kind="message",
            summary=_message_summary(row),
            detail=_message_detail(row, window.private),
            source="messages",
            ref=row.id,
        )
        for row in session.scalars(stmt)
    ]


def _enrolment(session: Session, window: TimelineWindow) -> list[TimelineEntry]:
    stmt = window.page(
        select(Member.id, Member.enrolled_at, Member.member_no),
        Member.id,
        Member.enrolled_at,
        Member.id,
    )
    return [
        TimelineEntry(
            at=row.enrolled_at,
            kind="enrolled",
            summary=f"Enrolled as member {row.member_no}",
            detail={"member_no": row.member_no},
            source="enrolment",
            ref=row.id,
        )
        for row in session.execute(stmt)
    ]


PROFILE_ACTIONS = {"member.merged": "merge", "member.erased": "erased"}


def _profile_actions(session: Session, window: TimelineWindow) -> list[TimelineEntry]:
    """Merges into the member and their erasure, from the audit log."""
    stmt = select(AuditLog).where(
        AuditLog.subject_type == "member", AuditLog.action.in_(PROFILE_ACTIONS)
    )
    stmt = window.page(stmt, AuditLog.subject_id, AuditLog.occurred_at, AuditLog.id)
    return [
        TimelineEntry(
            at=row.occurred_at,
            kind=PROFILE_ACTIONS[row.action],
            summary=_action_summary(row),
            detail={**row.data, "reason": row.reason},
            source="audit",
            ref=row.id,
        )
        for row in session.scalars(stmt)
    ]


def _action_summary(row: AuditLog) -> str:
    if row.action == "member.merged":
        return f"Member {row.data.get('from_member_no', '')} merged into this profile"
    return "Personal data erased"


OWN_SOURCES: dict[str, TimelineSource] = {
    "audit": _profile_actions,
    "enrolment": _enrolment,
    "messages": _messages,
    "tiers": _tier_changes,
}

"""One customer, one profile: merging a duplicate member record into the one that stays.

The source's history moves to the target: the profile store's own rows here (consents, tags,
cards, purchase days and affinities, messages), the ledger and receipts through the merge steps
the other packages register (`members.hooks`). The source stays as a record with status
"merged" and `merged_into_id`, without points, contact details or counters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from loyalty.errors import Conflict, InvalidInput
from loyalty.models import AuditLog
from loyalty.outbox import emit, is_transient
from members.errors import UnknownMember
from members.hooks import MergeStep
from members.models import Member
from members.privacy import row_moves as merge_rows
from members.tiers import moves as tiering
from members.tiers.service import policy_in_force

CLOSED = ("merged", "erased")


class MergeRefused(Conflict):
    slug, title = "merge-refused", "These members cannot be merged"


class ProfileBusy(Conflict):
    slug, title = "profile-busy", "Another change to this member is in progress"


@dataclass(frozen=True)
class Merged:
    target: Member
    source_id: int
    moved: dict[str, int]
    audit_id: int


def check_reason(reason: str) -> str:
    if len(reason.strip()) < 3:
        raise InvalidInput("reason", "say why, in at least 3 characters")
    return reason.strip()


def lock_members(session: Session, member_ids: list[int]) -> dict[int, Member]:
    """Hold the members' rows in id order (no lock cycle with another merge), freshly read.

    On SQLite the transaction already holds the write lock (BEGIN IMMEDIATE).
    """
    found: dict[int, Member] = {}
    for member_id in sorted(set(member_ids)):
        stmt = select(Member).where(Member.id == member_id)
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        member = session.scalars(stmt.execution_options(populate_existing=True)).one_or_none()
        if member is not None:
            found[member_id] = member
    return found


def _pair(session: Session, target_id: int, source_id: int) -> tuple[Member, Member]:
    if target_id == source_id:
        raise MergeRefused("A member cannot be merged into itself.")
    members = lock_members(session, [target_id, source_id])
    if target_id not in members:
        raise UnknownMember(f"No member {target_id}.")
    if source_id not in members:
        raise InvalidInput("from_member_id", "no such member")
    target, source = members[target_id], members[source_id]
    for member, role in ((target, "target"), (source, "source")):
        if member.status in CLOSED:
            raise MergeRefused(f"The {role} member {member.id} is {member.status}.")
    return target, source


def merge_members(
    session: Session,
    target_id: int,
    source_id: int,
    *,
    reason: str,
    actor: str,
    steps: Mapping[str, MergeStep],
    now: datetime,
    timezone: str,
) -> Merged:
    """Move the source member's history, points, cards and counters to the target.

    MergeRefused (409) for the same member, or an erased or merged one; UnknownMember for the
    target, InvalidInput for an unknown source; ProfileBusy when a concurrent change to
    either member made the database give way. Audited; emits member.merged.
    """
    reason = check_reason(reason)
    try:
        return _merge(session, target_id, source_id, reason, actor, steps, now, timezone)
    except OperationalError as exc:
        if not is_transient(exc):
            raise
        raise ProfileBusy("The members were being changed; try the merge again.") from exc


def _merge(
    session: Session,
    target_id: int,
    source_id: int,
    reason: str,
    actor: str,
    steps: Mapping[str, MergeStep],
    now: datetime,
    timezone: str,
) -> Merged:
    target, source = _pair(session, target_id, source_id)
    moved = merge_rows.move_own_rows(session, source_id, target_id)
    for name, step in steps.items():
        moved[name] = step(session, source_id, target_id)
    _merge_tier(session, source, target, now, timezone)
    from_member_no = source.member_no
    _move_profile(session, source, target)
    tiering.reassess_tier(session, target_id, now, timezone)
    audit = AuditLog(
        actor=actor,
        action="member.merged",
        subject_type="member",
        subject_id=str(target_id),
        reason=reason,
        data={"from_member_id": source_id, "from_member_no": from_member_no, "moved": moved},
        occurred_at=now,
    )
    session.add(audit)
    emit(session, "member.merged", {"member_id": target_id, "from_member_id": source_id})
    session.flush()
    return Merged(target, source_id, moved, audit.id)


def _move_profile(session: Session, source: Member, target: Member) -> None:
    """Counters add up; the target keeps its details and takes the source's where it has
    none; the source is left without contact details, counters or points."""
    firsts = [t for t in (source.first_purchase_at, target.first_purchase_at) if t]
    lasts = [t for t in (source.last_purchase_at, target.last_purchase_at) if t]
    earlier = source if source.enrolled_at < target.enrolled_at else target
    taken = {
        "phone": target.phone or source.phone,
        "email": target.email or source.email,
        "birthdate": target.birthdate or source.birthdate,
        "external_ref": target.external_ref or source.external_ref,
        "visits": Member.visits + source.visits,
        "lifetime_spend_minor": Member.lifetime_spend_minor + source.lifetime_spend_minor,
        "first_purchase_at": min(firsts) if firsts else None,
        "last_purchase_at": max(lasts) if lasts else None,
        "enrolled_at": earlier.enrolled_at,
        "enrolled_store_id": earlier.enrolled_store_id,
    }
    left = {
        "phone": None,
        "email": None,
        "external_ref": source.external_ref if target.external_ref else None,
        "status": "merged",
        "merged_into_id": target.id,
        "visits": 0,
        "lifetime_spend_minor": 0,
    }
    # the source first: the phone and email it gives up are unique
    for member_id, values in ((source.id, left), (target.id, taken)):
        session.execute(
            update(Member)
            .where(Member.id == member_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    session.expire(source)
    session.expire(target)


def _merge_tier(
    session: Session, source: Member, target: Member, now: datetime, timezone: str
) -> None:
    """The target keeps the higher of the two tiers (a merge never demotes)."""
    in_force = policy_in_force(session)
    source_tier, target_tier = source.tier_code, target.tier_code
    if in_force.policy.rank(source_tier) <= in_force.policy.rank(target_tier):
        return
    move = tiering.Move(target.id, target_tier, source_tier, "merge", 0, now)
    tiering.change_tier(session, move, in_force, timezone)

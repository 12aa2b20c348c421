"""Tier policy services: the policy in force and its versions, what qualifies, progress.

The highest version in `tier_policies` is in force. Setting a policy writes a new version and
brings the `tiers` rows (the ladder the earning engine reads multipliers from) in line with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty.db import per_transaction
from loyalty.errors import Conflict, InvalidInput
from members.models import Member, MemberDay, Tier, TierPolicyVersion
from members.tiers import policy as rules

CACHE_KEY = "members.tiers.policy"
# In force when no version was ever written: the one tier new members start in.
DEFAULT_DOCUMENT: dict[str, Any] = rules.normalised(
    {
        "basis": "spend",
        "window": {"type": "rolling", "months": 12},
        "downgrade": "period_end",
        "tiers": [{"code": rules.BASE_TIER, "name": "Member", "threshold": "0"}],
    }
)


class TierInUse(Conflict):
    slug, title = "tier-in-use", "Members hold this tier"


class PolicyChanged(Conflict):
    slug, title = "tier-policy-changed", "The tier policy changed meanwhile"


@dataclass(frozen=True)
class PolicyVersion:
    version: int
    document: dict[str, Any]
    created_by: str
    created_at: datetime | None
    policy: rules.TierPolicy

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "created_by": self.created_by,
            "created_at": self.created_at,
            **self.document,
        }


def _version_of(row: TierPolicyVersion) -> PolicyVersion:
    policy = rules.TierPolicy.from_document(row.document)
    return PolicyVersion(row.version, dict(row.document), row.created_by, row.created_at, policy)


def _load_in_force(session: Session) -> PolicyVersion:
    stmt = select(TierPolicyVersion).order_by(TierPolicyVersion.version.desc()).limit(1)
    row = session.scalars(stmt).first()
    if row is None:
        policy = rules.TierPolicy.from_document(DEFAULT_DOCUMENT)
        return PolicyVersion(0, DEFAULT_DOCUMENT, "", None, policy)
    return _version_of(row)


def policy_in_force(session: Session) -> PolicyVersion:
    """The highest policy version, read once per database transaction."""
    return per_transaction(session, CACHE_KEY, lambda: _load_in_force(session))


def policy_versions(session: Session) -> list[PolicyVersion]:
    """Every policy version, newest first."""
    rows = session.scalars(select(TierPolicyVersion).order_by(TierPolicyVersion.version.desc()))
    return [_version_of(row) for row in rows]


def _held_codes(session: Session, codes: list[str]) -> list[str]:
    """The tiers members hold that are not among `codes` (a scan only when tiers go away)."""
    existing = set(session.scalars(select(Tier.code)))
    leaving = sorted(existing - set(codes))
    if not leaving:
        return []
    stmt = select(Member.tier_code).where(Member.tier_code.in_(leaving)).distinct()
    return sorted(session.scalars(stmt))


def _write_ladder(session: Session, policy: rules.TierPolicy) -> None:
    """The `tiers` rows as the policy has them; thresholds in the basis' unit."""
    codes = [t.code for t in policy.tiers]
    session.execute(delete(Tier).where(Tier.code.not_in(codes)))
    for rank, tier in enumerate(policy.tiers):
        row = session.get(Tier, tier.code) or Tier(code=tier.code)
        row.name, row.rank = tier.name[:100], rank
        row.threshold_minor, row.multiplier = tier.threshold, tier.multiplier
        session.add(row)


def set_policy(session: Session, document: dict[str, Any], created_by: str) -> PolicyVersion:
    """Put a policy in force as a new version; the same document as the one in force changes
    nothing. Members are evaluated by it from their next purchase or review.

    InvalidInput when the ladder breaks a rule; TierInUse naming the tiers members still hold
    that the document leaves out; PolicyChanged when another change committed first.
    """
    problems = rules.document_problems(document)
    if problems:
        raise InvalidInput(*problems[0])
    doc = rules.normalised(document)
    current = policy_in_force(session)
    if doc == current.document:
        return current
    held = _held_codes(session, [t["code"] for t in doc["tiers"]])
    if held:
        names = ", ".join(held)
        raise TierInUse(f"Members hold the tier(s) {names}: keep them in the ladder.", tiers=held)
    try:
        with session.begin_nested():
            _write_ladder(session, rules.TierPolicy.from_document(doc))
            session.add(
                TierPolicyVersion(version=current.version + 1, document=doc, created_by=created_by)
            )
    except IntegrityError as exc:  # a concurrent change, or a member moved into a leaving tier
        raise PolicyChanged("The tier policy changed meanwhile: read it again and retry.") from exc
    session.info.pop(CACHE_KEY, None)  # read in this transaction before the new version
    return policy_in_force(session)


def basis_column(basis: str) -> Any:
    return MemberDay.spend_minor if basis == "spend" else MemberDay.points


def qualifying(session: Session, member_id: int, basis: str, first: date, last: date) -> int:
    """What qualifies (minor units spent, or points earned) on the program days first..last."""
    stmt = select(func.coalesce(func.sum(basis_column(basis)), 0)).where(
        MemberDay.member_id == member_id, MemberDay.day >= first, MemberDay.day <= last
    )
    return int(session.scalar(stmt) or 0)


Days = tuple[date, date]


def _sums(
    session: Session, member_id: int, basis: str, current: Days, keep: Days
) -> tuple[int, int, int]:
    """(spend in the current window, what qualifies in it, what qualifies in `keep`)."""

    def within(days: Days, column: Any) -> Any:
        inside = and_(MemberDay.day >= days[0], MemberDay.day <= days[1])
        return func.coalesce(func.sum(case((inside, column), else_=0)), 0)

    column = basis_column(basis)
    stmt = select(
        within(current, MemberDay.spend_minor), within(current, column), within(keep, column)
    ).where(
        MemberDay.member_id == member_id,
        MemberDay.day >= min(current[0], keep[0]),
        MemberDay.day <= max(current[1], keep[1]),
    )
    spend, qualified, kept = session.execute(stmt).one()
    return int(spend), int(qualified), int(kept)


def tier_progress(session: Session, member: Member, now: datetime, timezone: str) -> dict:
    """The member's tier progress as of `now`: amounts in the basis' unit (minor units or
    points), `qualifying_spend` and `spend_to_next` in minor units (None for a points basis)."""
    in_force = policy_in_force(session)
    policy = in_force.policy
    today = rules.program_day(now, timezone)
    current = rules.window_days(policy, today)
    review = member.tier_review_at
    keep = rules.review_window(policy, review, timezone) if review else current
    spend, qualified, kept = _sums(
        session, member.id, policy.basis, current, (keep[0], min(keep[1], today))
    )
    found = rules.progress(policy, member.tier_code, qualified, kept, review)
    by_spend = policy.basis == "spend"
    return {
        "tier": found.tier,
        "next_tier": found.next_tier,
        "qualifying_spend": spend,
        "spend_to_next": found.to_next if by_spend else None,
        "basis": policy.basis,
        "policy_version": in_force.version,
        "window_start": current[0],
        "qualifying": found.qualifying,
        "to_next": found.to_next,
        "to_keep": found.to_keep,
        "keep_by": found.keep_by,
    }

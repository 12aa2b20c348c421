"""Moving members on the tier ladder by the policy in force: up as soon as a purchase makes
what qualifies reach a higher tier, and at each review (period end) kept, lowered or raised.

Every move sets the member's tier, `tier_since` and `tier_review_at`, adds a `tier_changes` row
naming the policy version, and emits `tier.changed` {"member_id", "from", "to", "at"}.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.outbox import emit
from members.models import Member, TierChange
from members.tiers import policy as rules
from members.tiers.service import PolicyVersion, policy_in_force, qualifying


@dataclass(frozen=True)
class Move:
    member_id: int
    from_tier: str
    to_tier: str
    reason: str  # upgrade | review
    qualifying: int
    at: datetime

    def period_start(self, timezone: str) -> date:
        return rules.period_start(self.at, timezone, reached=self.reason == "upgrade")


def next_review(policy: rules.TierPolicy, tier: str, start: date, timezone: str) -> datetime | None:
    """The review of a tier held from `start`; the lowest tier has none."""
    return rules.review_at(policy, start, timezone) if policy.rank(tier) else None


def change_tier(session: Session, move: Move, in_force: PolicyVersion, timezone: str) -> None:
    """Record a move (inside the caller's transaction) and emit tier.changed."""
    review = next_review(in_force.policy, move.to_tier, move.period_start(timezone), timezone)
    session.execute(
        update(Member)
        .where(Member.id == move.member_id)
        .values(tier_code=move.to_tier, tier_since=move.at, tier_review_at=review)
    )
    session.add(
        TierChange(
            member_id=move.member_id,
            from_tier=move.from_tier,
            to_tier=move.to_tier,
            reason=move.reason,
            policy_version=in_force.version,
            qualifying=move.qualifying,
            occurred_at=move.at,
        )
    )
    payload = {"member_id": move.member_id, "from": move.from_tier, "to": move.to_tier}
    emit(session, "tier.changed", {**payload, "at": move.at.isoformat()})


def reassess_tier(
    session: Session, member_id: int, at: datetime, timezone: str
) -> tuple[str, str] | None:
    """Upgrade the member if what qualifies in the window ending on `at`'s program day reached
    a higher tier (inside the caller's transaction); returns (from, to) or None."""
    in_force = policy_in_force(session)
    policy = in_force.policy
    if len(policy.tiers) < 2:
        return None
    current = session.scalar(select(Member.tier_code).where(Member.id == member_id))
    if current is None or policy.is_top(current):
        return None
    first, last = rules.window_days(policy, rules.program_day(at, timezone))
    amount = qualifying(session, member_id, policy.basis, first, last)
    target = rules.upgrade_to(policy, current, amount)
    if target is None:
        return None
    move = Move(member_id, current, target.code, "upgrade", amount, at)
    change_tier(session, move, in_force, timezone)
    return current, target.code


def review_member(
    session: Session, member_id: int, at: datetime, in_force: PolicyVersion, timezone: str
) -> bool:
    """Review a member whose review is due by `at`, on the window ending the day before it;
    returns whether the tier changed. A review already done (by another run) is skipped."""
    row = session.execute(
        select(Member.tier_code, Member.tier_review_at)
        .where(Member.id == member_id)
        .with_for_update()
    ).one()
    due = row.tier_review_at
    if due is None or due > at:
        return False
    policy = in_force.policy
    first, last = rules.review_window(policy, due, timezone)
    amount = qualifying(session, member_id, policy.basis, first, last)
    target = rules.review_to(policy, row.tier_code, amount)
    if target.code == row.tier_code:
        start = rules.period_start(due, timezone, reached=False)
        following = next_review(policy, target.code, start, timezone)
        session.execute(
            update(Member).where(Member.id == member_id).values(tier_review_at=following)
        )
        return False
    move = Move(member_id, row.tier_code, target.code, "review", amount, due)
    change_tier(session, move, in_force, timezone)
    return True


@dataclass(frozen=True)
class ReviewRun:
    reviewed: int
    changed: int
    scheduled: int


def schedule_unreviewed(
    session: Session, in_force: PolicyVersion, at: datetime, timezone: str
) -> int:
    """Give a review date to members above the lowest tier who have none (tiers granted
    before reviews existed, or set by hand): a period after they reached it, or after `at`."""
    lowest = in_force.policy.tiers[0].code
    rows = session.execute(
        select(Member.id, Member.tier_since).where(
            Member.tier_review_at.is_(None), Member.tier_code != lowest
        )
    ).all()
    for member_id, since in rows:
        start = rules.period_start(since or at, timezone, reached=True)
        due = rules.review_at(in_force.policy, start, timezone)
        session.execute(
            update(Member)
            .where(Member.id == member_id, Member.tier_review_at.is_(None))
            .values(tier_review_at=due)
        )
    return len(rows)


def review_batch(
    session: Session, at: datetime, in_force: PolicyVersion, timezone: str, batch: int = 500
) -> tuple[int, int]:
    """Review up to `batch` members whose review is due by `at`; returns (reviewed, changed).
    A member several periods behind is reviewed once per period, a review moving the date on.
    The loop over batches is members.tiers.jobs.review_due."""
    due = session.scalars(
        select(Member.id)
        .where(Member.tier_review_at <= at)
        .order_by(Member.tier_review_at, Member.id)
        .limit(batch)
    ).all()
    changed = sum(review_member(session, m, at, in_force, timezone) for m in due)
    return len(due), changed

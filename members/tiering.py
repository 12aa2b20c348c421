"""Moving members up the tier ladder as they spend; each move emits tier.changed.

The ladder is the `tiers` table ordered by threshold; the qualifying spend is the member's
lifetime spend. Upgrades happen as soon as a threshold is reached.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.outbox import emit
from members.models import Member, Tier
from members.tiers import TierStep, tier_for_spend


def ladder(session: Session) -> list[TierStep]:
    rows = session.scalars(select(Tier).order_by(Tier.threshold_minor, Tier.rank))
    return [TierStep(t.code, t.name, t.threshold_minor, Decimal(str(t.multiplier))) for t in rows]


def reassess_tier(session: Session, member_id: int, at: datetime) -> tuple[str, str] | None:
    """Upgrade the member if their spend reached a higher tier; returns (from, to) or None."""
    row = session.execute(
        select(Member.tier_code, Member.lifetime_spend_minor).where(Member.id == member_id)
    ).one()
    steps = ladder(session)
    if len(steps) < 2:
        return None
    target = tier_for_spend(steps, row.lifetime_spend_minor)
    order = [step.code for step in steps]
    current = order.index(row.tier_code) if row.tier_code in order else -1
    if order.index(target.code) <= current:
        return None
    session.execute(update(Member).where(Member.id == member_id).values(tier_code=target.code))
    emit(
        session,
        "tier.changed",
        {"member_id": member_id, "from": row.tier_code, "to": target.code, "at": at.isoformat()},
    )
    return row.tier_code, target.code

"""A campaign's report: reach, effects, points, rewards, messages, and the lift over holdout.

The lift compares spend per member between the treated members and the held-out members of
the same audience, over the receipts since the campaign was launched (until it ended).
"""

from __future__ import annotations

from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.models import OutgoingMessage
from loyalty.money import format_minor
from rewards.campaigns.service import get_campaign
from rewards.models import Campaign, CampaignApplication, Redemption, Transaction, Voucher

SHARE = Decimal("0.0001")


def _group(session: Session, campaign: Campaign, group: str) -> dict[str, Any]:
    """Members of a group and what they spent (net of refunds) while the campaign ran."""
    t = Transaction.__table__
    members = (
        select(CampaignApplication.member_id)
        .where(CampaignApplication.campaign_id == campaign.id, CampaignApplication.group == group)
        .distinct()
    )
    count = session.scalar(
        select(func.count(distinct(CampaignApplication.member_id))).where(
            CampaignApplication.campaign_id == campaign.id, CampaignApplication.group == group
        )
    )
    stmt = select(
        func.coalesce(func.sum(t.c.total_minor - t.c.refunded_minor), 0), func.count(t.c.id)
    ).where(t.c.type == "sale", t.c.member_id.in_(members))
    if campaign.activated_at is not None:
        stmt = stmt.where(t.c.occurred_at >= campaign.activated_at)
    stmt = stmt.where(t.c.occurred_at < (campaign.ended_at or utcnow()))
    spend, visits = session.execute(stmt).one()
    count = int(count or 0)
    per_member = Decimal(spend) / count / 100 if count else Decimal(0)
    return {
        "members": count,
        "spend": format_minor(int(spend)),
        "spend_per_member": f"{per_member.quantize(Decimal('0.01'), ROUND_HALF_UP)}",
        "visits_per_member": str(
            (Decimal(visits) / count if count else Decimal(0)).quantize(SHARE)
        ),
        "_per_member": per_member,
    }


def _effects_and_messages(session: Session, campaign_id: int) -> tuple[Counter, Counter]:
    effects: Counter = Counter()
    messages: Counter = Counter()
    rows = session.scalars(
        select(CampaignApplication.results)
        .where(
            CampaignApplication.campaign_id == campaign_id,
            CampaignApplication.group == "treated",
        )
        .execution_options(yield_per=1000)
    )
    for results in rows:
        for result in results:
            effects[result["type"]] += 1
            if result["type"] == "send_message":
                messages[result.get("status") or "unknown"] += 1
    for status, count in session.execute(
        select(OutgoingMessage.status, func.count())
        .where(OutgoingMessage.campaign_id == campaign_id)
        .group_by(OutgoingMessage.status)
    ):
        messages[f"delivery_{status}"] = count
    return effects, messages


def campaign_report(session: Session, campaign_id: int) -> dict[str, Any]:
    campaign = get_campaign(session, campaign_id)
    treated = CampaignApplication.campaign_id == campaign.id, CampaignApplication.group == "treated"
    reach, applications, issued, net = session.execute(
        select(
            func.count(distinct(CampaignApplication.member_id)),
            func.count(CampaignApplication.id),
            func.coalesce(func.sum(CampaignApplication.points_issued), 0),
            func.coalesce(func.sum(CampaignApplication.points), 0),
        ).where(*treated)
    ).one()
    rewards_issued = session.scalar(
        select(func.count(Redemption.id)).where(Redemption.campaign_id == campaign.id)
    )
    rewards_used = session.scalar(
        select(func.count(Voucher.id))
        .join(Redemption, Redemption.id == Voucher.redemption_id)
        .where(Redemption.campaign_id == campaign.id, Voucher.status == "used")
    )
    effects, messages = _effects_and_messages(session, campaign.id)
    treated_group, holdout_group = (
        _group(session, campaign, "treated"),
        _group(session, campaign, "holdout"),
    )
    base = holdout_group.pop("_per_member")
    lift = None
    if base > 0:
        lift = f"{(treated_group['_per_member'] / base - 1).quantize(SHARE, ROUND_HALF_UP)}"
    treated_group.pop("_per_member")
    return {
        "campaign_id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "since": campaign.activated_at,
        "reach": int(reach),
        "applications": int(applications),
        "effects": dict(effects),
        "points_issued": int(issued),
        "points_reversed": int(issued) - int(net),
        "rewards_issued": int(rewards_issued or 0),
        "rewards_redeemed": int(rewards_used or 0),
        "messages": dict(messages),
        "treated": treated_group,
        "holdout": holdout_group,
        "lift": lift,
    }

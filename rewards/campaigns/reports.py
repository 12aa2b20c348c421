"""A campaign's report: reach, effects, points, rewards, messages, the lift over holdout
with its confidence interval, the cost in money and the incremental return.

The lift compares spend per member between the treated members and the held-out members of
the same audience, over the receipts since the campaign was launched (until it ended).
"""

from __future__ import annotations

import statistics
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from loyalty.csv_files import safe_text
from loyalty.db import utcnow
from loyalty.models import OutgoingMessage
from loyalty.money import format_minor
from loyalty.settings import get_setting
from rewards.campaigns import lift
from rewards.campaigns.lift import NOT_ENOUGH
from rewards.campaigns.service import get_campaign
from rewards.models import (
    Campaign,
    CampaignApplication,
    Redemption,
    Reward,
    Transaction,
    Voucher,
)

SHARE = Decimal("0.0001")


def _spends(session: Session, campaign: Campaign, group: str) -> tuple[list[int], int]:
    """What each member of a group spent (net of refunds, in minor units; 0 for those who
    bought nothing) while the campaign ran, and their visits in all."""
    t = Transaction.__table__
    in_group = (
        select(CampaignApplication.member_id)
        .where(CampaignApplication.campaign_id == campaign.id, CampaignApplication.group == group)
        .distinct()
    )
    members = set(session.scalars(in_group))
    stmt = (
        select(t.c.member_id, func.sum(t.c.total_minor - t.c.refunded_minor), func.count(t.c.id))
        .where(t.c.type == "sale", t.c.member_id.in_(in_group))
        .where(t.c.occurred_at < (campaign.ended_at or utcnow()))
        .group_by(t.c.member_id)
    )
    if campaign.activated_at is not None:
        stmt = stmt.where(t.c.occurred_at >= campaign.activated_at)
    spent, visits = dict.fromkeys(members, 0), 0
    for member_id, spend, count in session.execute(stmt):
        spent[member_id], visits = int(spend), visits + int(count)
    return list(spent.values()), visits


def _group(spends: list[int], visits: int) -> dict[str, Any]:
    """A group's members and what they spent."""
    count, spend = len(spends), sum(spends)
    per_member = Decimal(spend) / count / 100 if count else Decimal(0)
    return {
        "members": count,
        "spend": format_minor(spend),
        "spend_per_member": f"{per_member.quantize(Decimal('0.01'), ROUND_HALF_UP)}",
        "visits_per_member": str(
            (Decimal(visits) / count if count else Decimal(0)).quantize(SHARE)
        ),
    }


def _cost(session: Session, campaign_id: int, net_points: int) -> dict[str, Any]:
    """What the campaign cost: its points (net of reversals) and the rewards it granted, each
    at the point value (a reward at its points price)."""
    value = int(get_setting(session, "point_value")["amount_minor"])
    rewards = session.execute(
        select(func.count(Redemption.id), func.coalesce(func.sum(Reward.points_cost), 0))
        .join(Reward, Reward.id == Redemption.reward_id)
        .where(Redemption.campaign_id == campaign_id, Redemption.status != "cancelled")
    ).one()
    points_minor, rewards_minor = net_points * value, int(rewards[1]) * value
    return {
        "points": net_points,
        "points_value": format_minor(points_minor),
        "rewards": int(rewards[0]),
        "rewards_value": format_minor(rewards_minor),
        "total": format_minor(points_minor + rewards_minor),
        "_minor": points_minor + rewards_minor,
    }


def _lift(
    session: Session, treated: list[int], holdout: list[int], cost: dict[str, Any]
) -> dict[str, Any]:
    """The lift's interval, the incremental spend and the return on the cost, or "not enough
    data" where the groups are too small (rewards/campaigns/lift.py)."""
    interval = lift.welch_interval(treated, holdout)
    base = statistics.fmean(holdout) if holdout else 0.0
    if interval is None or base <= 0:
        return dict.fromkeys(("lift_ci95", "incremental_spend", "incremental_roi"), NOT_ENOUGH)
    incremental = round((statistics.fmean(treated) - base) * len(treated))
    margin = Decimal(get_setting(session, "margin")["share"])
    roi = lift.incremental_roi(incremental, margin, cost["_minor"])
    ratio = interval.scaled(1 / base)
    return {
        "lift_ci95": {"low": _share(ratio.low), "high": _share(ratio.high)},
        "incremental_spend": format_minor(incremental),
        "incremental_roi": None if roi is None else _share(roi),
    }


def _share(value: float | Decimal) -> str:
    return f"{Decimal(value).quantize(SHARE, ROUND_HALF_UP)}"


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
    treated, treated_visits = _spends(session, campaign, "treated")
    holdout, holdout_visits = _spends(session, campaign, "holdout")
    cost = _cost(session, campaign.id, int(net))
    base = Decimal(sum(holdout)) / len(holdout) if holdout else Decimal(0)
    ratio = None
    if base > 0:
        ratio = _share(Decimal(sum(treated)) / len(treated) / base - 1)
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
        "treated": _group(treated, treated_visits),
        "holdout": _group(holdout, holdout_visits),
        "lift": ratio,
        "lift_method": "welch",
        **_lift(session, treated, holdout, cost),
        "cost": {k: v for k, v in cost.items() if not k.startswith("_")},
    }


def csv_rows(report: dict[str, Any]) -> list[list[str]]:
    """The report as (section, figure, value) rows for finance: a nested figure is a section
    of its own; the campaign's name is quoted against spreadsheet formulas."""
    rows = [["section", "figure", "value"]]
    for name, value in report.items():
        if isinstance(value, dict):
            rows += [[name, k, _cell(v)] for k, v in value.items()]
        else:
            rows.append(
                ["campaign", name, safe_text(str(value)) if name == "name" else _cell(value)]
            )
    return rows


def _cell(value: Any) -> str:
    return "" if value is None else str(value)

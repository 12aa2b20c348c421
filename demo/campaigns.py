"""The demo program's tiers, message templates and campaigns (made through the services).

The campaigns named in the product brief: a welcome bonus, double points on coffee before
10 am, a birthday gift, a win-back after 60 quiet days, a reminder before points expire, and a
draft to simulate before launch.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from members.messaging.service import save_template
from members.tiers.service import set_policy
from rewards.campaigns import service as campaigns
from rewards.models import Reward

ACTOR = "demo seed"
LADDER: dict[str, Any] = {
    "basis": "spend",
    "window": {"type": "rolling", "months": 12},
    "downgrade": "period_end",
    "tiers": [
        {"code": "member", "name": "Member", "threshold": "0"},
        {"code": "silver", "name": "Silver", "threshold": "3000.00", "multiplier": "1.25"},
        {"code": "gold", "name": "Gold", "threshold": "10000.00", "multiplier": "1.5"},
    ],
}
TEMPLATES: dict[str, dict[str, dict[str, str]]] = {
    "birthday": {
        "th": {
            "subject": "สุขสันต์วันเกิด คุณ{{ name }}",
            "body": "สุขสันต์วันเกิดค่ะ คุณ{{ name }} รับ{{ reward | default('ของขวัญ') }} "
            "ที่ Baan Kafe ได้ทุกสาขาภายใน 30 วัน",
        },
        "en": {
            "subject": "Happy birthday, {{ name }}",
            "body": "Happy birthday, {{ name }}! A gift is waiting for you at any Baan Kafe "
            "for the next 30 days.",
        },
    },
    "winback": {
        "th": {"body": "คิดถึงนะคะ คุณ{{ name }} เราเติม {{ points }} คะแนนให้แล้ว แวะมาหาเรานะ"},
        "en": {"body": "We miss you, {{ name }}: {{ points }} points are on your card. Come by!"},
    },
    "points_expiring": {
        "th": {"body": "คุณ{{ name }} มี {{ points_expiring }} คะแนนจะหมดอายุวันที่ {{ expires_on }}"},
        "en": {
            "body": "{{ name }}, {{ points_expiring }} of your points expire on {{ expires_on }}."
        },
    },
}


def _open_tiers(session: Session) -> None:
    """The demo ladder as the tier policy in force (seeding again changes nothing)."""
    set_policy(session, LADDER, ACTOR)


def _definitions(gift_reward_id: int | None) -> list[tuple[dict[str, Any], bool]]:
    """(campaign, launched) pairs."""
    birthday_effects: list[dict[str, Any]] = [
        {"type": "send_message", "channel": "email", "template": "birthday"}
    ]
    if gift_reward_id is not None:
        birthday_effects.insert(0, {"type": "issue_reward", "reward_id": gift_reward_id})
    return [
        (
            {
                "name": "Welcome bonus · โบนัสต้อนรับสมาชิกใหม่",
                "trigger": "member.enrolled",
                "effects": [
                    {"type": "award_points", "points": 50},
                    {"type": "tag_member", "tag": "new"},
                ],
            },
            True,
        ),
        (
            {
                "name": "Morning coffee, double points · กาแฟเช้าคะแนนสองเท่า",
                "trigger": "transaction.recorded",
                "conditions": {
                    "all": [
                        {"fact": "items.category", "op": "contains", "value": "coffee"},
                        {"fact": "transaction.hour", "op": "lt", "value": 10},
                    ]
                },
                "effects": [
                    {"type": "multiply_points", "factor": 2, "scope": {"category": ["coffee"]}}
                ],
                "limits": {"per_member": {"count": 1, "period": "day"}},
                "priority": 10,
                "holdout_percent": 10,
            },
            True,
        ),
        (
            {
                "name": "Birthday gift · ของขวัญวันเกิด",
                "trigger": "member.birthday",
                "effects": birthday_effects,
                "limits": {"per_member": {"count": 1, "period": "month"}},
            },
            True,
        ),
        (
            {
                "name": "We miss you · คิดถึงคุณ",
                "trigger": "member.inactive",
                "inactive_days": 60,
                "effects": [
                    {"type": "award_points", "points": 100},
                    {"type": "send_message", "channel": "sms", "template": "winback"},
                ],
                "limits": {"budget_points": 50_000},
            },
            True,
        ),
        (
            {
                "name": "Points expiring reminder · แจ้งเตือนคะแนนใกล้หมดอายุ",
                "trigger": "points.expiring",
                "days_before": 30,
                "effects": [
                    {"type": "send_message", "channel": "sms", "template": "points_expiring"}
                ],
            },
            True,
        ),
        (
            {
                "name": "Weekend fashion, triple points · แฟชั่นสุดสัปดาห์คะแนนสามเท่า",
                "trigger": "transaction.recorded",
                "conditions": {
                    "all": [
                        {"fact": "items.category", "op": "in", "value": ["apparel", "shoes"]},
                        {"fact": "transaction.weekday", "op": "in", "value": [6, 7]},
                    ]
                },
                "effects": [
                    {
                        "type": "multiply_points",
                        "factor": 3,
                        "scope": {"category": ["apparel", "shoes"]},
                    }
                ],
                "limits": {"budget_points": 20_000},
                "stackable": False,
                "priority": 20,
            },
            False,
        ),
    ]


def open_campaigns(session: Session) -> int:
    """Tiers, templates and campaigns; the launched ones are live before receipts arrive.
    Returns how many campaigns were made."""
    _open_tiers(session)
    for code, locales in TEMPLATES.items():
        save_template(session, code, locales)
    gift = session.scalar(select(Reward.id).where(Reward.points_cost == 120).limit(1))
    made = 0
    for definition, launched in _definitions(gift):
        campaign = campaigns.create_campaign(session, definition, ACTOR)
        if launched:
            campaigns.change_status(session, campaign.id, "activate", utcnow())
        made += 1
    return made

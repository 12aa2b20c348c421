"""The engine benchmark's campaigns: K live transaction.recorded campaigns in a realistic mix,
and a welcome campaign on member.enrolled, launched through the campaign services.

The mix cycles through ten kinds of campaign (category, hour, basket total, store and
nth-purchase conditions; every effect that gives points or tags; per-member limits, budgets
and a holdout). With the defaults (5,000 café receipts from bench/scenarios.py for 2,000
members, rung up between 07:00 and 21:00 over the last days), each kind's conditions hold
for a quarter to two fifths of the receipts, about a third on average.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loyalty import create_app
from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.unit_of_work import unit_of_work
from rewards.campaigns.schemas import CampaignCreateSchema
from rewards.campaigns.service import change_status, create_campaign

Doc = dict[str, Any]
HOUR_WINDOWS = ([7, 11], [11, 15], [16, 20])  # five of the fourteen opening hours each
TOTALS = ("450.00", "500.00", "400.00")  # each met by about a third of the receipts
NTH = (  # (label, op, value)
    ("first purchase", "eq", 1),
    ("second purchase", "eq", 2),
    ("purchases 3-5", "between", [3, 5]),
)


def _fact(fact: str, op: str, value: Any) -> Doc:
    return {"fact": fact, "op": op, "value": value}


def _per_amount(points: int, amount: str, scope: Doc | None = None) -> Doc:
    effect: Doc = {"type": "points_per_amount", "points": points, "amount": amount}
    return {**effect, "scope": scope} if scope else effect


def _tea(i: int, _stores: list[str], _receipts: int) -> Doc:
    return {
        "name": f"Tea time double #{i + 1}",
        "conditions": _fact("items.category", "contains", "tea"),
        "effects": [{"type": "multiply_points", "factor": 2, "scope": {"category": ["tea"]}}],
    }


def _hours(i: int, _stores: list[str], _receipts: int) -> Doc:
    return {
        "name": f"Happy hours #{i + 1}",
        "conditions": _fact("transaction.hour", "between", HOUR_WINDOWS[i % 3]),
        "effects": [{"type": "award_points", "points": 10}],
        "limits": {"per_member": {"count": 1, "period": "day"}},
    }


def _big_basket(i: int, _stores: list[str], _receipts: int) -> Doc:
    return {
        "name": f"Big basket #{i + 1}",
        "conditions": _fact("transaction.total", "gte", TOTALS[i % 3]),
        "effects": [_per_amount(1, "50.00")],
    }


def _store_bakery(i: int, stores: list[str], _receipts: int) -> Doc:
    half = [stores[(i + n) % len(stores)] for n in range(max(1, len(stores) // 2))]
    return {
        "name": f"Bakery at {'/'.join(half)} #{i + 1}",
        "conditions": {
            "all": [
                _fact("transaction.store", "in", half),
                _fact("items.category", "contains", "bakery"),
            ]
        },
        "effects": [_per_amount(2, "25.00", {"category": ["bakery"]})],
    }


def _nth_purchase(i: int, _stores: list[str], _receipts: int) -> Doc:
    label, op, value = NTH[i % 3]
    return {
        "name": f"Bonus on {label} #{i + 1}",
        "conditions": _fact("member.nth_purchase", op, value),
        "effects": [
            {"type": "award_points", "points": 50},
            {"type": "tag_member", "tag": "repeat"},
        ],
        "limits": {"per_member": {"count": 1, "period": "campaign"}},
    }


def _sandwich(i: int, _stores: list[str], _receipts: int) -> Doc:
    return {
        "name": f"Lunch food ×1.5 #{i + 1}",
        "conditions": _fact("items.category", "contains", "food"),
        "effects": [{"type": "multiply_points", "factor": "1.5", "scope": {"sku": ["SN-SANDW"]}}],
    }


def _latte_budget(i: int, _stores: list[str], receipts: int) -> Doc:
    return {
        "name": f"Latte lovers (limited) #{i + 1}",
        "conditions": _fact("items.sku", "contains", "CF-LATTE"),
        "effects": [{"type": "award_points", "points": 5}],
        "limits": {"budget_count": max(1, receipts // 5)},
    }


def _afternoon(i: int, _stores: list[str], _receipts: int) -> Doc:
    return {
        "name": f"Afternoon ×1.5 #{i + 1}",
        "conditions": _fact("transaction.hour", "between", [14, 18]),
        "effects": [{"type": "multiply_points", "factor": "1.5"}],
        "holdout_percent": 10,
    }


def _store_tag(i: int, stores: list[str], _receipts: int) -> Doc:
    store = stores[i % len(stores)]
    return {
        "name": f"Regular at {store} #{i + 1}",
        "conditions": _fact("transaction.store", "eq", store),
        "effects": [
            {"type": "tag_member", "tag": f"regular-{store.lower()}"},
            {"type": "award_points", "points": 3},
        ],
    }


def _coffee_budget(i: int, _stores: list[str], receipts: int) -> Doc:
    return {
        "name": f"Coffee points (budgeted) #{i + 1}",
        "conditions": {
            "all": [
                _fact("items.category", "contains", "coffee"),
                _fact("transaction.total", "gte", "400.00"),
            ]
        },
        "effects": [_per_amount(1, "25.00", {"category": ["coffee"]})],
        "limits": {"budget_points": max(1, receipts)},
    }


KINDS: tuple[Callable[[int, list[str], int], Doc], ...] = (
    _tea,
    _hours,
    _big_basket,
    _store_bakery,
    _nth_purchase,
    _sandwich,
    _latte_budget,
    _afternoon,
    _store_tag,
    _coffee_budget,
)
WELCOME: Doc = {
    "name": "Welcome bonus",
    "trigger": "member.enrolled",
    "effects": [{"type": "award_points", "points": 100}, {"type": "tag_member", "tag": "welcome"}],
}


def campaign_docs(count: int, stores: list[str], receipts: int) -> list[Doc]:
    """`count` transaction.recorded campaigns, cycling through KINDS, at spread priorities."""
    return [
        {"trigger": "transaction.recorded", "priority": i % 10,
         **KINDS[i % len(KINDS)](i, stores, receipts)}
        for i in range(count)
    ]  # fmt: skip


def launch(database_url: str, docs: list[Doc]) -> list[int]:
    """Create each campaign as the API would (validated by CampaignCreateSchema) and activate
    it; returns their ids."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": None})
    schema, ids = CampaignCreateSchema(), []
    with app.app_context():
        with unit_of_work():
            for doc in docs:
                campaign = create_campaign(db.session, schema.load(doc), "bench")
                ids.append(change_status(db.session, campaign.id, "activate", utcnow()).id)
        db.engine.dispose()
    return ids

"""Quotes: what a receipt would earn, worked out by the engine with no side effect."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.models import Store
from loyalty.money import to_minor
from members.models import Member
from rewards import catalog
from rewards.campaigns import engine
from rewards.campaigns.facts import lines_of
from rewards.campaigns.planning import Basket, Event
from rewards.earning.service import earn_basis
from rewards.models import Reward


@dataclass(frozen=True)
class QuoteResult:
    member_id: int
    balance: int
    quote: engine.Quote
    rewards: list[Reward]


def quote_sale(
    session: Session,
    member_id: int,
    receipt: dict[str, Any],
    store_id: int | None,
    now: datetime,
    timezone: str,
) -> QuoteResult:
    """The points a sale would earn the member now (base rule and live campaigns, as the
    engine will apply them), and the rewards they could afford with them. No side effect."""
    store = session.get(Store, store_id) if store_id else None
    items = [
        {**item, "quantity": str(item["quantity"]), "unit_price": f"{item['unit_price']:.2f}"}
        for item in receipt.get("items", [])
    ]
    basket = Basket(
        total_minor=to_minor(receipt["total"]),
        store_code=store.code if store else None,
        lines=lines_of(items),
        base_points=0,
        basis=earn_basis(session, member_id),
    )
    event = Event("transaction.recorded", "quote", member_id, receipt["occurred_at"], basket=basket)
    quote = engine.quote_sale(session, event, timezone)
    balance = session.scalar(select(Member.points_balance).where(Member.id == member_id)) or 0
    affordable = [
        reward
        for reward in catalog.list_rewards(session, now)
        if reward.points_cost <= balance + quote.points
    ]
    return QuoteResult(member_id, balance, quote, affordable)

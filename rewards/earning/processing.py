"""The engine's handlers for recorded receipts: earn on sales, reverse on refunds.

Each handler runs inside the outbox drain's transaction, locks the transaction row it
works on, and does nothing if that row is already processed, so redelivery is harmless.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.db import is_postgres, utcnow
from loyalty.models import Store
from members.metrics import activity
from members.service import is_active
from members.tiers.moves import reassess_tier
from rewards.campaigns import engine
from rewards.campaigns.facts import lines_of, remaining_lines
from rewards.campaigns.planning import Basket, Event
from rewards.earning import sale_batches
from rewards.earning.points import EarnBasis
from rewards.earning.service import Purchase, Refund, count_purchase, earn_basis, reverse_for_refund
from rewards.models import Transaction


def _lock(session: Session, transaction_id: int) -> Transaction:
    stmt = select(Transaction).where(Transaction.id == transaction_id)
    if is_postgres(session):
        stmt = stmt.with_for_update(key_share=True)
    txn = session.scalars(stmt.execution_options(populate_existing=True)).one()
    return txn


def _purchase(sale: Transaction) -> Purchase:
    assert sale.member_id is not None
    return Purchase(
        transaction_id=sale.id,
        member_id=sale.member_id,
        total_minor=sale.total_minor - sale.refund_processed_minor,
        occurred_at=sale.occurred_at,
        store_id=sale.store_id,
        external_id=sale.external_id,
    )


def store_code(session: Session, store_id: int) -> str | None:
    store = session.get(Store, store_id)  # from the session's identity map after the first
    return store.code if store else None


def sale_event(session: Session, sale: Transaction, basis: EarnBasis) -> Event:
    """A sale as the campaigns see it."""
    assert sale.member_id is not None
    basket = Basket(
        total_minor=sale.total_minor - sale.refund_processed_minor,
        store_code=store_code(session, sale.store_id),
        lines=lines_of(sale.items),
        base_points=0,
        basis=basis,
    )
    return Event(
        trigger="transaction.recorded",
        key=f"txn:{sale.id}",
        member_id=sale.member_id,
        occurred_at=sale.occurred_at,
        basket=basket,
        transaction_id=sale.id,
    )


def _activity(
    sale: Transaction, spend_minor: int, receipts: int, txn: Transaction
) -> activity.Purchase:
    """A sale (txn = the sale) or a refund (txn = the refund) as the profile counts it, on the
    sale's day; a refund takes its lines' amounts off the categories."""
    assert sale.member_id is not None
    sign = 1 if receipts else -1
    return activity.Purchase(
        member_id=sale.member_id,
        at=sale.occurred_at,
        spend_minor=spend_minor,
        receipts=receipts,
        points=txn.points_awarded,
        store_id=sale.store_id,
        categories=[(line.category, sign * line.amount_minor) for line in lines_of(txn.items)],
    )


def process_sale(
    session: Session, transaction_id: int, settings: engine.EngineSettings
) -> Transaction:
    """Award a sale's points once (base rule and campaigns); anonymous sales are marked
    processed with none. A tier reached by the sale's spend is granted at once."""
    sale = _lock(session, transaction_id)
    if sale.status == "processed":
        return sale
    if sale.member_id is not None and not is_active(session, sale.member_id):
        sale.points_pending = 0  # an erased profile earns nothing
    elif sale.member_id is not None:
        purchase = _purchase(sale)
        basis = earn_basis(session, sale.member_id)
        count_purchase(session, purchase)
        result = engine.handle_sale(session, sale_event(session, sale, basis), purchase, settings)
        sale.points_pending = 0
        sale.base_points = result.base_points
        sale.points_awarded = result.base_points + result.bonus_points
        sale.earn_basis = {**basis.as_dict(), "version": result.base_version}
        activity.record(session, _activity(sale, purchase.total_minor, 1, sale), settings.timezone)
        reassess_tier(session, sale.member_id, sale.occurred_at, settings.timezone)
    sale.status, sale.processed_at = "processed", utcnow()
    return sale


def _remaining(session: Session, sale: Transaction, refund: Transaction) -> Event:
    """What is left of the sale once this refund is taken off."""
    assert sale.earn_basis is not None
    event = sale_event(session, sale, EarnBasis.from_dict(sale.earn_basis))
    assert event.basket is not None
    refunded = [
        item
        for items in session.scalars(
            select(Transaction.items).where(
                Transaction.refund_of_id == sale.id, Transaction.status == "processed"
            )
        )
        for item in items
    ]
    left = Basket(
        total_minor=max(0, event.basket.total_minor - refund.total_minor),
        store_code=event.basket.store_code,
        lines=remaining_lines(event.basket.lines, lines_of([*refunded, *refund.items])),
        base_points=sale.base_points,
        basis=event.basket.basis,
    )
    return replace(event, basket=left)


def process_refund(
    session: Session, transaction_id: int, settings: engine.EngineSettings
) -> Transaction:
    """Reverse the refunded part of a sale's points once (base rule, then the campaigns whose
    conditions no longer hold), processing the sale first if needed."""
    refund = _lock(session, transaction_id)
    if refund.status == "processed":
        return refund
    assert refund.refund_of_id is not None
    sale = process_sale(session, refund.refund_of_id, settings)
    if sale.member_id is not None and sale.earn_basis is not None:
        entry = reverse_for_refund(
            session,
            Refund(
                refund.id,
                # the whole sale: the reversal itself takes off what was refunded before
                replace(_purchase(sale), total_minor=sale.total_minor),
                refund.total_minor,
                sale.refund_processed_minor,
                sale.base_points,
            ),
            EarnBasis.from_dict(sale.earn_basis),
        )
        base_back = entry.points if entry else 0  # negative: points taken back
        sale.base_points += base_back
        left = _remaining(session, sale, refund)
        assert left.basket is not None
        campaign_back = engine.reverse_for_refund(
            session, sale.id, refund.id, left.basket, sale.occurred_at, settings.timezone
        )
        sale.points_awarded += base_back - campaign_back
        refund.points_awarded = base_back - campaign_back
        activity.record(session, _activity(sale, -refund.total_minor, 0, refund), settings.timezone)
    sale.refund_processed_minor += refund.total_minor
    refund.status, refund.processed_at = "processed", utcnow()
    return refund


def process_recorded(
    session: Session, payloads: list[dict[str, Any]], settings: engine.EngineSettings
) -> set[int]:
    """A run of transaction.recorded messages through the set-based path when the program
    allows it; returns the positions left for `process_sale`."""
    ids = [int(payload["transaction_id"]) for payload in payloads]
    if not sale_batches.batchable(session):
        return set(range(len(ids)))
    left = sale_batches.process_sales(session, ids, settings.timezone)
    return {position for position, txn_id in enumerate(ids) if txn_id in left}


def batch_handlers(settings: engine.EngineSettings) -> dict[str, Any]:
    """Outbox topic → handler of a run of its messages, bound to the engine's settings."""
    return {"transaction.recorded": lambda s, payloads: process_recorded(s, payloads, settings)}


def handlers(settings: engine.EngineSettings) -> dict[str, Any]:
    """Outbox topic → handler, bound to the engine's settings."""
    return {
        "transaction.recorded": lambda s, p: process_sale(s, int(p["transaction_id"]), settings),
        "transaction.refunded": lambda s, p: process_refund(s, int(p["transaction_id"]), settings),
    }

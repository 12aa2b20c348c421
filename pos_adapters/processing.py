"""The engine's handlers for recorded receipts: earn on sales, reverse on refunds.

Each handler runs inside the outbox drain's transaction, locks the transaction row it
works on, and does nothing if that row is already processed, so redelivery is harmless.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.db import is_postgres, utcnow
from members.models import Member
from pos_adapters.models import Transaction
from rewards.earning import Purchase, Refund, earn_basis, earn_for_purchase, reverse_for_refund
from rewards.points import EarnBasis


def _lock(session: Session, transaction_id: int) -> Transaction:
    stmt = select(Transaction).where(Transaction.id == transaction_id)
    if is_postgres(session):
        stmt = stmt.with_for_update()
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


def _release_pending(session: Session, txn: Transaction) -> None:
    if txn.points_pending and txn.member_id is not None:
        session.execute(
            update(Member)
            .where(Member.id == txn.member_id)
            .values(points_pending=Member.points_pending - txn.points_pending)
        )
        txn.points_pending = 0


def process_sale(session: Session, transaction_id: int, timezone: str) -> Transaction:
    """Award a sale's points once; anonymous sales are marked processed with none."""
    sale = _lock(session, transaction_id)
    if sale.status == "processed":
        return sale
    if sale.member_id is not None:
        basis = earn_basis(session, sale.member_id)
        entry = earn_for_purchase(session, _purchase(sale), basis, timezone)
        _release_pending(session, sale)  # before the sale's own changes: one UPDATE of it
        sale.points_awarded = entry.points if entry else 0
        sale.earn_basis = basis.as_dict()
    sale.status, sale.processed_at = "processed", utcnow()
    return sale


def process_refund(session: Session, transaction_id: int, timezone: str) -> Transaction:
    """Reverse the refunded part of a sale's points once, processing the sale first if needed."""
    refund = _lock(session, transaction_id)
    if refund.status == "processed":
        return refund
    assert refund.refund_of_id is not None
    sale = process_sale(session, refund.refund_of_id, timezone)
    if sale.member_id is not None and sale.earn_basis is not None:
        entry = reverse_for_refund(
            session,
            Refund(
                refund.id,
                # the whole sale: the reversal itself takes off what was refunded before
                replace(_purchase(sale), total_minor=sale.total_minor),
                refund.total_minor,
                sale.refund_processed_minor,
                sale.points_awarded,
            ),
            EarnBasis.from_dict(sale.earn_basis),
        )
        reversed_points = entry.points if entry else 0
        sale.points_awarded += reversed_points
        refund.points_awarded = reversed_points
    sale.refund_processed_minor += refund.total_minor
    refund.status, refund.processed_at = "processed", utcnow()
    return refund


def handlers(timezone: str) -> dict[str, Any]:
    """Outbox topic → handler, bound to the program's time zone."""
    return {
        "transaction.recorded": lambda s, p: process_sale(s, int(p["transaction_id"]), timezone),
        "transaction.refunded": lambda s, p: process_refund(s, int(p["transaction_id"]), timezone),
    }

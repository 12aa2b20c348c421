"""The receipts' part in member merges, timelines and exports (`members.hooks`).

Receipts carry no personal data beyond the member id, so erasure leaves them as they are:
analytics over them still sum.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.models import Store
from loyalty.money import format_minor
from members import hooks as profile_hooks
from members.hooks import TimelineEntry, TimelineWindow
from members.privacy.export import iso
from members.privacy.row_moves import reassign
from rewards.models import Transaction


def init_app(app: Flask) -> None:
    profile_hooks.register_merge_step(app, "transactions", merge_transactions)
    profile_hooks.register_timeline_source(app, "purchases", purchases_timeline)
    profile_hooks.register_export_section(app, "transactions", transactions_export)
    profile_hooks.register_pending_points(app, pending_points)


def merge_transactions(session: Session, source_id: int, target_id: int) -> int:
    """The source's receipts become the target's (refunds follow their sales' member)."""
    return reassign(session, Transaction, source_id, target_id)


def pending_points(session: Session, member_id: int) -> int:
    """What the member's queued sales will earn by the base rule (an index-only read)."""
    total = session.scalar(
        select(func.coalesce(func.sum(Transaction.points_pending), 0)).where(
            Transaction.member_id == member_id, Transaction.status == "queued"
        )
    )
    return int(total or 0)


def _summary(txn: Transaction, store: str) -> str:
    what = "Refund" if txn.type == "refund" else "Purchase"
    points = f", {txn.points_awarded:+d} points" if txn.points_awarded else ""
    return f"{what} {format_minor(txn.total_minor)} {txn.currency} at {store}{points}"


def purchases_timeline(session: Session, window: TimelineWindow) -> list[TimelineEntry]:
    t = Transaction
    stmt = select(t, Store.code).join(Store, Store.id == t.store_id)
    rows = session.execute(window.page(stmt, t.member_id, t.occurred_at, t.id))
    return [
        TimelineEntry(
            at=txn.occurred_at,
            kind="refund" if txn.type == "refund" else "purchase",
            summary=_summary(txn, store),
            detail={
                "transaction_id": txn.id,
                "external_id": txn.external_id,
                "store": store,
                "total": format_minor(txn.total_minor),
                "currency": txn.currency,
                "points_awarded": txn.points_awarded,
                "status": txn.status,
                "items": len(txn.items),
            },
            source="purchases",
            ref=txn.id,
        )
        for txn, store in rows
    ]


def transactions_export(session: Session, member_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Transaction, Store.code)
        .join(Store, Store.id == Transaction.store_id)
        .where(Transaction.member_id == member_id)
        .order_by(Transaction.occurred_at, Transaction.id)
    )
    return [
        {
            "id": txn.id,
            "type": txn.type,
            "external_id": txn.external_id,
            "store": store,
            "occurred_at": iso(txn.occurred_at),
            "currency": txn.currency,
            "total": format_minor(txn.total_minor),
            "discount": format_minor(txn.discount_minor),
            "items": txn.items,
            "points_awarded": txn.points_awarded,
            "points_pending": txn.points_pending,
            "refunded": format_minor(txn.refunded_minor),
            "status": txn.status,
        }
        for txn, store in rows
    ]

"""Many sales recorded in one commit (an import), each as `ingestion.record_receipt` would
record it, with one statement per table for the whole batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty.bulk import insert_rows
from loyalty.db import one_of, reserve_ids
from loyalty.errors import DomainError, InvalidInput
from loyalty.money import to_minor
from loyalty.outbox import emit_each
from members.models import Member
from pos_adapters.errors import ReceiptConflict
from pos_adapters.ingestion import Source, items_of, receipt_hash
from rewards.earning.points import base_points
from rewards.earning.service import earn_bases
from rewards.models import Transaction

SALES = Transaction.__table__
MEMBERS = Member.__table__


@dataclass(frozen=True)
class Sale:
    """A validated sale whose member the caller has identified already (an import)."""

    receipt: dict[str, Any]
    member_id: int | None


@dataclass(frozen=True)
class Recorded:
    """What became of one sale of a batch: recorded now (created), a replay, or an error."""

    transaction_id: int | None
    created: bool = False
    error: DomainError | None = None


def record_sales(session: Session, sales: Sequence[Sale], source: Source) -> list[Recorded]:
    """Record many sales in the caller's unit of work, each as `record_receipt` would: once
    per (store, external id), a replay when the body is the same, a ReceiptConflict for that
    sale alone when it is not; pending points and a transaction.recorded outbox row for each
    new sale."""
    try:
        with session.begin_nested():  # a lost race undoes this batch of sales alone
            return _record_sales(session, sales, source)
    except IntegrityError:  # some of them arrived at the same time on another connection
        return _record_sales(session, sales, source)


def _record_sales(session: Session, sales: Sequence[Sale], source: Source) -> list[Recorded]:
    assert source.store_id is not None, "receipts are recorded for a store"
    receipts = [
        {**s.receipt, "currency": s.receipt.get("currency") or source.currency} for s in sales
    ]
    known = _existing(session, source.store_id, [r["external_id"] for r in receipts])
    decided: list[tuple[dict[str, Any], bool] | DomainError] = []  # (row, created) or why not
    new: list[dict[str, Any]] = []
    for sale, receipt in zip(sales, receipts, strict=True):
        digest = receipt_hash(receipt)
        try:
            if (first := known.get(receipt["external_id"])) is not None:
                decided.append((_replayed(first, digest), False))
                continue
            _check_batch_sale(receipt, source)
        except DomainError as error:
            decided.append(error)
            continue
        row = _sale_row(receipt, source, digest, sale.member_id)
        known[receipt["external_id"]] = row  # the same id again in this batch is its replay
        decided.append((row, True))
        new.append(row)
    _insert(session, new)
    return [
        Recorded(None, error=o) if isinstance(o, DomainError) else Recorded(o[0]["id"], o[1])
        for o in decided
    ]


def _existing(session: Session, store_id: int, external_ids: list[str]) -> dict[str, Any]:
    stmt = select(SALES.c.id, SALES.c.external_id, SALES.c.body_hash).where(
        SALES.c.store_id == store_id, one_of(session, SALES.c.external_id, set(external_ids))
    )
    return {row.external_id: row._asdict() for row in session.execute(stmt)}


def _replayed(first: dict[str, Any], digest: str) -> dict[str, Any]:
    if first["body_hash"] != digest:
        raise ReceiptConflict("This external_id was already used for a different receipt.")
    return first


def _check_batch_sale(receipt: dict[str, Any], source: Source) -> None:
    if receipt["type"] != "sale":
        raise InvalidInput("type", "only sales are recorded in a batch")
    if receipt["currency"] != source.currency:
        raise InvalidInput("currency", f"the program's currency is {source.currency}")


def _sale_row(
    receipt: dict[str, Any], source: Source, digest: str, member_id: int | None
) -> dict[str, Any]:
    """The transactions row of a new sale, as `ingestion.record_receipt` writes it."""
    return {
        "store_id": source.store_id,
        "terminal_id": source.terminal_id,
        "source": source.adapter,
        "external_id": receipt["external_id"],
        "type": receipt["type"],
        "refund_of_id": None,
        "occurred_at": receipt["occurred_at"],
        "currency": receipt["currency"],
        "member_id": member_id,
        "total_minor": to_minor(receipt["total"]),
        "discount_minor": to_minor(receipt["discount"]),
        "items": items_of(receipt),
        "body_hash": digest,
        "status": "queued",
        "points_pending": 0,
    }


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    """The new sales with their pending points, and their transaction.recorded messages."""
    if not rows:
        return
    # one order for every writer, so batches holding the same receipts never deadlock on the
    # unique index (each waits for the other's first key in turn)
    rows.sort(key=lambda row: row["external_id"])
    _hold_pending(session, rows)
    for row, txn_id in zip(rows, reserve_ids(session, SALES, len(rows)), strict=True):
        row["id"] = txn_id
    # rows go in by external id, one order for every writer: batches holding the same receipts
    # never deadlock on the unique index; ids and messages keep the order the sales came in
    insert_rows(session, SALES, sorted(rows, key=lambda row: row["external_id"]))
    emit_each(session, "transaction.recorded", "transaction_id", [row["id"] for row in rows])


def _hold_pending(session: Session, rows: list[dict[str, Any]]) -> None:
    """The points each sale will earn, shown as pending until it is processed: one read of the
    members' earn bases."""
    bases = earn_bases(session, {row["member_id"] for row in rows if row["member_id"] is not None})
    for row in rows:
        if row["member_id"] is not None:
            row["points_pending"] = base_points(row["total_minor"], bases[row["member_id"]])

"""A batch of receipts from one till (`POST /api/v1/transactions/batch`): each receipt stands
alone, as if it had been posted by itself — recorded (201), a replay (200), a clash (409) or
refused with its errors (422) — and one bad receipt never stops the others. The sales are
recorded together, one statement per table; then the refunds, each in a savepoint."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import marshmallow as ma
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.db import one_of
from loyalty.errors import Conflict, DomainError
from members.cards import service as cards
from pos_adapters import ingestion
from pos_adapters.batch_ingestion import Sale, record_sales
from pos_adapters.schemas import ReceiptSchema
from rewards.models import Transaction

RECEIPT = ReceiptSchema()


@dataclass
class Outcome:
    """What became of one receipt of the batch."""

    external_id: Any
    status: int
    transaction_id: int | None = None
    errors: dict[str, Any] = field(default_factory=dict)


def record_batch(
    session: Session, bodies: list[dict[str, Any]], source: ingestion.Source
) -> list[Outcome]:
    """Record what can be recorded of `bodies` in the caller's unit of work; an outcome for
    each, in the order sent."""
    outcomes = [Outcome(body.get("external_id"), 422) for body in bodies]
    valid = _validated(bodies, outcomes)
    cards.preload_cards(session, _codes(receipt for _index, receipt in valid))
    sales: list[tuple[int, dict[str, Any], int | None]] = []
    refunds: list[tuple[int, dict[str, Any]]] = []
    for index, receipt in valid:
        if receipt["type"] == "refund":
            refunds.append((index, receipt))
            continue
        try:
            member = receipt.get("member")
            member_id = ingestion.member_id_for(session, member, receipt["occurred_at"], source)
        except DomainError as error:
            _refused(outcomes[index], error)
            continue
        sales.append((index, receipt, member_id))
    _record_sales(session, sales, source, outcomes)
    for index, receipt in refunds:
        _record_refund(session, receipt, source, outcomes[index])
    return outcomes


def _validated(
    bodies: list[dict[str, Any]], outcomes: list[Outcome]
) -> list[tuple[int, dict[str, Any]]]:
    """The receipts that pass the schema, by their index; the others' outcomes get its errors."""
    valid = []
    for index, body in enumerate(bodies):
        try:
            valid.append((index, RECEIPT.load(body)))
        except ma.ValidationError as exc:
            outcomes[index].errors = exc.messages_dict
    return valid


def _codes(receipts: Iterable[dict[str, Any]]) -> list[str]:
    return [r["member"]["code"] for r in receipts if "code" in (r.get("member") or {})]


def _record_sales(
    session: Session,
    sales: list[tuple[int, dict[str, Any], int | None]],
    source: ingestion.Source,
    outcomes: list[Outcome],
) -> None:
    if not sales:
        return
    # the validated receipt as sent, its member reference included: the same fingerprint as
    # `record_receipt` takes, so a receipt posted alone and in a batch is one receipt
    recorded = record_sales(session, [Sale(r, m) for _i, r, m in sales], source)
    for (index, _receipt, _member), result in zip(sales, recorded, strict=True):
        if result.error is not None:
            _refused(outcomes[index], result.error)
        else:
            outcomes[index].status = 201 if result.created else 200
            outcomes[index].transaction_id = result.transaction_id


def _record_refund(
    session: Session, receipt: dict[str, Any], source: ingestion.Source, outcome: Outcome
) -> None:
    try:
        with session.begin_nested():  # a refused refund leaves nothing behind
            txn, created = ingestion.record_receipt(session, receipt, source)
    except DomainError as error:
        _refused(outcome, error)
        return
    outcome.status = 201 if created else 200
    outcome.transaction_id = txn.id


def _refused(outcome: Outcome, error: DomainError) -> None:
    outcome.status = 409 if isinstance(error, Conflict) else 422
    outcome.errors = error.extra.get("errors") or {"_schema": [error.detail]}


def points_of(session: Session, transaction_ids: list[int]) -> dict[int, int]:
    """The points each transaction has earned so far (0 while it is queued)."""
    if not transaction_ids:
        return {}
    rows = session.execute(
        select(Transaction.id, Transaction.points_awarded).where(
            one_of(session, Transaction.id, set(transaction_ids))
        )
    )
    return {row.id: row.points_awarded for row in rows}

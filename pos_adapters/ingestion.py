"""Receipt ingestion: record a canonical receipt once per (store, external id), with its
outbox row in the same commit, and let shoppers claim anonymous receipts later."""

from __future__ import annotations

import hashlib
import json
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from loyalty.db import dialect_insert, utcnow
from loyalty.errors import DomainError, InvalidInput
from loyalty.money import to_minor
from loyalty.outbox import emit
from members.cards import service as cards
from members.models import Member
from members.service import find_member
from pos_adapters.errors import NothingToClaim, ReceiptConflict
from rewards.earning import quoting
from rewards.earning.points import base_points
from rewards.earning.service import earn_basis
from rewards.models import Transaction


@dataclass(frozen=True)
class Source:
    """Where a receipt came from: its store and terminal, the adapter, the program's rules."""

    store_id: int | None  # None only for a quote asked by a cashier bound to no store
    terminal_id: int | None
    currency: str
    code_policy: cards.CodePolicy
    now: datetime
    adapter: str = "api"


def receipt_hash(receipt: dict[str, Any]) -> str:
    """A fingerprint of the validated receipt, to tell a replay from a clash."""
    canonical = json.dumps(receipt, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _member_from_code(session: Session, code: str, at: datetime, source: Source) -> Member:
    """A scanned code identifies the member if valid now or when the sale happened (today)."""
    try:
        return cards.resolve_code(session, code, source.code_policy, source.now).member
    except DomainError as first:
        if timedelta(0) <= source.now - at <= timedelta(days=1):
            with suppress(DomainError):  # not valid then either: report why it fails now
                return cards.resolve_code(session, code, source.code_policy, at).member
        raise InvalidInput("member.code", first.detail) from first


def member_id_for(
    session: Session, ref: dict[str, str] | None, at: datetime, source: Source
) -> int | None:
    if not ref:
        return None
    if "code" in ref:
        return _member_from_code(session, ref["code"], at, source).id
    try:
        return find_member(session, member_no=ref.get("member_no"), phone=ref.get("phone")).id
    except DomainError as exc:
        field = "member.member_no" if "member_no" in ref else "member.phone"
        raise InvalidInput(field, "no such member") from exc


def _find(session: Session, store_id: int, external_id: str) -> Transaction | None:
    return session.scalar(
        select(Transaction).where(
            Transaction.store_id == store_id, Transaction.external_id == external_id
        )
    )


def items_of(receipt: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**item, "quantity": str(item["quantity"]), "unit_price": f"{item['unit_price']:.2f}"}
        for item in receipt.get("items", [])
    ]


def record_receipt(
    session: Session, receipt: dict[str, Any], source: Source
) -> tuple[Transaction, bool]:
    """Record a sale or refund once; returns (transaction, created).

    The same external id with the same body returns the first; with another body,
    ReceiptConflict. Emits transaction.recorded / transaction.refunded in the same commit.
    """
    assert source.store_id is not None, "receipts are recorded for a store"
    receipt = {**receipt, "currency": receipt.get("currency") or source.currency}
    digest = receipt_hash(receipt)
    if receipt["type"] == "sale":
        return _record_sale(session, receipt, source, digest)
    if (existing := _recorded(session, source, receipt)) is not None:
        return _replayed(existing, digest), False
    _check_currency(receipt, source)
    txn = _new_transaction(session, receipt, source, digest)
    try:
        with session.begin_nested():  # a lost race undoes this receipt alone
            session.add(txn)
    except IntegrityError:  # the same receipt arrived at the same time on another connection
        return _replayed(_first(session, source, receipt), digest), False
    emit(session, "transaction.refunded", {"transaction_id": txn.id})
    return txn, True


def _record_sale(
    session: Session, receipt: dict[str, Any], source: Source, digest: str
) -> tuple[Transaction, bool]:
    """A sale in as few round trips as it takes: its member, its pending points, then one
    INSERT that a replay (or a twin on another connection) turns into nothing."""
    try:
        _check_currency(receipt, source)
        txn = _new_transaction(session, receipt, source, digest)
    except InvalidInput:  # a replay is answered as the first, whatever its code is now
        if (existing := _recorded(session, source, receipt)) is not None:
            return _replayed(existing, digest), False
        raise
    _hold_pending(session, txn)
    if not _insert_once(session, txn):
        return _replayed(_first(session, source, receipt), digest), False
    emit(session, "transaction.recorded", {"transaction_id": txn.id})
    return txn, True


def _insert_once(session: Session, txn: Transaction) -> bool:
    """INSERT the new transaction unless its (store, external id) is taken; on success it is
    in the session as if loaded, with no read back."""
    table = Transaction.__table__
    values = {c.key: getattr(txn, c.key) for c in table.columns if c.key != "id"}
    stmt = dialect_insert(session, table).values(values)
    stmt = stmt.on_conflict_do_nothing(index_elements=["store_id", "external_id"])
    new_id = session.scalar(stmt.returning(table.c.id))
    if new_id is None:
        return False
    txn.id = new_id
    make_transient_to_detached(txn)
    session.add(txn)
    return True


def _recorded(session: Session, source: Source, receipt: dict[str, Any]) -> Transaction | None:
    assert source.store_id is not None
    return _find(session, source.store_id, receipt["external_id"])


def _first(session: Session, source: Source, receipt: dict[str, Any]) -> Transaction:
    first = _recorded(session, source, receipt)
    assert first is not None, "a receipt that clashed on its key is there"
    return first


def _check_currency(receipt: dict[str, Any], source: Source) -> None:
    if receipt["currency"] != source.currency:
        raise InvalidInput("currency", f"the program's currency is {source.currency}")


def _replayed(txn: Transaction, digest: str) -> Transaction:
    if txn.body_hash != digest:
        raise ReceiptConflict("This external_id was already used for a different receipt.")
    return txn


def _transaction_row(receipt: dict[str, Any], source: Source, digest: str) -> Transaction:
    """The new transaction with every column given (none is read back after the INSERT)."""
    assert source.store_id is not None
    return Transaction(
        store_id=source.store_id,
        terminal_id=source.terminal_id,
        source=source.adapter,
        external_id=receipt["external_id"],
        type=receipt["type"],
        refund_of_id=None,
        occurred_at=receipt["occurred_at"],
        currency=receipt["currency"],
        member_id=None,
        total_minor=to_minor(receipt["total"]),
        discount_minor=to_minor(receipt["discount"]),
        items=items_of(receipt),
        body_hash=digest,
        status="queued",
        points_awarded=0,
        base_points=0,
        points_pending=0,
        earn_basis=None,
        refunded_minor=0,
        refund_processed_minor=0,
        created_at=utcnow(),
        processed_at=None,
        claimed_at=None,
    )


def _new_transaction(
    session: Session, receipt: dict[str, Any], source: Source, digest: str
) -> Transaction:
    txn = _transaction_row(receipt, source, digest)
    if receipt["type"] == "refund":
        assert source.store_id is not None
        sale = _refunded_sale(session, source.store_id, receipt["refund_of"], txn.total_minor)
        txn.refund_of_id, txn.member_id = sale.id, sale.member_id
    else:
        txn.member_id = member_id_for(session, receipt.get("member"), txn.occurred_at, source)
    return txn


def _refunded_sale(
    session: Session, store_id: int, sale_external_id: str, amount: int
) -> Transaction:
    """The sale being refunded, with the refund counted against what is left of it."""
    sale = _find(session, store_id, sale_external_id)
    if sale is None or sale.type != "sale":
        raise InvalidInput("refund_of", "no such sale in this store")
    taken = session.execute(
        update(Transaction)
        .where(
            Transaction.id == sale.id,
            Transaction.total_minor - Transaction.refunded_minor >= amount,
        )
        .values(refunded_minor=Transaction.refunded_minor + amount)
    ).rowcount
    if not taken:
        raise InvalidInput("total", "more than what is left of the sale to refund")
    return sale


def _hold_pending(session: Session, txn: Transaction) -> None:
    """The points a queued sale will earn, kept on the sale until it is processed (the member's
    pending points are the sum over their queued sales)."""
    if txn.type != "sale" or txn.member_id is None:
        return
    txn.points_pending = base_points(txn.total_minor, earn_basis(session, txn.member_id))


def claim_receipt(
    session: Session,
    member_id: int,
    external_id: str,
    total: Decimal,
    store_id: int | None,
    now: datetime,
    claim_days: int,
) -> Transaction:
    """Attach an anonymous sale to the member who shows its number and total, once."""
    stmt = select(Transaction).where(
        Transaction.external_id == external_id,
        Transaction.type == "sale",
        Transaction.total_minor == to_minor(total),
        Transaction.member_id.is_(None),
        Transaction.occurred_at >= now - timedelta(days=claim_days),
    )
    if store_id is not None:
        stmt = stmt.where(Transaction.store_id == store_id)
    found = list(session.scalars(stmt.limit(2)))
    if len(found) != 1:
        raise NothingToClaim("No unclaimed receipt matches that number and total.")
    txn = found[0]
    claimed = session.execute(
        update(Transaction)
        .where(Transaction.id == txn.id, Transaction.member_id.is_(None))
        .values(member_id=member_id, claimed_at=now, status="queued")
    ).rowcount
    if not claimed:
        raise NothingToClaim("This receipt was claimed already.")
    session.refresh(txn)
    _hold_pending(session, txn)
    emit(session, "transaction.recorded", {"transaction_id": txn.id})
    session.flush()
    return txn


def quote_receipt(
    session: Session, receipt: dict[str, Any], source: Source, timezone: str
) -> quoting.QuoteResult:
    """What a sale would earn the member it names, with no side effect (`quoting.quote_sale`).
    Raises InvalidInput for another currency, or a receipt that names no member."""
    if receipt.get("currency", source.currency) != source.currency:
        raise InvalidInput("currency", f"the program's currency is {source.currency}")
    member_id = member_id_for(session, receipt.get("member"), receipt["occurred_at"], source)
    if member_id is None:
        raise InvalidInput("member", "a quote is for a member: send their code, number or phone")
    return quoting.quote_sale(session, member_id, receipt, source.store_id, source.now, timezone)

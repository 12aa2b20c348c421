"""Vendor receipts recorded as transactions, whether they came by pull or by webhook: each once
per (store, vendor id); sales of one store and device in one batch, then voids, then refunds;
every receipt that is not recorded is a rejection with its reason."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import marshmallow as ma
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.errors import DomainError, InvalidInput
from loyalty.models import Terminal
from loyalty.staff import add_device_terminal
from members.cards.service import CodePolicy
from pos_adapters import ingestion, matching
from pos_adapters.batch_ingestion import Sale, record_sales
from pos_adapters.errors import ReceiptConflict
from pos_adapters.models import PosDevice, PosRejection
from pos_adapters.schemas import ReceiptSchema
from pos_adapters.vendor import Customer, Unreadable, VendorReceipt
from rewards.models import Transaction

RECEIPT = ReceiptSchema()
VOID_SUFFIX = "~void"  # the refund that takes back a sale voided after it was recorded
VOIDED = "voided at the POS; a voided sale earns nothing"


@dataclass
class Target:
    """What recording needs to know of the source: its stores, the program's currency, and
    the caches of one run (vendor customers, device terminals)."""

    source_id: int
    name: str
    stores: dict[str, int]  # vendor store id → our store id
    currency: str
    code_policy: CodePolicy
    now: datetime
    customer: Callable[[str], Customer | None]
    terminals: dict[tuple[int, str], int] = field(default_factory=dict)

    @property
    def adapter(self) -> str:
        return f"pos:{self.source_id}"


@dataclass
class Counts:
    fetched: int = 0
    recorded: int = 0
    already_there: int = 0
    rejected: int = 0

    def add(self, other: Counts) -> None:
        self.fetched += other.fetched
        self.recorded += other.recorded
        self.already_there += other.already_there
        self.rejected += other.rejected


@dataclass
class _Batch:
    counts: Counts
    rejections: list[tuple[str, str]] = field(default_factory=list)

    def reject(self, vendor_id: str, reason: str) -> None:
        self.counts.rejected += 1
        self.rejections.append((vendor_id, reason))


def record_vendor_receipts(
    session: Session,
    target: Target,
    receipts: Sequence[VendorReceipt | Unreadable],
    *,
    run_id: int | None = None,
    inbox_id: int | None = None,
) -> Counts:
    """Record what can be recorded of `receipts` in the caller's unit of work; the counts."""
    batch = _Batch(Counts(fetched=len(receipts)))
    sales: list[tuple[VendorReceipt, dict[str, Any], int]] = []
    voids: list[tuple[VendorReceipt, int]] = []
    refunds: list[tuple[VendorReceipt, dict[str, Any], int]] = []
    for receipt in receipts:
        if isinstance(receipt, Unreadable):
            batch.reject(receipt.vendor_id, receipt.reason)
            continue
        store_id = target.stores.get(receipt.store or "")
        if store_id is None:
            batch.reject(receipt.vendor_id, f"store {receipt.store!r} is not mapped to ours")
        elif receipt.voided:
            voids.append((receipt, store_id))
        elif (canonical := _validated(receipt, batch)) is not None:
            (refunds if receipt.type == "refund" else sales).append((receipt, canonical, store_id))
    _record_sales(session, target, sales, batch)
    for receipt, store_id in voids:
        _record_void(session, target, receipt, store_id, batch)
    for receipt, canonical, store_id in sorted(refunds, key=lambda r: r[0].occurred_at):
        _record_refund(session, target, receipt, canonical, store_id, batch)
    session.add_all(
        PosRejection(
            source_id=target.source_id,
            run_id=run_id,
            inbox_id=inbox_id,
            vendor_id=vendor_id[:200],
            reason=reason,
        )
        for vendor_id, reason in batch.rejections
    )
    session.flush()
    return batch.counts


def canonical_receipt(receipt: VendorReceipt) -> dict[str, Any]:
    """The receipt in the shape `POST /api/v1/transactions` takes (before validation)."""
    body: dict[str, Any] = {
        "external_id": receipt.vendor_id,
        "occurred_at": receipt.occurred_at.isoformat(),
        "type": receipt.type,
        "total": f"{receipt.total:.2f}",
        "discount": f"{receipt.discount:.2f}",
        "items": [
            {
                "sku": line.sku[:64],
                "name": line.name[:200],
                "category": line.category[:64],
                "quantity": _quantity(line.quantity),
                "unit_price": f"{line.unit_price:.2f}",
            }
            for line in receipt.items
        ],
    }
    if receipt.refund_of is not None:
        body["refund_of"] = receipt.refund_of
    return body


def _quantity(value: Decimal) -> str | int:
    text = format(value.normalize(), "f")
    return int(text) if text.isdigit() else text


def _validated(receipt: VendorReceipt, batch: _Batch) -> dict[str, Any] | None:
    try:
        return RECEIPT.load(canonical_receipt(receipt))
    except ma.ValidationError as exc:
        batch.reject(receipt.vendor_id, f"not a valid receipt: {_flat(exc.messages)}")
        return None


def _flat(messages: Any, prefix: str = "") -> str:
    if isinstance(messages, dict):
        return "; ".join(_flat(v, f"{prefix}{k}.") for k, v in messages.items())
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return f"{prefix.rstrip('.')}: {' '.join(messages)}"
    if isinstance(messages, list):
        return "; ".join(_flat(m, prefix) for m in messages)
    return f"{prefix.rstrip('.')}: {messages}"


def _source(target: Target, store_id: int, terminal_id: int | None) -> ingestion.Source:
    return ingestion.Source(
        store_id=store_id,
        terminal_id=terminal_id,
        currency=target.currency,
        code_policy=target.code_policy,
        now=target.now,
        adapter=target.adapter,
    )


def _record_sales(
    session: Session,
    target: Target,
    sales: list[tuple[VendorReceipt, dict[str, Any], int]],
    batch: _Batch,
) -> None:
    """The sales of one store and device in one batch, with their members matched."""
    if not sales:
        return
    members = matching.match_members(
        session, target.source_id, (r for r, _c, _s in sales), target.customer
    )
    groups: dict[tuple[int, int | None], list[tuple[VendorReceipt, dict[str, Any]]]]
    groups = defaultdict(list)
    for receipt, canonical, store_id in sales:
        terminal_id = _terminal(session, target, store_id, receipt.device)
        groups[(store_id, terminal_id)].append((receipt, canonical))
    for (store_id, terminal_id), group in groups.items():
        outcomes = record_sales(
            session,
            [
                Sale(canonical, m.member_id if (m := members.get(r.vendor_id)) else None)
                for r, canonical in group
            ],
            _source(target, store_id, terminal_id),
        )
        for (receipt, _canonical), outcome in zip(group, outcomes, strict=True):
            if outcome.error is not None:
                batch.reject(receipt.vendor_id, _why(outcome.error))
            elif outcome.created:
                batch.counts.recorded += 1
            else:
                batch.counts.already_there += 1


def _record_refund(
    session: Session,
    target: Target,
    receipt: VendorReceipt,
    canonical: dict[str, Any],
    store_id: int,
    batch: _Batch,
) -> None:
    terminal_id = _terminal(session, target, store_id, receipt.device)
    try:
        _txn, created = ingestion.record_receipt(
            session, canonical, _source(target, store_id, terminal_id)
        )
    except DomainError as error:
        batch.reject(receipt.vendor_id, _why(error))
        return
    if created:
        batch.counts.recorded += 1
    else:
        batch.counts.already_there += 1


def _record_void(
    session: Session, target: Target, receipt: VendorReceipt, store_id: int, batch: _Batch
) -> None:
    """A voided sale never earns: unknown, it is rejected; recorded already, what is left of
    it is refunded under `<vendor id>~void`, so its points go back."""
    sale = _transaction(session, store_id, receipt.vendor_id)
    if sale is None or sale.type != "sale":
        if _rejected_before(session, target.source_id, receipt.vendor_id, VOIDED):
            batch.counts.already_there += 1  # seen again in an overlapping page
        else:
            batch.reject(receipt.vendor_id, VOIDED)
        return
    void_id = receipt.vendor_id + VOID_SUFFIX
    left = sale.total_minor - sale.refunded_minor
    if _transaction(session, store_id, void_id) is not None or left <= 0:
        batch.counts.already_there += 1
        return
    reversal = RECEIPT.load(
        {
            "external_id": void_id,
            "occurred_at": target.now.isoformat(),
            "type": "refund",
            "refund_of": receipt.vendor_id,
            "total": f"{Decimal(left) / 100:.2f}",
        }
    )
    try:
        ingestion.record_receipt(session, reversal, _source(target, store_id, sale.terminal_id))
    except DomainError as error:
        batch.reject(receipt.vendor_id, f"voided, but its reversal failed: {_why(error)}")
        return
    batch.counts.recorded += 1


def _transaction(session: Session, store_id: int, external_id: str) -> Transaction | None:
    return session.scalar(
        select(Transaction).where(
            Transaction.store_id == store_id, Transaction.external_id == external_id
        )
    )


def _rejected_before(session: Session, source_id: int, vendor_id: str, reason: str) -> bool:
    return (
        session.scalar(
            select(PosRejection.id)
            .where(
                PosRejection.source_id == source_id,
                PosRejection.vendor_id == vendor_id,
                PosRejection.reason == reason,
            )
            .limit(1)
        )
        is not None
    )


def _why(error: DomainError) -> str:
    if isinstance(error, ReceiptConflict):
        return "changed at the POS after it was recorded; the recorded receipt stands"
    if isinstance(error, InvalidInput) and "refund_of" in error.extra.get("errors", {}):
        return "refund of a sale this store has not recorded"
    return error.detail


def _terminal(session: Session, target: Target, store_id: int, device: str | None) -> int | None:
    """The terminal standing for a vendor device, made on first sight (it has no usable key:
    it names the device in our records)."""
    if not device:
        return None
    key = (store_id, device)
    if key in target.terminals:
        return target.terminals[key]
    terminal_id = session.scalar(
        select(PosDevice.terminal_id)
        .join(Terminal, Terminal.id == PosDevice.terminal_id)
        .where(
            PosDevice.source_id == target.source_id,
            PosDevice.vendor_device_id == device,
            Terminal.store_id == store_id,
        )
    )
    if terminal_id is None:
        terminal = add_device_terminal(session, store_id, f"{target.name} · {device}"[:200])
        session.merge(
            PosDevice(source_id=target.source_id, vendor_device_id=device, terminal_id=terminal.id)
        )
        terminal_id = terminal.id
    target.terminals[key] = terminal_id
    return terminal_id

"""Receipt history from a CSV file (an old loyalty program, a POS export): one row per line
item, the rows of one external_id forming one receipt, checked like a POS push.

Reading is pure (`read_receipts`); `import_batch` then records one batch of receipts through
the same ingestion as the API (`ingestion.record_sales`); `flask import receipts`
(pos_adapters/import_cli.py) commits a batch at a time, oldest first.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import marshmallow as ma
from marshmallow import fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.db import one_of, utcnow
from loyalty.errors import InvalidInput
from members.models import Member
from members.service import Enrolment, add_imported_members
from pos_adapters.batch_ingestion import Sale, record_sales
from pos_adapters.ingestion import Source
from pos_adapters.schemas import ReceiptSchema

COLUMNS = (
    "external_id",
    "occurred_at",
    "customer_ref",
    "total",
    "currency",
    "sku",
    "category",
    "quantity",
    "unit_price",
)
RECEIPT_COLUMNS = ("occurred_at", "customer_ref", "total", "currency")  # equal on every row
EARLIEST_HISTORY = datetime(1970, 1, 1, tzinfo=UTC)
BAD_TIME = "must be an ISO 8601 date and time, e.g. 2024-05-01T14:30:00+07:00"


class HistoricReceiptSchema(ReceiptSchema):
    """A receipt of the program's history: any time from 1970 on, with the customer's id in
    the old system."""

    customer_ref = fields.String(validate=validate.Length(min=1, max=64))

    @ma.validates("occurred_at")
    def not_in_future(self, value, **_kwargs):
        if value > utcnow() + timedelta(minutes=10):
            raise ma.ValidationError("must not be in the future")
        if value < EARLIEST_HISTORY:
            raise ma.ValidationError("must not be before 1970-01-01")


@cache
def _schema() -> HistoricReceiptSchema:
    return HistoricReceiptSchema()  # one for a file's many receipts: building one costs more


@dataclass(frozen=True)
class Rejection:
    """Why a line of the file was not imported."""

    line: int
    external_id: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.external_id or '(no external_id)'}: {self.reason}"


@dataclass(frozen=True)
class HistoricReceipt:
    """A valid receipt of the file and its first line. The receipt keeps its customer_ref, so
    that the same receipt imported again for another customer is a conflict, not a replay."""

    line: int
    receipt: dict[str, Any]

    @property
    def customer_ref(self) -> str | None:
        return self.receipt.get("customer_ref")

    @property
    def occurred_at(self) -> datetime:
        return self.receipt["occurred_at"]


@dataclass
class Reading:
    """What the file holds: valid receipts, oldest first, and the rejected lines."""

    receipts: list[HistoricReceipt] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    rejected_receipts: int = 0


Row = tuple[int, dict[str, str]]  # line number, cells by column


def rows_of(file: TextIO) -> Iterator[Row]:
    """The file's rows with their line numbers; InvalidInput if a column is missing."""
    reader = csv.DictReader(file)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput("file", f"missing columns: {', '.join(missing)}")
    for cells in reader:
        yield reader.line_num, {c: (cells.get(c) or "").strip() for c in COLUMNS}


def read_receipts(rows: Iterable[Row], timezone: str) -> Reading:
    """Group rows into receipts by external_id and check each; valid ones sorted by time."""
    reading = Reading()
    groups: dict[str, list[Row]] = {}
    for line, cells in rows:
        if not cells["external_id"]:
            reading.rejections.append(Rejection(line, "", "external_id: missing"))
            reading.rejected_receipts += 1
            continue
        groups.setdefault(cells["external_id"], []).append((line, cells))
    for external_id, group in groups.items():
        checked = check_receipt(external_id, group, timezone)
        if isinstance(checked, HistoricReceipt):
            reading.receipts.append(checked)
        else:
            reading.rejections.extend(checked)
            reading.rejected_receipts += 1
    reading.receipts.sort(key=lambda r: r.occurred_at)
    return reading


def check_receipt(
    external_id: str, rows: list[Row], timezone: str
) -> HistoricReceipt | list[Rejection]:
    """One receipt from its rows, or why not: the rows disagree, or a cell is invalid."""
    first_line, first = rows[0]
    clashes = [
        Rejection(line, external_id, f"{c}: {cells[c]!r} differs from line {first_line}")
        for line, cells in rows[1:]
        for c in RECEIPT_COLUMNS
        if cells[c] != first[c]
    ]
    if clashes:
        return clashes
    at = occurred_at(first["occurred_at"], timezone)
    if at is None:
        return [Rejection(first_line, external_id, f"occurred_at: {BAD_TIME}")]
    try:
        receipt = _schema().load(_body(external_id, at, rows))
    except ma.ValidationError as error:
        return _rejections(error.messages, external_id, rows)
    return HistoricReceipt(first_line, receipt)


def occurred_at(text: str, timezone: str) -> datetime | None:
    """An ISO 8601 time; one without an offset is the program's local time."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=ZoneInfo(timezone))


def _body(external_id: str, at: datetime, rows: list[Row]) -> dict[str, Any]:
    first = rows[0][1]
    body: dict[str, Any] = {
        "external_id": external_id,
        "occurred_at": at.isoformat(),
        "total": first["total"],
        "items": [
            {k: cells[k] for k in ("sku", "category", "quantity", "unit_price")}
            for _line, cells in rows
        ],
    }
    for optional in ("currency", "customer_ref"):
        if first[optional]:
            body[optional] = first[optional]
    return body


def _rejections(messages: Any, external_id: str, rows: list[Row]) -> list[Rejection]:
    """Schema errors as rejections: a line item's on its own line, the rest on the first."""
    found = []
    for name, problem in _flatten(messages):
        line = rows[0][0]
        parts = name.split(".")
        if parts[0] == "items" and len(parts) > 1 and parts[1].isdigit():
            line = rows[int(parts[1])][0]
            name = ".".join(parts[2:]) or "items"
        found.append(Rejection(line, external_id, f"{name}: {problem}"))
    return found


def _flatten(messages: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(messages, dict):
        for key, inner in messages.items():
            yield from _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(messages, list):
        for message in messages:
            yield from _flatten(message, prefix)
    else:
        yield prefix, str(messages)


# --- recording them ---------------------------------------------------------------------------

UNKNOWN_CUSTOMER = "customer_ref: no member has this id (--enrol-unknown enrols one)"
SEVERAL_CUSTOMERS = "customer_ref: several members have this id"


@dataclass(frozen=True)
class Target:
    """Where the history goes: the store it is recorded for, whether customers the program
    does not know are enrolled, and how many receipts go in one commit."""

    source: Source
    enrol_unknown: bool = False
    batch_size: int = 500


@dataclass
class Summary:
    accepted: int = 0
    replayed: int = 0
    rejected: int = 0
    enrolled: int = 0
    rejections: list[Rejection] = field(default_factory=list)


def first_purchases(reading: Reading) -> dict[str, datetime]:
    """When each customer_ref first bought (the receipts are oldest first)."""
    first_seen: dict[str, datetime] = {}
    for receipt in reading.receipts:
        if receipt.customer_ref:
            first_seen.setdefault(receipt.customer_ref, receipt.occurred_at)
    return first_seen


def batches(reading: Reading, size: int) -> Iterator[list[HistoricReceipt]]:
    """The file's receipts, oldest first, `size` at a time (a unit of work each)."""
    for start in range(0, len(reading.receipts), size):
        yield reading.receipts[start : start + size]


def import_batch(
    session: Session,
    batch: list[HistoricReceipt],
    target: Target,
    first_seen: dict[str, datetime],
    summary: Summary,
) -> None:
    """Record one batch of receipts in the caller's unit of work, counting them in `summary`.
    Idempotent: a receipt already recorded for the store is a replay; the same external_id
    with another body is rejected (receipt-conflict), as is a customer_ref no member has
    unless enrolling."""
    members = _members(session, batch, target, first_seen, summary)
    sales, kept = [], []
    for receipt in batch:
        member = (
            members.get(receipt.customer_ref, UNKNOWN_CUSTOMER) if receipt.customer_ref else None
        )
        if isinstance(member, str):
            _reject(summary, receipt, member)
            continue
        sales.append(Sale(receipt.receipt, member))
        kept.append(receipt)
    for receipt, recorded in zip(kept, record_sales(session, sales, target.source), strict=True):
        if recorded.error is not None:
            _reject(summary, receipt, recorded.error.detail)
        elif recorded.created:
            summary.accepted += 1
        else:
            summary.replayed += 1


def _reject(summary: Summary, receipt: HistoricReceipt, reason: str) -> None:
    summary.rejections.append(Rejection(receipt.line, receipt.receipt["external_id"], reason))
    summary.rejected += 1


def _members(
    session: Session,
    batch: list[HistoricReceipt],
    target: Target,
    first_seen: dict[str, datetime],
    summary: Summary,
) -> dict[str, int | str]:
    """The member of each customer_ref of the batch, enrolling the unknown ones if asked
    (added before the receipts, which refer to them)."""
    refs = {r.customer_ref for r in batch if r.customer_ref}
    found = members_by_ref(session, refs)
    unknown = sorted(refs - found.keys())
    if unknown and target.enrol_unknown:
        enrolments = [_enrolment(ref, target, first_seen[ref]) for ref in unknown]
        found.update(zip(unknown, add_imported_members(session, enrolments), strict=True))
        summary.enrolled += len(unknown)
    return found


def _enrolment(ref: str, target: Target, first_purchase: datetime) -> Enrolment:
    """An imported customer: named after their id, no contact details, no consents."""
    return Enrolment(
        name=f"Customer {ref}",
        external_ref=ref,
        store_id=target.source.store_id,
        enrolled_at=first_purchase,
    )


def members_by_ref(session: Session, refs: set[str]) -> dict[str, int | str]:
    """The member each id of the old system names (for a merged member, the one it was merged
    into); a reason instead when several members have the id."""
    if not refs:
        return {}
    rows = session.execute(
        select(Member.external_ref, func.coalesce(Member.merged_into_id, Member.id)).where(
            one_of(session, Member.external_ref, refs), Member.status != "erased"
        )
    )
    ids: dict[str, set[int]] = {}
    for ref, member_id in rows:
        ids.setdefault(ref, set()).add(member_id)
    return {ref: min(found) if len(found) == 1 else SEVERAL_CUSTOMERS for ref, found in ids.items()}

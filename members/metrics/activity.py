"""The member's purchase history as the profile keeps it: spend, receipts and points per
program day (`member_days`), and spend per category and per store (`member_affinities`).

Every processed sale adds to them and every processed refund takes off, on the sale's day, in
the engine's transaction; tier windows, RFM, CLV and segments read these rows, never receipts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from loyalty.bulk import upsert_rows
from loyalty.db import dialect_insert
from members.models import MemberAffinity, MemberDay


@dataclass(frozen=True)
class Purchase:
    """A processed sale (positive) or refund (negative), as the profile counts it."""

    member_id: int
    at: datetime  # when the sale happened (a refund counts on its sale's day)
    spend_minor: int
    receipts: int  # 1 for a sale, 0 for a refund
    points: int  # points it earned (negative: taken back)
    store_id: int | None
    categories: Iterable[tuple[str, int]]  # (category, amount in minor units) per line


def program_day(at: datetime, timezone: str) -> date:
    return at.astimezone(ZoneInfo(timezone)).date()


def _upsert(session: Session, model: type, keys: dict, values: dict) -> None:
    stmt = dialect_insert(session, model).values(**keys, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: getattr(model, name) + getattr(stmt.excluded, name) for name in values},
    )
    session.execute(stmt)


def record(session: Session, purchase: Purchase, timezone: str) -> None:
    """Add a sale or refund to the member's days and affinities (inside the caller's work)."""
    day = program_day(purchase.at, timezone)
    _upsert(
        session,
        MemberDay,
        {"member_id": purchase.member_id, "day": day},
        {
            "spend_minor": purchase.spend_minor,
            "purchases": purchase.receipts,
            "points": purchase.points,
        },
    )
    by_category: dict[str, int] = {}
    for category, amount in purchase.categories:
        if category:
            by_category[category] = by_category.get(category, 0) + amount
    for category, amount in by_category.items():
        _upsert(
            session,
            MemberAffinity,
            {"member_id": purchase.member_id, "kind": "category", "key": category[:64]},
            {"spend_minor": amount, "purchases": purchase.receipts},
        )
    if purchase.store_id is not None:
        _upsert(
            session,
            MemberAffinity,
            {"member_id": purchase.member_id, "kind": "store", "key": str(purchase.store_id)},
            {"spend_minor": purchase.spend_minor, "purchases": purchase.receipts},
        )


Totals = dict[tuple, list[int]]  # key columns → [spend, purchases(, points)]


def _add(totals: Totals, key: tuple, *amounts: int) -> None:
    held = totals.setdefault(key, [0] * len(amounts))
    for index, amount in enumerate(amounts):
        held[index] += amount


def record_many(session: Session, purchases: Iterable[Purchase], timezone: str) -> None:
    """`record` for many sales and refunds at once: their amounts summed per day, category and
    store first, then one upsert of each table."""
    days: Totals = {}
    affinities: Totals = {}
    for purchase in purchases:
        member = purchase.member_id
        day = program_day(purchase.at, timezone)
        _add(days, (member, day), purchase.spend_minor, purchase.receipts, purchase.points)
        by_category: dict[str, int] = {}
        for category, amount in purchase.categories:
            if category:
                by_category[category] = by_category.get(category, 0) + amount
        for category, amount in by_category.items():
            _add(affinities, (member, "category", category[:64]), amount, purchase.receipts)
        if purchase.store_id is not None:
            key = (member, "store", str(purchase.store_id))
            _add(affinities, key, purchase.spend_minor, purchase.receipts)
    _upsert_many(
        session,
        MemberDay,
        ("member_id", "day"),
        ("spend_minor", "purchases", "points"),
        [(*key, *values) for key, values in days.items()],
    )
    _upsert_many(
        session,
        MemberAffinity,
        ("member_id", "kind", "key"),
        ("spend_minor", "purchases"),
        [(*key, *values) for key, values in affinities.items()],
    )


def _upsert_many(
    session: Session, model: type, keys: tuple[str, ...], values: tuple[str, ...], rows: list
) -> None:
    table = model.__table__  # type: ignore[attr-defined]
    upsert_rows(
        session,
        table,
        keys,
        [dict(zip(keys + values, row, strict=True)) for row in rows],
        lambda incoming: {name: table.c[name] + incoming[name] for name in values},
    )

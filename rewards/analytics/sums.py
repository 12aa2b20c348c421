"""Points and sales summed by program day and store over a run of ledger entries or receipts
(by id), for the rollups and for what they do not hold yet.

An entry's store is the till's it was made at, else its receipt's, else its member's
enrolment store, else 0.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.db import one_of
from rewards.analytics.periods import day_number
from rewards.analytics.program import ENTRIES, MEMBERS, SALES

PointsKey = tuple[int, int, str, str]  # day, store, kind, cause type
SalesKey = tuple[int, int]  # day, store
BalanceKey = tuple[int, int]  # day, the member's enrolment store


def _ids(table: Any, after: int, upto: int | None) -> Any:
    condition = table.c.id > after
    return condition if upto is None else condition & (table.c.id <= upto)


def _stores(session: Session, table: Any, column: Any, ids: set[int]) -> dict[int, int | None]:
    if not ids:
        return {}
    stmt = select(table.c.id, column).where(one_of(session, table.c.id, ids))
    return {key: value for key, value in session.execute(stmt)}


def stores_of_entries(session: Session, rows: list[Any]) -> list[int]:
    """The store of each entry row (with store_id, cause_type, cause_id and member_id)."""
    unplaced = [row for row in rows if row.store_id is None]
    receipts = {int(r.cause_id) for r in unplaced if r.cause_type == "transaction"}
    receipt_store = _stores(session, SALES, SALES.c.store_id, receipts)
    people = {r.member_id for r in unplaced if r.cause_type != "transaction"}
    home = _stores(session, MEMBERS, MEMBERS.c.enrolled_store_id, people)
    found = []
    for row in rows:
        store = row.store_id
        if store is None and row.cause_type == "transaction":
            store = receipt_store.get(int(row.cause_id))
        if store is None:
            store = home.get(row.member_id)
        found.append(store or 0)
    return found


PLACE = (ENTRIES.c.store_id, ENTRIES.c.cause_type, ENTRIES.c.cause_id, ENTRIES.c.member_id)


def entries(
    session: Session, after: int, upto: int | None, zone: ZoneInfo
) -> tuple[Counter[PointsKey], Counter[BalanceKey]]:
    """Points of the entries with ids in (after, upto] (no upper bound: upto None), by day,
    store, kind and cause type; and by day and their member's enrolment store."""
    rows = session.execute(
        select(ENTRIES.c.occurred_at, ENTRIES.c.kind, ENTRIES.c.points, *PLACE).where(
            _ids(ENTRIES, after, upto)
        )
    ).all()
    home = _stores(session, MEMBERS, MEMBERS.c.enrolled_store_id, {r.member_id for r in rows})
    points: Counter[PointsKey] = Counter()
    balances: Counter[BalanceKey] = Counter()
    for row, store in zip(rows, stores_of_entries(session, rows), strict=True):
        day = day_number(row.occurred_at, zone)
        points[(day, store, row.kind, row.cause_type)] += row.points
        balances[(day, home.get(row.member_id) or 0)] += row.points
    return points, balances


def sales(
    session: Session, after: int, upto: int | None, zone: ZoneInfo
) -> dict[SalesKey, list[int]]:
    """[sales less refunds, the members' part] of the receipts with ids in (after, upto]."""
    found: dict[SalesKey, list[int]] = {}
    rows = session.execute(
        select(
            SALES.c.occurred_at,
            SALES.c.store_id,
            SALES.c.type,
            SALES.c.total_minor,
            SALES.c.member_id,
        ).where(_ids(SALES, after, upto))
    )
    for when, store, kind, total, member_id in rows:
        signed = -total if kind == "refund" else total
        got = found.setdefault((day_number(when, zone), store), [0, 0])
        got[0] += signed
        got[1] += signed if member_id is not None else 0
    return found

"""Keeping the analytics rollups (rewards/analytics/models.py) up to date, and what they do not
hold yet (docs/ANALYTICS.md, "Rollups").

The rollups hold every ledger entry, receipt and member up to an id each. A roll-up adds what
came after, up to the ids it noted on its previous run at least `lag` before: ids are taken
when a row is written, so a row whose transaction is still open when its id is passed would
be missed, and `lag` is longer than any transaction that writes them. Each member whose
receipts, enrolment or status changed since is counted again from their rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from loyalty.bulk import upsert_rows
from loyalty.db import dialect_insert, one_of
from members.models import TierChange
from rewards.analytics import closed_lots, member_shares, sums
from rewards.analytics.models import (
    BalancesByDay,
    ClosedLotsByDay,
    MemberCount,
    MemberShare,
    PointsByDay,
    RollupState,
    SalesByDay,
)
from rewards.analytics.program import CLOSED, ENTRIES, MEMBERS, SALES

LAG = timedelta(seconds=30)
CHUNK = 5_000  # members counted again per statement
STEP = 100_000  # entries and receipts summed per statement in a rebuild
RUN = 20_000  # ids of each kind a roll-up takes in per unit of work
TABLES = (PointsByDay, BalancesByDay, SalesByDay, ClosedLotsByDay, MemberCount, MemberShare)


@dataclass(frozen=True)
class Marks:
    """Ids up to which the rollups hold entries, sales, members, lot movements and tier
    changes."""

    entries: int
    sales: int
    members: int
    movements: int
    tier_changes: int


FIELDS = ("entries", "sales", "members", "movements", "tier_changes")


def state(session: Session) -> RollupState:
    """The rollups' one state row, made on first use and locked for a roll-up."""
    zeros = {f"{prefix}{name}_id": 0 for name in FIELDS for prefix in ("", "next_")}
    session.execute(
        dialect_insert(session, RollupState.__table__)
        .values(id=1, **zeros, active_days=0)
        .on_conflict_do_nothing()
    )
    return session.scalar(select(RollupState).where(RollupState.id == 1).with_for_update())


def held(row: RollupState | None, prefix: str = "") -> Marks:
    """What the rollups hold (nothing before their first roll-up); with prefix "next_", the
    ids noted for the next roll-up."""
    if row is None:
        return Marks(0, 0, 0, 0, 0)
    return Marks(*(getattr(row, f"{prefix}{name}_id") for name in FIELDS))


def latest(session: Session) -> Marks:
    def top(table: Any) -> int:
        return int(session.scalar(select(func.coalesce(func.max(table.c.id), 0))))

    return Marks(
        top(ENTRIES), top(SALES), top(MEMBERS), top(closed_lots.MOVES), top(TierChange.__table__)
    )


def touched(session: Session, after: Marks, upto: Marks | None) -> set[int]:
    """Members whose share may have changed since the rollups' marks: those with receipts,
    ledger entries or a tier change after them or enrolled after them, those merged or erased
    who still hold a share, and whom they were merged into."""
    found: set[int] = set()
    for table, column, name in (
        (SALES, SALES.c.member_id, "sales"),
        (ENTRIES, ENTRIES.c.member_id, "entries"),
        (MEMBERS, MEMBERS.c.id, "members"),
        (TierChange.__table__, TierChange.member_id, "tier_changes"),
    ):
        since = table.c.id > getattr(after, name)
        if upto is not None:
            since = since & (table.c.id <= getattr(upto, name))
        found.update(session.scalars(select(column).where(since).distinct()))
    found.discard(None)
    closed = MEMBERS.c.status.in_(CLOSED)
    shared = select(MemberShare.member_id)
    found.update(session.scalars(select(MEMBERS.c.id).where(closed, MEMBERS.c.id.in_(shared))))
    while True:
        targets = set(
            session.scalars(
                select(MEMBERS.c.merged_into_id).where(
                    closed,
                    one_of(session, MEMBERS.c.id, found),
                    MEMBERS.c.merged_into_id.isnot(None),
                )
            )
        )
        if targets <= found:
            return found
        found |= targets


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def change_in_counts(
    session: Session, ids: set[int], zone: ZoneInfo, active_days: int
) -> Counter[member_shares.Key]:
    """What counting the members again would change in the member counts (nothing written)."""
    change: Counter[member_shares.Key] = Counter()
    for chunk in _chunks(ids):
        change.update(_recount(session, chunk, zone, active_days)[0])
    return change


def _recount(
    session: Session, chunk: list[int], zone: ZoneInfo, active_days: int
) -> tuple[Counter[member_shares.Key], dict[int, Counter]]:
    """(the change in the counts, the members' new shares) for one chunk of members."""
    new = member_shares.fresh(session, one_of(session, MEMBERS.c.id, chunk), zone, active_days)
    old = member_shares.stored(session, one_of(session, MemberShare.member_id, chunk))
    change: Counter[member_shares.Key] = Counter()
    for got in new.values():
        change.update(got)
    for got in old.values():
        change.subtract(got)
    return change, new


def _count_again(session: Session, ids: set[int], zone: ZoneInfo, active_days: int) -> None:
    for chunk in _chunks(ids):
        change, new = _recount(session, chunk, zone, active_days)
        _add_counts(session, change)
        session.execute(delete(MemberShare).where(one_of(session, MemberShare.member_id, chunk)))
        _insert_shares(session, {m: got for m, got in new.items() if got})


def _insert_shares(session: Session, shares: dict[int, Counter]) -> None:
    if shares:
        session.execute(
            MemberShare.__table__.insert(),
            [{"member_id": m, "counts": member_shares.as_rows(got)} for m, got in shares.items()],
        )


def _add(session: Session, model: Any, keys: tuple[str, ...], rows: list[dict]) -> None:
    table = model.__table__
    values = [name for name in rows[0] if name not in keys] if rows else []
    upsert_rows(session, table, keys, rows, lambda new: {v: table.c[v] + new[v] for v in values})


def _add_counts(session: Session, change: Counter[member_shares.Key]) -> None:
    rows = [
        {"kind": k, "store_id": s, "cohort": c, "period": p, "members": n}
        for (k, s, c, p), n in sorted(change.items())
        if n
    ]
    _add(session, MemberCount, ("kind", "store_id", "cohort", "period"), rows)


def _rows(names: tuple[str, ...], found: dict) -> list[dict[str, Any]]:
    """Upsert rows from {key tuple: value or [values]}, keys and values named in order."""
    rows = []
    for key, value in sorted(found.items()):
        values = value if isinstance(value, list) else [value]
        rows.append(dict(zip(names, (*key, *values), strict=True)))
    return rows


def _add_sums(session: Session, after: Marks, upto: Marks, zone: ZoneInfo) -> None:
    points, balances = sums.entries(session, after.entries, upto.entries, zone)
    keys = ("day", "store_id", "kind", "cause_type")
    _add(session, PointsByDay, keys, _rows((*keys, "points"), points))
    keys = ("day", "home_store_id")
    _add(session, BalancesByDay, keys, _rows((*keys, "points"), balances))
    sales = sums.sales(session, after.sales, upto.sales, zone)
    keys = ("day", "store_id")
    _add(session, SalesByDay, keys, _rows((*keys, "sales_minor", "member_sales_minor"), sales))
    lots = closed_lots.change(session, after.movements, upto.movements, zone)
    _add(session, ClosedLotsByDay, keys, _rows((*keys, "closed_points", "expired_points"), lots))


def _note(row: RollupState, marks: Marks, now: datetime) -> None:
    for name in FIELDS:
        setattr(row, f"next_{name}_id", getattr(marks, name))
    row.noted_at = now


def _hold(row: RollupState, marks: Marks) -> None:
    for name in FIELDS:
        setattr(row, f"{name}_id", getattr(marks, name))


def _taken_in(session: Session, after: Marks, upto: Marks) -> dict[str, int]:
    """How many ledger entries and receipts lie between the marks."""

    def rows(table: Any, name: str) -> int:
        first, last = getattr(after, name), getattr(upto, name)
        return session.scalar(select(func.count()).where(table.c.id > first, table.c.id <= last))

    return {"entries": rows(ENTRIES, "entries"), "sales": rows(SALES, "sales")}


def _furthest(a: Marks, b: Marks) -> Marks:
    return Marks(*(max(getattr(a, f), getattr(b, f)) for f in FIELDS))


def _capped(after: Marks, goal: Marks) -> Marks:
    """At most RUN ids of each kind past `after`, towards `goal`."""
    return Marks(*(min(getattr(goal, f), getattr(after, f) + RUN) for f in FIELDS))


def roll_up(
    session: Session, zone: ZoneInfo, active_days: int, now: datetime, lag: timedelta = LAG
) -> dict[str, int]:
    """Add to the rollups a run of what they do not hold yet, up to the ids noted at least
    `lag` ago (with no lag: up to now), at most RUN ids of each kind. Counts everything again
    when the active-days setting changed. Returns how many entries and receipts it took in,
    how many members it counted again, and whether more is due now (`more`: 1)."""
    row = state(session)
    if row.active_days != active_days:
        return {**rebuild(session, zone, active_days, now), "more": 0}
    after = held(row)
    goal = _furthest(after, held(row, "next_")) if lag else latest(session)
    if lag and (row.noted_at is None or row.noted_at > now - lag):
        if row.noted_at is None:
            _note(row, latest(session), now)
        return {"entries": 0, "sales": 0, "members": 0, "more": 0}
    upto = _capped(after, goal)
    _add_sums(session, after, upto, zone)
    who = touched(session, after, upto)
    _count_again(session, who, zone, active_days)
    _hold(row, upto)
    if upto == goal:
        _note(row, latest(session), now)
    more = int(upto != goal)
    return {**_taken_in(session, after, upto), "members": len(who), "more": more}


def rebuild(
    session: Session,
    zone: ZoneInfo,
    active_days: int,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Empty the rollups and fill them again from the ledger, receipts and members;
    `progress` is told of each of the `rebuild_steps` done."""
    row = state(session)
    for model in TABLES:
        session.execute(delete(model))
    upto = latest(session)
    for first in range(0, max(upto.entries, upto.sales, upto.movements), STEP):
        last = first + STEP
        part = Marks(
            min(last, upto.entries), min(last, upto.sales), 0, min(last, upto.movements), 0
        )
        _add_sums(session, Marks(first, first, 0, first, 0), part, zone)
        if progress:
            progress(1)
    members = select(MEMBERS.c.id).where(MEMBERS.c.id <= upto.members)
    everyone = set(session.scalars(members))
    for chunk in _chunks(everyone):
        _count_again(session, set(chunk), zone, active_days)
        if progress:
            progress(1)
    row.active_days = active_days
    _hold(row, upto)
    _note(row, upto, now)
    return {**_taken_in(session, Marks(0, 0, 0, 0, 0), upto), "members": len(everyone)}


def rebuild_steps(session: Session) -> int:
    """How many steps a rebuild takes now (for a progress bar)."""
    upto = latest(session)
    members = session.scalar(select(func.count()).where(MEMBERS.c.id <= upto.members)) or 0
    return -(-max(upto.entries, upto.sales, upto.movements) // STEP) + -(-members // CHUNK)

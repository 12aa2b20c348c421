"""The points journal: double-entry postings, the member's balance row as the lock, lots.

Every change of a member's points goes through `credit` or `debit`, inside the caller's
transaction. The member row's `points_balance` is updated first, with one statement, so the
row lock serialises all ledger work for that member on PostgreSQL (SQLite serialises writers
with BEGIN IMMEDIATE); a debit that must not go below zero is a conditional UPDATE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.bulk import insert_rows, update_rows
from loyalty.db import reserve_ids, utcnow
from members.errors import UnknownMember
from members.models import Member
from rewards.errors import InsufficientPoints
from rewards.ledger import lots
from rewards.models import JournalEntry, LotMovement, PointsLot, Posting


@dataclass(frozen=True)
class Entry:
    """What an entry is: the member side is `points` (positive); the direction is the call."""

    member_id: int
    kind: str
    points: int
    account: str  # the program account on the other side
    key: str  # idempotency key, unique over the journal
    cause_type: str
    cause_id: str
    description: str = ""
    rule: str = ""
    occurred_at: datetime | None = None
    store_id: int | None = None
    terminal_id: int | None = None
    staff_user_id: int | None = None


def lock_member(session: Session, member_id: int) -> None:
    """Hold the member's balance row for the rest of the transaction (SQLite: already held)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            select(Member.id).where(Member.id == member_id).with_for_update(key_share=True)
        )


def find_entry(session: Session, key: str) -> JournalEntry | None:
    return session.scalar(select(JournalEntry).where(JournalEntry.idempotency_key == key))


def _move_balance(session: Session, member_id: int, delta: int, floor: int | None) -> int | None:
    stmt = (
        update(Member)
        .where(Member.id == member_id)
        .values(points_balance=Member.points_balance + delta)
        .returning(Member.points_balance)
    )
    if floor is not None:
        stmt = stmt.where(Member.points_balance + delta >= floor)
    return session.execute(stmt).scalar()


def _record(session: Session, spec: Entry, signed: int, balance_after: int) -> JournalEntry:
    entry = JournalEntry(**_entry_row(spec, signed, balance_after, utcnow()))
    session.add(entry)
    session.flush()
    session.add_all(
        [
            Posting(entry_id=entry.id, account="member", member_id=spec.member_id, points=signed),
            Posting(entry_id=entry.id, account=spec.account, member_id=None, points=-signed),
        ]
    )
    return entry


def credit(
    session: Session, spec: Entry, expires_at: datetime, restore_from: int | None = None
) -> JournalEntry:
    """Add points. New points form a lot; `restore_from` puts them back where a debit took them."""
    assert spec.points > 0
    balance_after = _move_balance(session, spec.member_id, spec.points, None)
    if balance_after is None:
        raise UnknownMember(f"No member {spec.member_id}.")
    entry = _record(session, spec, spec.points, balance_after)
    into_lots = lots.lot_share_of_credit(spec.points, balance_after)
    if restore_from is not None:
        into_lots = _restore_lots(session, entry.id, restore_from, into_lots)
    if into_lots > 0:
        lot = PointsLot(
            member_id=spec.member_id,
            entry_id=entry.id,
            points=into_lots,
            remaining=into_lots,
            earned_at=entry.occurred_at,
            expires_at=expires_at,
        )
        session.add(lot)
    return entry


def credit_many(session: Session, specs: list[Entry], expires_at: datetime) -> list[int]:
    """Add several credits to one member at once (a campaign batch): one balance update and one
    insert per table, in the order given; returns the entry ids. Same rules as `credit`."""
    if not specs:
        return []
    member_id = specs[0].member_id
    assert all(spec.member_id == member_id and spec.points > 0 for spec in specs)
    total = sum(spec.points for spec in specs)
    final = _move_balance(session, member_id, total, None)
    if final is None:
        raise UnknownMember(f"No member {member_id}.")
    return _insert_credits(
        session, [(spec, expires_at) for spec in specs], {member_id: final - total}
    )


def credit_batch(
    session: Session, credits: list[tuple[Entry, datetime]], balances: dict[int, int]
) -> list[int]:
    """Add credits to many members at once (a run of sales), in the order given, each with its
    lot's expiry; `balances` are the members' balances read under their row locks, which the
    caller holds. One update of the balances and one insert per table; the same rules as
    `credit`. Returns the entry ids."""
    if not credits:
        return []
    assert all(spec.points > 0 for spec, _expiry in credits)
    moved: dict[int, int] = {}
    for spec, _expiry in credits:
        moved[spec.member_id] = moved.get(spec.member_id, 0) + spec.points
    members = Member.__table__
    update_rows(
        session,
        members,
        "id",
        [{"id": member, "points_balance": delta} for member, delta in moved.items()],
        lambda v: {"points_balance": members.c.points_balance + v["points_balance"]},
    )
    return _insert_credits(session, credits, dict(balances))


def _insert_credits(
    session: Session, credits: list[tuple[Entry, datetime]], balances: dict[int, int]
) -> list[int]:
    """The entries, postings and lots of credits whose balances are already moved, given each
    member's balance before the first of them."""
    now, rows = utcnow(), []
    for spec, _expiry in credits:
        balances[spec.member_id] += spec.points
        rows.append(_entry_row(spec, spec.points, balances[spec.member_id], now))
    ids = reserve_ids(session, JournalEntry.__table__, len(rows))
    for row, entry_id in zip(rows, ids, strict=True):
        row["id"] = entry_id
    insert_rows(session, JournalEntry.__table__, rows)
    insert_rows(
        session,
        Posting.__table__,
        [
            posting
            for entry_id, (spec, _expiry) in zip(ids, credits, strict=True)
            for posting in (
                {
                    "entry_id": entry_id,
                    "account": "member",
                    "member_id": spec.member_id,
                    "points": spec.points,
                },
                {
                    "entry_id": entry_id,
                    "account": spec.account,
                    "member_id": None,
                    "points": -spec.points,
                },
            )
        ],
    )
    lot_rows = []
    for entry_id, row, (_spec, expires_at) in zip(ids, rows, credits, strict=True):
        share = lots.lot_share_of_credit(row["points"], row["balance_after"])
        if share > 0:
            lot_rows.append(
                {
                    "member_id": row["member_id"],
                    "entry_id": entry_id,
                    "points": share,
                    "remaining": share,
                    "earned_at": row["occurred_at"],
                    "expires_at": expires_at,
                }
            )
    insert_rows(session, PointsLot.__table__, lot_rows)
    return ids


def _entry_row(spec: Entry, signed: int, balance_after: int, now: datetime) -> dict:
    return {
        "idempotency_key": spec.key,
        "kind": spec.kind,
        "member_id": spec.member_id,
        "points": signed,
        "balance_after": balance_after,
        "occurred_at": spec.occurred_at or now,
        "description": spec.description,
        "cause_type": spec.cause_type,
        "cause_id": spec.cause_id,
        "rule": spec.rule,
        "store_id": spec.store_id,
        "terminal_id": spec.terminal_id,
        "staff_user_id": spec.staff_user_id,
    }


def _restore_lots(session: Session, entry_id: int, debit_entry_id: int, amount: int) -> int:
    """Put up to `amount` back into the lots a debit took from; returns what is left over."""
    taken = session.execute(
        select(LotMovement.lot_id, -LotMovement.points)
        .where(LotMovement.entry_id == debit_entry_id)
        .order_by(LotMovement.id)
    ).all()
    for lot_id, give in lots.allocate([(lot_id, pts) for lot_id, pts in taken], amount):
        session.execute(
            update(PointsLot)
            .where(PointsLot.id == lot_id)
            .values(remaining=PointsLot.remaining + give)
            .execution_options(synchronize_session=False)
        )
        session.add(LotMovement(lot_id=lot_id, entry_id=entry_id, points=give))
        amount -= give
    return amount


def debit(
    session: Session,
    spec: Entry,
    *,
    allow_negative: bool = False,
    from_lots: list[int] | None = None,
) -> JournalEntry:
    """Take points, earliest-expiring lots first. Without `allow_negative`, InsufficientPoints
    rather than a balance below zero."""
    assert spec.points > 0
    after = _move_balance(session, spec.member_id, -spec.points, None if allow_negative else 0)
    if after is None:
        if session.get(Member, spec.member_id) is None:
            raise UnknownMember(f"No member {spec.member_id}.")
        raise InsufficientPoints("The member does not have enough points.")
    entry = _record(session, spec, -spec.points, after)
    _take_from_lots(
        session,
        spec.member_id,
        entry.id,
        lots.lot_share_of_debit(spec.points, after + spec.points),
        from_lots,
    )
    return entry


def _take_from_lots(
    session: Session, member_id: int, entry_id: int, amount: int, only: list[int] | None
) -> None:
    if amount <= 0:
        return
    stmt = (
        select(PointsLot.id, PointsLot.remaining)
        .where(PointsLot.member_id == member_id, PointsLot.remaining > 0)
        .order_by(PointsLot.expires_at, PointsLot.id)
    )
    if only is not None:
        stmt = stmt.where(PointsLot.id.in_(only))
    open_lots = [(row.id, row.remaining) for row in session.execute(stmt)]
    for lot_id, take in lots.allocate(open_lots, amount):
        session.execute(
            update(PointsLot)
            .where(PointsLot.id == lot_id)
            .values(remaining=PointsLot.remaining - take)
            .execution_options(synchronize_session=False)
        )
        session.add(LotMovement(lot_id=lot_id, entry_id=entry_id, points=-take))

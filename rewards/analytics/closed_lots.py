"""Points in lots that have closed (used up or expired) and how many of them expired, by the
day the lot was earned and the store of the entry that made it, for the breakage rate.

A lot's state at any lot movement id is its points plus its movements up to that id, so what
a run of movements changed is the state after it less the state before it: nothing per lot is
kept beside the ledger.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from loyalty.db import one_of
from rewards.analytics.periods import day_number
from rewards.analytics.program import ENTRIES
from rewards.analytics.sums import PLACE, stores_of_entries
from rewards.models import LotMovement, PointsLot

LOTS, MOVES = PointsLot.__table__, LotMovement.__table__
LotsKey = tuple[int, int]  # earned day, store


def _upto(limit: int | None, condition: Any = True) -> Any:
    return condition if limit is None else and_(MOVES.c.id <= limit, condition)


def _state(points: int, moved: int, expired: int) -> tuple[int, int]:
    """(closed points, expired points) a lot adds: nothing while points are left in it."""
    return (points, expired) if points + moved == 0 else (0, 0)


def _stores(session: Session, entry_ids: set[int]) -> dict[int, int]:
    """The store of each entry that made a lot."""
    if not entry_ids:
        return {}
    rows = session.execute(
        select(ENTRIES.c.id, *PLACE).where(one_of(session, ENTRIES.c.id, entry_ids))
    ).all()
    return dict(zip([row.id for row in rows], stores_of_entries(session, rows), strict=True))


def change(
    session: Session, after: int, upto: int | None, zone: ZoneInfo
) -> dict[LotsKey, list[int]]:
    """What the lot movements with ids in (after, upto] changed: [closed points, expired]."""
    touched = select(MOVES.c.lot_id).where(MOVES.c.id > after)
    if upto is not None:
        touched = touched.where(MOVES.c.id <= upto)
    expiry = ENTRIES.c.kind == "expire"
    stmt = (
        select(
            LOTS.c.points,
            LOTS.c.earned_at,
            func.sum(case((MOVES.c.id <= after, MOVES.c.points), else_=0)),
            func.sum(case((_upto(upto), MOVES.c.points), else_=0)),
            func.sum(case((and_(MOVES.c.id <= after, expiry), -MOVES.c.points), else_=0)),
            func.sum(case((_upto(upto, expiry), -MOVES.c.points), else_=0)),
            LOTS.c.entry_id,
        )
        .select_from(LOTS.join(MOVES, MOVES.c.lot_id == LOTS.c.id))
        .join(ENTRIES, ENTRIES.c.id == MOVES.c.entry_id)
        .where(LOTS.c.id.in_(touched.distinct()))
        .group_by(LOTS.c.id)
    )
    rows = session.execute(stmt).all()
    made_at = _stores(session, {row.entry_id for row in rows})
    found: dict[LotsKey, list[int]] = {}
    for row in rows:
        points, earned_at, before, now, expired_before, expired_now, entry_id = row
        store = made_at[entry_id]
        old, new = _state(points, before, expired_before), _state(points, now, expired_now)
        if old != new:
            got = found.setdefault((day_number(earned_at, zone), store), [0, 0])
            got[0] += new[0] - old[0]
            got[1] += new[1] - old[1]
    return found

"""Fixed-window rate limits kept in the database, so every process shares them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import RateLimited
from loyalty.models import RateCounter


def _window(now: datetime, seconds: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def hit(session: Session, key: str, limit: int, window_seconds: int) -> int:
    """Count one attempt under `key`; raise RateLimited past `limit` in the window.

    Commits the count, so a refused or failed attempt still counts.
    """
    start = _window(utcnow(), window_seconds)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(RateCounter).values(key=key, window_start=start, count=0).on_conflict_do_nothing()
    )
    count = session.execute(
        update(RateCounter)
        .where(RateCounter.key == key, RateCounter.window_start == start)
        .values(count=RateCounter.count + 1)
        .returning(RateCounter.count)
    ).scalar_one()
    session.commit()
    if count > limit:
        raise RateLimited(
            f"Too many attempts; try again in {window_seconds} seconds.",
            headers={"Retry-After": str(window_seconds)},
        )
    return count

"""Fixed-window rate limits kept in the database, so every process shares them."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.db import dialect_insert, utcnow
from loyalty.errors import RateLimited
from loyalty.models import RateCounter

KEY_LENGTH = 160  # the column's size


def _stored(key: str) -> str:
    """The key as kept: one too long for the column (an email is up to 254 characters) is
    cut and completed with its digest, so distinct keys stay distinct."""
    if len(key) <= KEY_LENGTH:
        return key
    return key[: KEY_LENGTH - 64] + hashlib.sha256(key.encode()).hexdigest()


def _window(now: datetime, seconds: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def hit(session: Session, key: str, limit: int, window_seconds: int) -> int:
    """Count one attempt under `key`; raise RateLimited past `limit` in the window.

    Commits the count, so a refused or failed attempt still counts.
    """
    key, start = _stored(key), _window(utcnow(), window_seconds)
    session.execute(
        dialect_insert(session, RateCounter)
        .values(key=key, window_start=start, count=0)
        .on_conflict_do_nothing()
    )
    count = session.execute(
        update(RateCounter)
        .where(RateCounter.key == key, RateCounter.window_start == start)
        .values(count=RateCounter.count + 1)
        .returning(RateCounter.count)
    ).scalar_one()
    session.commit()
    if count > limit:
        _refuse(window_seconds)
    return count


def check(session: Session, key: str, limit: int, window_seconds: int) -> None:
    """Raise RateLimited if `key` is already past `limit` in the window, without counting."""
    key, start = _stored(key), _window(utcnow(), window_seconds)
    count = session.scalar(
        select(RateCounter.count).where(RateCounter.key == key, RateCounter.window_start == start)
    )
    if count is not None and count > limit:
        _refuse(window_seconds)


def _refuse(window_seconds: int) -> None:
    raise RateLimited(
        f"Too many attempts; try again in {window_seconds} seconds.",
        headers={"Retry-After": str(window_seconds)},
    )

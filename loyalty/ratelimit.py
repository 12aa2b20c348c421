"""Fixed-window rate limits kept in the database, so every process shares them.

The limits are named in the configuration (`RATE_LIMITS` in loyalty/config.py: name →
(attempts, window in seconds)) and applied to a view by `@rate_limited(name, key=…)`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import select, update

from loyalty.db import dialect_insert, utcnow
from loyalty.errors import DomainError, RateLimited
from loyalty.extensions import db
from loyalty.models import RateCounter
from loyalty.unit_of_work import AnySession, keep_on_failure

KEY_LENGTH = 160  # the column's size
F = TypeVar("F", bound=Callable[..., Any])


def _stored(key: str) -> str:
    """The key as kept: one too long for the column (an email is up to 254 characters) is
    cut and completed with its digest, so distinct keys stay distinct."""
    if len(key) <= KEY_LENGTH:
        return key
    return key[: KEY_LENGTH - 64] + hashlib.sha256(key.encode()).hexdigest()


def _window(now: datetime, seconds: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def _count(session: AnySession, key: str, start: datetime) -> int:
    session.execute(
        dialect_insert(session, RateCounter)
        .values(key=key, window_start=start, count=0)
        .on_conflict_do_nothing()
    )
    return session.execute(
        update(RateCounter)
        .where(RateCounter.key == key, RateCounter.window_start == start)
        .values(count=RateCounter.count + 1)
        .returning(RateCounter.count)
    ).scalar_one()


def hit(session: AnySession, key: str, limit: int, window_seconds: int) -> int:
    """Count one attempt under `key`; raise RateLimited past `limit` in the window.

    Counts in the caller's unit of work and keeps the count if the unit rolls back, so a
    refused or failed attempt still counts.
    """
    key, start = _stored(key), _window(utcnow(), window_seconds)
    count = keep_on_failure(session, lambda s: _count(s, key, start))
    if count > limit:
        _refuse(window_seconds)
    return count


def check(session: AnySession, key: str, limit: int, window_seconds: int) -> None:
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


def rate_limited(
    name: str, key: Callable[[Any], str], *, failures_only: bool = False
) -> Callable[[F], F]:
    """Apply the configured limit `name` to a view, counting per `key(body)` (the view's
    parsed body, its last positional argument). Every attempt counts, a refused or failed one
    too; with `failures_only`, only attempts that raise a DomainError count, and once past the
    limit every attempt is refused, so a guesser cannot tell a right guess from a wrong one."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            limit, window_seconds = current_app.config["RATE_LIMITS"][name]
            counter = f"{name}:{key(args[-1] if args else None)}"
            if not failures_only:
                hit(db.session, counter, limit, window_seconds)
                return view(*args, **kwargs)
            check(db.session, counter, limit, window_seconds)
            try:
                return view(*args, **kwargs)
            except DomainError:
                hit(db.session, counter, limit, window_seconds)
                raise

        return wrapper  # type: ignore[return-value]

    return decorate

"""The transactional outbox: record work in the caller's commit, drain it in batches."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from loyalty.db import is_postgres, utcnow
from loyalty.models import OutboxMessage

Handler = Callable[[Session, dict[str, Any]], None]
MAX_ATTEMPTS = 5
# deadlock detected, serialization failure, lock not available
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001", "55P03"})
PENDING_FLAG = "outbox_pending"
log = logging.getLogger(__name__)


def emit(session: Session, topic: str, payload: dict[str, Any]) -> OutboxMessage:
    """Add work to the outbox in the caller's transaction; it is dispatched after commit."""
    message = OutboxMessage(topic=topic, payload=payload)
    session.add(message)
    session.info[PENDING_FLAG] = True
    return message


def _claim_batch(session: Session, limit: int) -> list[OutboxMessage]:
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending")
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if is_postgres(session):
        # Several workers split the pending rows instead of queueing on the same ones.
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def is_transient(error: Exception) -> bool:
    """A deadlock or serialisation failure: the same work succeeds when tried again."""
    return getattr(getattr(error, "orig", None), "sqlstate", None) in TRANSIENT_SQLSTATES


def _apply(session: Session, handlers: Mapping[str, Handler], message: OutboxMessage) -> None:
    handler = handlers.get(message.topic)
    try:
        if handler is not None:  # an event nobody subscribes to is simply done
            with session.begin_nested():
                handler(session, message.payload)
    except OperationalError as exc:
        if not is_transient(exc):
            _failed_attempt(message, exc)
            return
        # Workers taking rows in different orders: the database chose this one to give way.
        # Its savepoint is undone; the message stays pending, without counting an attempt.
        log.warning("outbox message %s (%s) gave way to a lock conflict", message.id, message.topic)
        return
    except Exception as exc:  # a bad message must not stop the batch behind it
        _failed_attempt(message, exc)
        return
    message.status = "done"
    message.processed_at = utcnow()


def _failed_attempt(message: OutboxMessage, exc: Exception) -> None:
    log.error("outbox message %s (%s) failed", message.id, message.topic, exc_info=exc)
    message.attempts += 1
    message.last_error = repr(exc)[:2000]
    if message.attempts >= MAX_ATTEMPTS:
        message.status = "failed"


def process_batch(session: Session, handlers: Mapping[str, Handler], limit: int) -> int:
    """Apply one batch of pending messages in one transaction; returns how many were taken."""
    batch = _claim_batch(session, limit)
    for message in batch:
        _apply(session, handlers, message)
    session.commit()
    return len(batch)


def drain(session: Session, handlers: Mapping[str, Handler], limit: int) -> int:
    """Process batches until none is pending; returns the number of messages taken."""
    total = 0
    while taken := process_batch(session, handlers, limit):
        total += taken
    return total


def has_stale_pending(session: Session, older_than: timedelta) -> bool:
    """Whether pending work exists that no dispatch has picked up in time."""
    cutoff = utcnow() - older_than
    stmt = select(
        exists().where(OutboxMessage.status == "pending", OutboxMessage.created_at <= cutoff)
    )
    return bool(session.scalar(stmt))

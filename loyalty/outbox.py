"""The transactional outbox: record work in the caller's unit of work, process it in batches."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    bindparam,
    column,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from loyalty.bulk import insert_rows
from loyalty.db import UTCDateTime, is_postgres, one_of, utcnow
from loyalty.models import OutboxMessage

Handler = Callable[[Session, dict[str, Any]], None]
# Takes the payloads of a run of messages of one topic, in order, and does their work at once;
# returns the positions it left for the topic's one-message handler.
BatchHandler = Callable[[Session, list[dict[str, Any]]], set[int]]
MAX_ATTEMPTS = 5
# deadlock detected, serialization failure, lock not available
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001", "55P03"})
PENDING_FLAG = "outbox_pending"
OUTBOX = OutboxMessage.__table__
log = logging.getLogger(__name__)


def emit(session: Session, topic: str, payload: dict[str, Any]) -> OutboxMessage:
    """Add work to the outbox in the caller's transaction; it is dispatched after commit."""
    message = OutboxMessage(topic=topic, payload=payload)
    session.add(message)
    session.info[PENDING_FLAG] = True
    return message


def emit_many(session: Session, topic: str, payloads: list[dict[str, Any]]) -> None:
    """`emit` for many messages of one topic at once, in the order given (one insert)."""
    if payloads:
        insert_rows(session, OUTBOX, [{"topic": topic, "payload": p} for p in payloads])
        session.info[PENDING_FLAG] = True


def emit_each(session: Session, topic: str, key: str, ids: Sequence[int]) -> None:
    """`emit_many` of the payloads `{key: id}`, one per id, in order. On PostgreSQL the ids go
    as one array and the server makes the documents: no JSON passes through Python."""
    if not ids:
        return
    if not is_postgres(session):
        emit_many(session, topic, [{key: i} for i in ids])
        return
    given = bindparam("ids", list(ids), type_=ARRAY(BigInteger))
    v = (
        func.unnest(given)
        .table_valued(column("id", BigInteger), with_ordinality="n")
        .render_derived(name="v")
    )
    rows = select(
        literal(topic), func.jsonb_build_object(key, v.c.id), literal("pending"), literal(0),
        literal(utcnow(), UTCDateTime()),
    ).order_by(v.c.n)  # fmt: skip
    names = ["topic", "payload", "status", "attempts", "created_at"]
    session.execute(insert(OUTBOX).from_select(names, rows))
    session.info[PENDING_FLAG] = True


@dataclass(frozen=True)
class Claimed:
    """A pending message taken by this drain (its row stays locked until the commit)."""

    id: int
    topic: str
    payload: dict[str, Any]
    attempts: int


def _claim_batch(session: Session, limit: int) -> list[Claimed]:
    stmt = (
        select(OUTBOX.c.id, OUTBOX.c.topic, OUTBOX.c.payload, OUTBOX.c.attempts)
        .where(OUTBOX.c.status == "pending")
        .order_by(OUTBOX.c.id)
        .limit(limit)
    )
    if is_postgres(session):
        # Several workers split the pending rows instead of queueing on the same ones.
        stmt = stmt.with_for_update(skip_locked=True)
    return [Claimed(*row) for row in session.execute(stmt)]


def is_transient(error: Exception) -> bool:
    """A deadlock or serialisation failure: the same work succeeds when tried again."""
    return getattr(getattr(error, "orig", None), "sqlstate", None) in TRANSIENT_SQLSTATES


def _apply(session: Session, handlers: Mapping[str, Handler], message: Claimed) -> bool:
    """Run the message's handler in a savepoint; whether the message is done. A failure is
    recorded on the message, which stays pending until its attempts run out."""
    handler = handlers.get(message.topic)
    try:
        if handler is not None:  # an event nobody subscribes to is simply done
            with session.begin_nested():
                handler(session, message.payload)
    except OperationalError as exc:
        if exc.connection_invalidated:
            raise  # the database went away: the whole unit is lost, not this message
        if not is_transient(exc):
            _failed_attempt(session, message, exc)
            return False
        # Workers taking rows in different orders: the database chose this one to give way.
        # Its savepoint is undone; the message stays pending, without counting an attempt.
        log.warning("outbox message %s (%s) gave way to a lock conflict", message.id, message.topic)
        return False
    except Exception as exc:  # a bad message must not stop the batch behind it
        _failed_attempt(session, message, exc)
        return False
    return True


def _failed_attempt(session: Session, message: Claimed, exc: Exception) -> None:
    log.error("outbox message %s (%s) failed", message.id, message.topic, exc_info=exc)
    attempts = message.attempts + 1
    session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == message.id)
        .values(
            attempts=attempts,
            last_error=repr(exc)[:2000],
            status="failed" if attempts >= MAX_ATTEMPTS else "pending",
        )
    )


def _runs(batch: list[Claimed]) -> list[list[Claimed]]:
    """The batch cut into runs of consecutive messages of one topic."""
    runs: list[list[Claimed]] = []
    for message in batch:
        if runs and runs[-1][0].topic == message.topic:
            runs[-1].append(message)
        else:
            runs.append([message])
    return runs


def _apply_run(
    session: Session,
    handlers: Mapping[str, Handler],
    batch_handler: BatchHandler,
    run: list[Claimed],
) -> list[int]:
    """A run's work through its batch handler; what it leaves, and the whole run if it fails,
    goes through the one-message handler, each message on its own. Returns the done ids."""
    try:
        with session.begin_nested():
            left = batch_handler(session, [message.payload for message in run])
    except OperationalError as exc:
        if is_transient(exc):
            log.warning(
                "a run of %s %s messages gave way to a lock conflict", len(run), run[0].topic
            )
            return []
        log.warning("a run of %s messages failed as a batch", run[0].topic, exc_info=exc)
        left = set(range(len(run)))
    except Exception as exc:  # one at a time, so that a bad message fails alone
        log.warning("a run of %s messages failed as a batch", run[0].topic, exc_info=exc)
        left = set(range(len(run)))
    return [
        message.id
        for position, message in enumerate(run)
        if position not in left or _apply(session, handlers, message)
    ]


def process_batch(
    session: Session,
    handlers: Mapping[str, Handler],
    limit: int,
    batch_handlers: Mapping[str, BatchHandler] | None = None,
) -> int:
    """Apply one batch of pending messages in the caller's unit of work, in order; a run of
    messages of a topic with a batch handler goes through it. Returns how many were taken.
    The drain (loyalty.jobs.drain_now) commits after each batch."""
    batch = _claim_batch(session, limit)
    done: list[int] = []
    for run in _runs(batch):
        batch_handler = (batch_handlers or {}).get(run[0].topic)
        if batch_handler is not None and len(run) > 1:
            done.extend(_apply_run(session, handlers, batch_handler, run))
        else:
            done.extend(message.id for message in run if _apply(session, handlers, message))
    if done:
        session.execute(
            update(OUTBOX)
            .where(one_of(session, OUTBOX.c.id, done))
            .values(status="done", processed_at=utcnow())
        )
    return len(batch)


def has_stale_pending(session: Session, older_than: timedelta) -> bool:
    """Whether pending work exists that no dispatch has picked up in time."""
    cutoff = utcnow() - older_than
    stmt = select(
        exists().where(OutboxMessage.status == "pending", OutboxMessage.created_at <= cutoff)
    )
    return bool(session.scalar(stmt))

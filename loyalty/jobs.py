"""Job plumbing: RQ queues, jobs that declare how they run, dispatch after commit, the outbox
drain and its relay."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from flask import Flask, current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

from loyalty import outbox
from loyalty.extensions import db
from loyalty.unit_of_work import AnySession, unit_of_work

EVENTS_QUEUE = "events"
DEFAULT_QUEUE = "default"
DRAIN_FLAG = "loyalty:outbox:drain-queued"
DRAIN_JOB = "loyalty.jobs.drain_outbox"
DAY = 24 * 3600
IN_UNIT_BATCHES = 8
log = logging.getLogger(__name__)
_local = threading.local()
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class JobOptions:
    """How RQ runs a job function: its queue, how long it may run, how long its result and
    its failure are kept (seconds; a result_ttl of 0 keeps none), and its retries."""

    queue: str
    timeout: int
    result_ttl: int
    failure_ttl: int
    retry: Retry | None = None

    def rq_options(self, timeout: int | None = None) -> dict[str, Any]:
        """The options by RQ's names (`Queue.enqueue`, `rq.cron.register`), without retry."""
        return {
            "job_timeout": timeout or self.timeout,
            "result_ttl": self.result_ttl,
            "failure_ttl": self.failure_ttl,
        }


def job(
    queue: str, *, timeout: int, result_ttl: int, failure_ttl: int, retry: Retry | None = None
) -> Callable[[F], F]:
    """Declare how RQ runs the function, where it is defined; whoever enqueues or schedules
    it reads this. The function itself is returned, so its dotted path stays the job's name."""
    options = JobOptions(queue, timeout, result_ttl, failure_ttl, retry)

    def declare(fn: F) -> F:
        fn.job_options = options  # type: ignore[attr-defined]
        return fn

    return declare


def options_of(fn: Callable[..., Any]) -> JobOptions:
    return fn.job_options  # type: ignore[attr-defined]


def enqueue(connection: Redis, fn: Callable[..., Any], *args: Any) -> Job:
    """Enqueue `fn(*args)` as the function declares (`@job`)."""
    options = options_of(fn)
    queue = Queue(options.queue, connection=connection)
    return queue.enqueue(fn, *args, retry=options.retry, **options.rq_options())


def redis_connection(app: Flask) -> Redis | None:
    url = app.config.get("REDIS_URL")
    if not url:
        return None
    if "loyalty.redis" not in app.extensions:
        app.extensions["loyalty.redis"] = Redis.from_url(url, socket_timeout=5)
    return app.extensions["loyalty.redis"]


def handlers(app: Flask) -> dict[str, outbox.Handler]:
    return app.extensions.setdefault("loyalty.outbox_handlers", {})


def register_handler(app: Flask, topic: str, handler: outbox.Handler) -> None:
    handlers(app)[topic] = handler


def batch_handlers(app: Flask) -> dict[str, outbox.BatchHandler]:
    return app.extensions.setdefault("loyalty.outbox_batch_handlers", {})


def register_batch_handler(app: Flask, topic: str, handler: outbox.BatchHandler) -> None:
    """A handler for runs of the topic's messages at once (its one-message handler stays)."""
    batch_handlers(app)[topic] = handler


def periodic_tasks(app: Flask) -> dict[str, Callable[[Session], Any]]:
    return app.extensions.setdefault("loyalty.periodic", {})


def register_periodic(app: Flask, name: str, task: Callable[[Session], Any]) -> None:
    """A named task the scheduler runs (`rq cron loyalty.cron`), taking a session."""
    periodic_tasks(app)[name] = task


def enqueue_drain(app: Flask, *, force: bool = False) -> bool:
    """Ask a worker to drain the outbox; one queued drain at a time unless forced."""
    connection = redis_connection(app)
    assert connection is not None
    try:
        if not connection.set(DRAIN_FLAG, "1", nx=not force, ex=300) and not force:
            return False
        enqueue(connection, drain_outbox)
        return True
    except RedisError:
        log.warning("Redis unavailable; the outbox relay will dispatch pending work later")
        return False


def drain_now(app: Flask, limit: int | None = None) -> int:
    """Drain the outbox in this process (the embedded mode, and the worker job), `limit`
    messages per transaction (default: LOYALTY_OUTBOX_BATCH)."""
    if getattr(_local, "draining", False):
        return 0  # the running drain loops until nothing is pending
    _local.draining = True
    try:
        with Session(db.engine, expire_on_commit=False) as session:
            return _drain(session, app, limit or app.config["OUTBOX_BATCH"])
    finally:
        _local.draining = False


def process_in_unit(app: Flask, session: AnySession) -> bool:
    """In the embedded mode (no Redis), process the pending outbox work in the caller's unit
    of work, so that an answer built next shows its effect (a receipt's status and points),
    committed with it. With Redis the workers do it after the commit; a message still
    pending after a few batches (a lock conflict) is left to the drain after the commit.
    Whether any was processed here."""
    if app.config.get("REDIS_URL") or getattr(_local, "draining", False):
        return False
    _local.draining = True
    try:
        for _batch in range(IN_UNIT_BATCHES):
            taken = outbox.process_batch(
                session, handlers(app), app.config["OUTBOX_BATCH"], batch_handlers(app)
            )
            if not taken:
                return _batch > 0
    finally:
        _local.draining = False
    return True


def _drain(session: Session, app: Flask, limit: int) -> int:
    """Process batches, a unit of work each, until none is pending; the messages taken."""
    total = 0
    while True:
        with unit_of_work(session):
            taken = outbox.process_batch(session, handlers(app), limit, batch_handlers(app))
        if not taken:
            return total
        total += taken


@contextlib.contextmanager
def drains_deferred() -> Iterator[None]:
    """Inside: commits in this thread leave their outbox work to a drain the caller runs
    (a long command that drains in batches of its own, or in helper processes)."""
    _local.deferred = True
    try:
        yield
    finally:
        _local.deferred = False


def dispatch(app: Flask) -> None:
    if app.config.get("REDIS_URL"):
        enqueue_drain(app)
    elif not getattr(_local, "deferred", False):
        drain_now(app)


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint: the work is not committed yet
        return
    if session.info.pop(outbox.PENDING_FLAG, False) and has_app_context():
        try:
            dispatch(current_app._get_current_object())  # type: ignore[attr-defined]
        except SQLAlchemyError as exc:  # what was committed stands; its work stays pending
            log.warning("the outbox drain after a commit failed (%s); the relay retries", exc)


def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    if not previous.nested:  # a savepoint's rollback leaves the work recorded before it
        session.info.pop(outbox.PENDING_FLAG, None)


def init_app(app: Flask) -> None:
    """Dispatch outbox work after every commit that recorded some."""
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)


def with_app(fn: Callable[[Flask], Any]) -> Any:
    """Run in the current app, or build one from the environment (plain `rq worker`)."""
    if has_app_context():
        return fn(current_app._get_current_object())  # type: ignore[attr-defined]
    from loyalty.app import create_app

    app = create_app()
    with app.app_context():
        return fn(app)


@job(EVENTS_QUEUE, timeout=600, result_ttl=0, failure_ttl=DAY)
def drain_outbox() -> int:
    """RQ entry point: drain pending outbox work in batches."""

    def run(app: Flask) -> int:
        connection = redis_connection(app)
        if connection is not None:
            with contextlib.suppress(RedisError):
                connection.delete(DRAIN_FLAG)
        return drain_now(app)

    return with_app(run)


@job(EVENTS_QUEUE, timeout=180, result_ttl=0, failure_ttl=DAY)
def relay_outbox(min_age_seconds: int = 5) -> bool:
    """RQ/cron entry point: re-dispatch pending work that no drain has taken."""

    def run(app: Flask) -> bool:
        with Session(db.engine) as session:
            stale = outbox.has_stale_pending(session, timedelta(seconds=min_age_seconds))
        if not stale:
            return False
        if app.config.get("REDIS_URL"):
            return enqueue_drain(app, force=True)
        drain_now(app)
        return True

    return with_app(run)


# The timeout is the default; a task that may run longer is scheduled with its own (cron.py).
@job(DEFAULT_QUEUE, timeout=180, result_ttl=DAY, failure_ttl=7 * DAY)
def run_periodic(name: str) -> Any:
    """RQ/cron entry point: run a registered periodic task by name."""

    def run(app: Flask) -> Any:
        with Session(db.engine, expire_on_commit=False) as session:
            return periodic_tasks(app)[name](session)

    return with_app(run)

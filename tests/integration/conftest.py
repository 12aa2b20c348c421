"""Integration fixtures: a real Redis, real service and worker processes, and the books.

Redis is required: when it does not answer, these tests fail, they are never skipped.
LOYALTY_TEST_REDIS_URL picks the Redis database (default: database 2 on 127.0.0.1:6379),
which is emptied around every test that uses it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select

from loyalty import create_app
from loyalty.extensions import db
from members.models import Member
from rewards.models import JournalEntry, Posting, Transaction
from tests.integration.servers import (
    SECRET_KEY,
    Launcher,
    Process,
    Reply,
    free_port,
    http,
    service_env,
)

REDIS_URL = os.environ.get("LOYALTY_TEST_REDIS_URL", "redis://127.0.0.1:6379/2")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The shared Redis database for these tests, emptied before and after each."""
    connection = Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        connection.ping()
    except RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} does not answer ({exc}); start it to run these tests")
    connection.flushdb()
    yield REDIS_URL
    connection.flushdb()
    connection.close()


@pytest.fixture
def launcher(app: Flask, tmp_path: Path) -> Iterator[Launcher]:
    """Starts real processes; all are stopped before the test database is emptied."""
    started = Launcher(tmp_path)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def app_with_redis(database_url: str) -> Iterator[Callable[[str], Flask]]:
    """Build apps on the test database that hand work to RQ on the given Redis."""
    built: list[Flask] = []

    def build(redis_url: str) -> Flask:
        config = {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": SECRET_KEY,
        }
        built.append(create_app(config))
        return built[-1]

    yield build
    for app in built:
        with app.app_context():
            db.engine.dispose()


@dataclass
class PrivateRedis:
    """A redis-server of this test's own, which the test may stop and start again."""

    launcher: Launcher
    port: int = field(default_factory=free_port)  # its own, so suites can run side by side
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = self.launcher.redis(self.port)

    def stop(self) -> None:
        assert self.process is not None
        self.process.stop()


@pytest.fixture
def private_redis(launcher: Launcher) -> PrivateRedis:
    server = PrivateRedis(launcher)
    server.start()
    return server


@pytest.fixture(scope="session")
def service(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service as production runs it: gunicorn, several processes and threads, no Redis
    (receipts are processed in the request). Yields its base URL."""
    started = Launcher(tmp_path_factory.mktemp("service"))
    try:
        yield started.gunicorn(service_env(database_url), workers=3, threads=4)
    finally:
        started.close()


@pytest.fixture
def call() -> Callable[..., Reply]:
    return http


class Books:
    """Reads the ledger and the transactions straight from the database."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def _scalar(self, stmt: Any) -> Any:
        return self._rows(stmt)[0][0]

    def _rows(self, stmt: Any) -> list[Any]:
        """Read outside any transaction: on SQLite that takes no write lock, so polling
        the books never stalls a worker, nor waits behind one."""
        with self.app.app_context():
            sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
            raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(sql)
            return list(cursor.fetchall())
        finally:
            raw.close()

    def transactions(self, status: str) -> int:
        return self._scalar(
            select(func.count()).select_from(Transaction).where(Transaction.status == status)
        )

    def entries(self, kind: str) -> list[tuple[str, int, int]]:
        """(cause id, member id, points) of every journal entry of a kind."""
        stmt = select(JournalEntry.cause_id, JournalEntry.member_id, JournalEntry.points)
        return [tuple(row) for row in self._rows(stmt.where(JournalEntry.kind == kind))]

    def unbalanced(self) -> list[str]:
        """Every way the books disagree with themselves; empty when they are sound."""
        problems = [f"entry {e} postings sum to {s}" for e, s in self._entry_sums() if s != 0]
        members = self._rows(select(Member.id, Member.points_balance))
        sums = dict(
            self._rows(
                select(Posting.member_id, func.sum(Posting.points))
                .where(Posting.account == "member")
                .group_by(Posting.member_id)
            )
        )
        for member_id, balance in members:
            if balance != sums.get(member_id, 0):
                problems.append(f"member {member_id}: cached {balance} != postings")
        held = select(Transaction.id, Transaction.points_pending)
        pending = self._rows(held.where(Transaction.points_pending != 0))
        problems += [f"transaction {t}: {points} points still pending" for t, points in pending]
        return problems

    def _entry_sums(self) -> list[Any]:
        stmt = select(Posting.entry_id, func.sum(Posting.points)).group_by(Posting.entry_id)
        return self._rows(stmt)

    def balance(self, member_id: int) -> int:
        return self._scalar(select(Member.points_balance).where(Member.id == member_id))


@pytest.fixture
def books(app: Flask) -> Books:
    return Books(app)

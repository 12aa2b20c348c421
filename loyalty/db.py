"""Database plumbing: the declarative base, portable column types, dialect-specific
statements and the SQLite engine setup."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Integer,
    MetaData,
    Table,
    any_,
    bindparam,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction, scoped_session
from sqlalchemy.sql import ClauseElement, Executable, Select
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY, so big ids fall back to it there.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# The largest id either column holds; a larger one in a request names nothing.
MAX_ID = 2**63 - 1
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base shared by every package's models."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def configure_engine(engine: Engine) -> None:
    """Make a SQLite engine behave as the app needs: the pragmas a server would imply on
    every connection, and transactions that take the write lock when they begin. Only the
    engines given here (the app's own) change; other engines in the process stay as built."""
    if engine.dialect.name != "sqlite" or event.contains(engine, "connect", _sqlite_on_connect):
        return
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_begin_immediate)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Let SQLAlchemy issue BEGIN itself, and set the pragmas a server would imply."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    """Take SQLite's write lock up front: a deferred BEGIN fails contended writes."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_postgres(session: Any) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def dialect_insert(session: Any, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` in the session's dialect, the one with `on_conflict_do_nothing`,
    `on_conflict_do_update` and `excluded` (both dialects spell them alike)."""
    insert = postgresql.insert if is_postgres(session) else sqlite.insert
    return insert(table)


def one_of(session: Any, column: Any, values: Iterable[Any]) -> Any:
    """`column IN values`. On PostgreSQL it is `column = ANY(:array)`, one parameter: psycopg
    prepares a statement run often, and the generic plan of a long IN list of parameters was
    seen searching a two-column index by its first column alone (0.2 s instead of 1 ms)."""
    values = list(values)
    if is_postgres(session):
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """Ids for `count` rows the caller inserts into `table` in this transaction, so that a
    bulk insert needs no RETURNING (psycopg's pipelined executemany of one short statement
    is several times faster than a multi-row INSERT … RETURNING). On PostgreSQL they come from
    the id's sequence; on SQLite, whose write lock the transaction holds from its start, they
    follow the largest id, or the ids reserved before in this transaction, so the caller
    inserts them before anything else is inserted into the table."""
    if count <= 0:
        return []
    if is_postgres(session):
        stmt = text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
        )
        return list(session.scalars(stmt, {"table": table.name, "n": count}))
    key = f"loyalty.db.reserved.{table.name}"
    current = transaction_of(session)
    held = session.info.get(key)
    after = held[1] if held is not None and held[0] is current else 0
    first = max(session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0, after) + 1
    session.info[key] = (transaction_of(session), first + count - 1)
    return list(range(first, first + count))


class CreateTempTableAs(Executable, ClauseElement):
    """`CREATE TEMP TABLE name AS <select>`: on PostgreSQL the select may run in parallel,
    which it may not inside an INSERT … SELECT. Drop the table before the transaction ends."""

    inherit_cache = False

    def __init__(self, name: str, query: Select[Any]) -> None:
        self.name = name
        self.query = query


@compiles(CreateTempTableAs)
def _create_temp_table_as(element: CreateTempTableAs, compiler: Any, **kw: Any) -> str:
    query = compiler.process(element.query, **kw)
    return f"CREATE TEMP TABLE {compiler.preparer.quote(element.name)} AS {query}"


T = TypeVar("T")


def transaction_of(session: Session | scoped_session[Session]) -> SessionTransaction | None:
    """The session's current transaction (for a scoped session, its current session's)."""
    real = session() if isinstance(session, scoped_session) else session
    return real.get_transaction()


def per_transaction(
    session: Session | scoped_session[Session], key: str, load: Callable[[], T]
) -> T:
    """A value read once per database transaction (a batch of work reads it once)."""
    current = transaction_of(session)
    held = session.info.get(key)
    if held is not None and current is not None and held[0] is current:
        return held[1]
    value = load()
    current = current or transaction_of(session)  # the load may have begun it
    if current is not None:
        session.info[key] = (current, value)
    return value

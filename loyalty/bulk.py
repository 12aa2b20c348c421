"""Many rows written by one statement (the set-based engine, imports).

On PostgreSQL the rows travel as one array per column, turned back into rows by `unnest`:
one short statement with a parameter per column, run by the server as a set. A pipelined
executemany runs its statement once per row, which measured 2 to 3.5 times slower for rows of
numbers, text and times, and a multi-row VALUES list is a statement psycopg must rewrite at
every call. Rows with a JSON value are the exception (arrays of JSON text measured 1.4 times
slower than an executemany; tried again on the POS pull, where receipts carry their lines as
JSON, the pull fell from 2,560 to 2,060–2,210 receipts/s: psycopg quotes each document into the
array literal), as is SQLite, whose driver runs in-process: they go as an executemany.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Table, bindparam, column, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, FromClause

from loyalty.db import dialect_insert, is_postgres

Row = Mapping[str, Any]
# the new values of an update or upsert, given the incoming row's columns by name
Changes = Callable[[Mapping[str, ColumnElement[Any]]], Mapping[str, Any]]


def _as_arrays(session: Session, table: Table, names: Sequence[str]) -> bool:
    return is_postgres(session) and not any(isinstance(table.c[n].type, JSON) for n in names)


def _unnest(table: Table, names: Sequence[str], rows: Sequence[Row]) -> FromClause:
    """The rows as a derived table `v` with the table's column names and types."""
    arrays, columns = [], []
    for name in names:
        values = [row[name] for row in rows]
        kind = table.c[name].type
        arrays.append(bindparam(f"v_{name}", values, type_=ARRAY(kind)))
        columns.append(column(name, kind))
    return func.unnest(*arrays).table_valued(*columns).render_derived(name="v")


def _filled(table: Table, rows: Sequence[Row]) -> list[dict[str, Any]]:
    """The rows with the Python-side defaults of the columns they leave out (evaluated once
    for the batch: an INSERT … SELECT does not run them)."""
    missing = [c for c in table.columns if c.name not in rows[0] and c.default is not None]
    defaults = {}
    for col in missing:
        default: Any = col.default
        if default.is_scalar:
            defaults[col.name] = default.arg
        elif default.is_callable:
            defaults[col.name] = default.arg(None)
    return [{**defaults, **row} for row in rows]


def insert_rows(session: Session, table: Table, rows: Sequence[Row]) -> None:
    """INSERT the rows (each with the same keys)."""
    if not rows:
        return
    filled = _filled(table, rows) if is_postgres(session) else []
    names = list(filled[0]) if filled else []
    if not filled or not _as_arrays(session, table, names):
        session.execute(insert(table), list(rows))
        return
    source = _unnest(table, names, filled)
    session.execute(insert(table).from_select(names, select(*source.c)))


def update_rows(
    session: Session, table: Table, key: str, rows: Sequence[Row], changes: Changes
) -> None:
    """UPDATE the row of `table` whose `key` column equals each row's `key` (one row per key),
    setting what `changes` makes of the row's other values."""
    if not rows:
        return
    names = list(rows[0])
    if _as_arrays(session, table, names):
        source = _unnest(table, names, rows)
        stmt = update(table).where(table.c[key] == source.c[key]).values(**changes(source.c))
        session.execute(stmt)
        return
    params = {name: bindparam(f"v_{name}", type_=table.c[name].type) for name in names}
    stmt = update(table).where(table.c[key] == params[key]).values(**changes(params))
    session.execute(stmt, [{f"v_{k}": v for k, v in row.items()} for row in rows])


def upsert_rows(
    session: Session, table: Table, keys: Sequence[str], rows: Sequence[Row], changes: Changes
) -> None:
    """INSERT the rows (one per key); one whose `keys` are taken updates that row with what
    `changes` makes of the table's columns and the row's values (`excluded`)."""
    if not rows:
        return
    names = list(rows[0])
    arrays = _as_arrays(session, table, names)
    if arrays:
        source = _unnest(table, names, rows)
        stmt = pg_insert(table).from_select(names, select(*source.c))
    else:
        stmt = dialect_insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_=changes({n: stmt.excluded[n] for n in names})
    )
    session.execute(stmt, None if arrays else list(rows))

"""The unit of work: one transaction per use case, committed once by the edge that owns it.

Services add, flush and lock; they never commit or roll back, so two services called in one
unit commit or roll back together. Where one step may fail on a duplicate key (a concurrent
enrolment, receipt or claim), the service runs that step in a savepoint
(`with session.begin_nested():`), so only the step is undone and the unit goes on.

The edges commit:

- **HTTP views, all of them, without saying so.** `create_app` calls `init_app(app)` after the
  blueprints are registered; it wraps every view function in a unit of work on `db.session`.
  An answer with a status below 400 is committed; any other answer, or an exception, rolls
  the unit back (and the error handlers then answer as before). A view never commits.
- **Jobs, periodic tasks and CLI commands** open `with unit_of_work(session):` for each unit
  they own; a batch job commits once per batch (the loop over batches lives at the edge).

A unit opened inside another on the same session joins it: only the outermost one commits.

`keep_on_failure(session, work)` is for work that must outlive a rolled-back unit, such as a
counted attempt toward a rate limit: the work runs in the unit, and if the unit rolls back it
runs again in a short transaction of its own, which is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from http import HTTPStatus
from typing import Any, TypeVar

from flask import Flask, Response, make_response
from sqlalchemy.orm import Session, scoped_session

from loyalty.db import is_postgres
from loyalty.extensions import db

AnySession = Session | scoped_session[Session]
T = TypeVar("T")
DEPTH = "loyalty.unit_of_work.depth"
KEPT = "loyalty.unit_of_work.kept"
log = logging.getLogger(__name__)


@contextmanager
def unit_of_work(session: AnySession | None = None) -> Iterator[AnySession]:
    """Commit `session` (default `db.session`) once when the block ends; roll back if it
    raises, then keep what `keep_on_failure` asked to keep."""
    session = db.session if session is None else session
    depth = session.info.get(DEPTH, 0)
    session.info[DEPTH] = depth + 1
    try:
        yield session
        if depth == 0:
            session.commit()
            session.info.pop(KEPT, None)
    except BaseException:
        if depth == 0:
            _roll_back(session)
        raise
    finally:
        session.info[DEPTH] = depth


def keep_on_failure(session: AnySession, work: Callable[[AnySession], T]) -> T:
    """Run `work(session)` in the current unit; if the unit rolls back, run it again in a
    transaction of its own and commit that. Returns what the first run returned."""
    result = work(session)
    session.info.setdefault(KEPT, []).append(work)
    return result


def read_at_one_moment(session: AnySession) -> None:
    """End what the session has read so far and read the rest of the unit of work from one
    snapshot (REPEATABLE READ on PostgreSQL; SQLite reads one snapshot per transaction). For a
    report whose reads must agree with each other; it writes nothing before this."""
    session.rollback()
    if is_postgres(session):
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _roll_back(session: AnySession) -> None:
    kept = session.info.pop(KEPT, [])
    session.rollback()
    if not kept:
        return
    try:
        for work in kept:
            work(session)
        session.commit()
    except Exception:  # the unit's own failure is the one to report
        session.rollback()
        log.exception("work kept past a rolled-back unit of work was lost")


class _Unsuccessful(Exception):
    """An answer of 400 or more: its unit is rolled back, the answer still given."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def in_unit_of_work(view: Callable[..., Any]) -> Callable[..., Response]:
    """A view run in one unit of work: committed when it answers below 400."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            with unit_of_work():
                response = make_response(view(*args, **kwargs))
                if response.status_code >= HTTPStatus.BAD_REQUEST:
                    raise _Unsuccessful(response)
        except _Unsuccessful as unsuccessful:
            return unsuccessful.response
        return response

    return wrapper


def init_app(app: Flask) -> None:
    """Run every view registered so far in a unit of work (call it after the blueprints)."""
    for endpoint, view in list(app.view_functions.items()):
        if endpoint != "static":
            app.view_functions[endpoint] = in_unit_of_work(view)

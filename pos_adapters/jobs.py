"""POS syncs as jobs: a run carried out by a worker, and the periodic task that starts the
runs that are due."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.jobs import DAY, DEFAULT_QUEUE, enqueue, job, redis_connection, with_app
from loyalty.unit_of_work import AnySession, unit_of_work
from pos_adapters.sync import SyncSettings, due_sources, execute_run, request_run, run_view


@job(DEFAULT_QUEUE, timeout=3600, result_ttl=DAY, failure_ttl=7 * DAY)
def sync_run(run_id: int) -> dict[str, Any] | None:
    """RQ entry point: carry out a queued sync run."""

    def run(app: Flask) -> dict[str, Any] | None:
        with Session(db.engine, expire_on_commit=False) as session:
            done = execute_run(session, run_id, SyncSettings.from_config(app.config))
            return run_view(done) if done is not None else None

    return with_app(run)


def start_runs(app: Flask, run_ids: list[int]) -> None:
    """Hand committed runs to the workers, or carry them out here without Redis."""
    connection = redis_connection(app)
    for run_id in run_ids:
        if connection is not None:
            enqueue(connection, sync_run, run_id)
        else:
            with Session(db.engine, expire_on_commit=False) as session:
                execute_run(session, run_id, SyncSettings.from_config(app.config))


def sync_due_sources(session: AnySession) -> dict[str, int]:
    """The periodic task: a run for each enabled source whose poll interval has passed."""
    with unit_of_work(session):
        run_ids = [
            request_run(session, source_id, None, "schedule").id
            for source_id in due_sources(session, utcnow())
        ]
    start_runs(current_app._get_current_object(), run_ids)  # type: ignore[attr-defined]
    return {"runs": len(run_ids)}

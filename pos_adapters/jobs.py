"""POS syncs as jobs: a run carried out page by page, a unit of work per page (by a worker, the
CLI, or an in-process request), and the periodic task that starts the runs that are due."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Flask, current_app
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.jobs import DAY, DEFAULT_QUEUE, enqueue, job, redis_connection, with_app
from loyalty.unit_of_work import AnySession, unit_of_work
from pos_adapters.models import PosSyncRun
from pos_adapters.recording import Counts
from pos_adapters.secrets import SecretUnreadable
from pos_adapters.sources import get_source
from pos_adapters.sync import (
    SyncSettings,
    client_for,
    due_sources,
    finish_run,
    record_page,
    request_run,
    run_view,
    start_run,
    target_for,
)
from pos_adapters.vendor import Page, Unreadable, VendorClient, VendorReceipt
from pos_adapters.vendor_http import VendorError


@job(DEFAULT_QUEUE, timeout=3600, result_ttl=DAY, failure_ttl=7 * DAY)
def sync_run(run_id: int) -> dict[str, Any] | None:
    """RQ entry point: carry out a queued sync run."""

    def run(app: Flask) -> dict[str, Any] | None:
        with Session(db.engine, expire_on_commit=False) as session:
            done = execute_run(session, run_id, SyncSettings.from_config(app.config))
            return run_view(done) if done is not None else None

    return with_app(run)


def execute_run(session: AnySession, run_id: int, settings: SyncSettings) -> PosSyncRun | None:
    """Carry out a queued run (`run_pages`) and return it."""
    for _counts in run_pages(session, run_id, settings):
        pass
    return session.get(PosSyncRun, run_id)


def run_pages(session: AnySession, run_id: int, settings: SyncSettings) -> Iterator[Counts]:
    """Carry out a queued run page by page, each page and the cursor after it committed
    together; yields each page's counts. A run that is not queued any more yields nothing."""
    with unit_of_work(session):
        run = start_run(session, run_id, utcnow())
    if run is None:
        return
    error: str | None = "the run stopped unexpectedly"
    try:
        error = yield from _pull(session, run, settings)
    finally:
        with unit_of_work(session):
            finish_run(session, run, error)


def _pull(session: AnySession, run: PosSyncRun, settings: SyncSettings) -> Iterator[Counts]:
    """The pages of the run; returns the error that ended it, if one did."""
    try:
        with unit_of_work(session):
            source = get_source(session, run.source_id)
            client = client_for(source, settings)
            target = target_for(session, source, settings, client)
            cursor = None if run.since else source.cursor
        while True:
            page = _pages(client, cursor, run.since, settings.commit_receipts)
            with unit_of_work(session):
                counts = record_page(session, run, target, page)
            yield counts
            cursor = page.cursor
            if not page.more:
                return None
    except (VendorError, SecretUnreadable) as exc:
        return str(exc)[:2000]


def _pages(client: VendorClient, cursor: str | None, since: Any, at_least: int) -> Page:
    """The next pages, as one, until they hold `at_least` receipts or the last page came: a
    unit of work records them with the cursor after the last (nothing is held open while the
    vendor answers)."""
    receipts: list[VendorReceipt | Unreadable] = []
    while True:
        page = client.fetch_page(cursor, since)
        receipts += page.receipts
        cursor = page.cursor
        if not page.more or len(receipts) >= at_least:
            return Page(receipts, cursor, page.more)


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

"""`flask pos sync`: pull POS sources in the foreground, with a progress bar."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, datetime

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from loyalty import jobs
from loyalty.drain_helpers import helper_drains, workers_option
from loyalty.extensions import db
from loyalty.unit_of_work import unit_of_work
from pos_adapters import sources
from pos_adapters.jobs import run_pages
from pos_adapters.models import PosSyncRun
from pos_adapters.recording import Counts
from pos_adapters.sync import SyncSettings, request_run

pos_cli = AppGroup("pos", help="POS sources: pull their receipts.")


@pos_cli.command("sync")
@click.option("--source", "source_id", type=click.IntRange(1), help="One source (default: all).")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    help="Backfill from this instant (ISO 8601; UTC unless it names an offset).",
)
@workers_option
def sync_command(source_id: int | None, since: datetime | None, workers: int) -> None:
    """Pull receipts now; ends with `N fetched, N recorded, N already there, N rejected`."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = SyncSettings.from_config(app.config)
    total, errors = Counts(), []
    helpers = workers - 1 if not app.config.get("REDIS_URL") else 0
    with (
        jobs.drains_deferred() if helpers else nullcontext(),
        helper_drains(app, helpers, app.config["OUTBOX_BATCH"]),
        Session(db.engine, expire_on_commit=False) as session,
    ):
        with unit_of_work(session):
            ids = [source_id] if source_id else [s.id for s in sources.list_sources(session)]
            runs = [request_run(session, i, _utc(since), "cli").id for i in ids]
        for run_id in runs:
            with click.progressbar(
                run_pages(session, run_id, settings),
                label=f"Pulling source {ids[runs.index(run_id)]}",
                item_show_func=lambda c: c and f"{c.fetched} receipts",
            ) as pages:
                for counts in pages:  # each page's receipts go to the engine on commit
                    total.add(counts)
            run = session.get(PosSyncRun, run_id)
            if run is not None and run.error:
                errors.append(f"source {run.source_id}: {run.error}")
    if helpers:
        jobs.drain_now(app)  # what the helpers left, if anything
    for error in errors:
        click.echo(error, err=True)
    click.echo(
        f"{total.fetched} fetched, {total.recorded} recorded, "
        f"{total.already_there} already there, {total.rejected} rejected"
    )
    if errors:
        raise SystemExit(1)


def _utc(since: datetime | None) -> datetime | None:
    if since is None:
        return None
    return since if since.tzinfo else since.replace(tzinfo=UTC)

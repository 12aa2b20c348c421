"""`flask import receipts FILE.csv --store CODE [--enrol-unknown]`: receipt history from CSV.

Exit codes: 0 when every receipt was recorded or was already there, 1 when any line was
rejected (the good receipts are recorded all the same), 2 when nothing could be read (no such
file or store, a missing column).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from loyalty import jobs
from loyalty.db import utcnow
from loyalty.drain_helpers import helper_drains, workers_option
from loyalty.errors import DomainError
from loyalty.extensions import db
from loyalty.staff import store_by_code
from loyalty.unit_of_work import unit_of_work
from members.api import code_policy
from pos_adapters import csv_import
from pos_adapters.ingestion import Source

import_cli = AppGroup("import", help="History from other systems.")


def _source(app: Flask, store_code: str) -> Source:
    try:
        store = store_by_code(db.session, store_code)
    except DomainError as error:
        raise click.BadParameter(error.detail, param_hint="--store") from error
    return Source(
        store_id=store.id,
        terminal_id=None,
        currency=app.config["CURRENCY"],
        code_policy=code_policy(),
        now=utcnow(),
        adapter="csv",
    )


def _read(path: Path, timezone: str) -> csv_import.Reading:
    with path.open(encoding="utf-8-sig", newline="") as file:
        try:
            return csv_import.read_receipts(csv_import.rows_of(file), timezone)
        except (DomainError, UnicodeDecodeError, csv.Error) as error:
            raise click.BadParameter(str(error), param_hint="FILE") from error


def _report(summary: csv_import.Summary, seconds: float) -> None:
    click.echo(
        f"{summary.accepted} receipts recorded, {summary.replayed} already there, "
        f"{summary.rejected} rejected; {summary.enrolled} members enrolled; {seconds:.1f} s."
    )
    for rejection in summary.rejections:
        click.echo(f"  {rejection}")


def _import(
    reading: csv_import.Reading, target: csv_import.Target, after_batch: Callable[[int], None]
) -> csv_import.Summary:
    """Record the file's receipts, oldest first, a unit of work per batch, calling
    `after_batch` after each (the outbox is drained there)."""
    summary = csv_import.Summary(
        rejected=reading.rejected_receipts, rejections=list(reading.rejections)
    )
    first_seen = csv_import.first_purchases(reading)
    for batch in csv_import.batches(reading, target.batch_size):
        with unit_of_work():
            csv_import.import_batch(db.session, batch, target, first_seen, summary)
        after_batch(len(batch))
    summary.rejections.sort(key=lambda r: r.line)
    return summary


@import_cli.command("receipts")
@click.argument(
    "path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--store", "store_code", required=True, help="Code of the store they belong to.")
@click.option(
    "--enrol-unknown", is_flag=True, help="Enrol a member for each customer_ref not known yet."
)
@click.option(
    "--batch", "batch_size", default=2000, show_default=True, type=click.IntRange(1, 5000)
)
@workers_option
def import_receipts(
    path: Path, store_code: str, enrol_unknown: bool, batch_size: int, workers: int
) -> None:
    """Record receipt history from a CSV file, one row per line item (docs/IMPORT.md)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    started = time.perf_counter()
    target = csv_import.Target(_source(app, store_code), enrol_unknown, batch_size)
    db.session.close()  # the store is read: hold no lock while the file is read
    reading = _read(path, app.config["TIMEZONE"])
    with (
        click.progressbar(length=len(reading.receipts), label="Importing receipts") as bar,
        jobs.drains_deferred(),
        helper_drains(app, workers - 1, batch_size),
    ):

        def recorded(count: int) -> None:
            if workers == 1:
                jobs.drain_now(app, batch_size)  # the engine processes each batch here
            bar.update(count)

        summary = _import(reading, target, recorded)
    jobs.drain_now(app, batch_size)  # what the helpers left, if anything
    _report(summary, time.perf_counter() - started)
    if summary.rejected:
        raise SystemExit(1)

"""`flask analytics …`: keep the rollups and check them against the ledger."""

from __future__ import annotations

import time
from datetime import date, timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from loyalty.extensions import db
from loyalty.settings import get_setting
from loyalty.staff import store_by_code
from loyalty.unit_of_work import read_at_one_moment
from rewards.analytics import jobs, rollups
from rewards.analytics.periods import window
from rewards.analytics.program import Scope
from rewards.analytics.report import program_report, recounted_report
from rewards.jobs import program_today

analytics_cli = AppGroup("analytics", help="Program analytics rollups.")


@analytics_cli.command("roll-up")
@click.option("--rebuild", is_flag=True, help="Empty the rollups and count everything again.")
@click.option("--every", type=click.IntRange(min=1), default=None, help="Repeat every N seconds.")
def roll_up(rebuild: bool, every: int | None) -> None:
    """Add to the rollups everything recorded up to now (or count them all again)."""
    timezone = current_app.config["TIMEZONE"]
    if rebuild:
        steps = rollups.rebuild_steps(db.session)
        with click.progressbar(length=steps, label="Counting the rollups again") as bar:
            _said(jobs.rebuild(db.session, timezone, bar.update))
    while True:
        if not rebuild:
            # a loop beside a running service keeps the lag; a single run takes all there is
            _said(jobs.roll_up(db.session, timezone, rollups.LAG if every else timedelta(0)))
        if every is None:
            return
        time.sleep(every)
        rebuild = False


def _said(got: dict[str, int]) -> None:
    click.echo(
        f"rollups took in {got['entries']:,} ledger entries and {got['sales']:,} receipts;"
        f" {got['members']:,} members counted again"
    )


@analytics_cli.command("check")
@click.option("--from", "first", default=None, help="First day, YYYY-MM-DD (default: 2 years).")
@click.option("--to", "last", default=None, help="Last day, YYYY-MM-DD (default: today).")
@click.option("--store", default=None, help="A store's code (default: the whole program).")
def check(first: str | None, last: str | None, store: str | None) -> None:
    """Compare the report read from the rollups with one counted from the ledger itself."""
    timezone = current_app.config["TIMEZONE"]
    today = program_today(timezone)
    to = date.fromisoformat(last) if last else today
    since = date.fromisoformat(first) if first else to - timedelta(days=730)
    store_id = store_by_code(db.session, store).id if store else None
    days = int(get_setting(db.session, "active_days")["days"])
    scope = Scope(window(since, to, today, timezone), store_id, days)
    read_at_one_moment(db.session)
    rolled, counted = program_report(db.session, scope), recounted_report(db.session, scope)
    differences = [k for k in counted if rolled[k] != counted[k]]
    for key in differences:
        click.echo(f"{key}: rollups {rolled[key]!r}\n{' ' * len(key)}  ledger  {counted[key]!r}")
    if differences:
        raise SystemExit(1)
    click.echo(f"rollups agree with the ledger from {since} to {to}")

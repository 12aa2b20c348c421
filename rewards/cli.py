"""`flask points …`: ledger commands."""

from __future__ import annotations

from datetime import UTC, date, datetime

import click
from flask import current_app
from flask.cli import AppGroup

from loyalty.db import utcnow
from loyalty.extensions import db
from rewards.jobs import expire_points, program_today
from rewards.jobs import run_daily as run_daily_events

points_cli = AppGroup("points", help="The points ledger.")


@points_cli.command("expire")
@click.option("--at", "at", default=None, help="Expire as of this ISO time (default: now).")
def expire(at: str | None) -> None:
    """Expire the points whose lots are past their date."""
    when = datetime.fromisoformat(at) if at else utcnow()
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    click.echo(f"{expire_points(db.session, when)} points expired")


events_cli = AppGroup("events", help="Campaign events.")


@events_cli.command("run-daily")
@click.option(
    "--date", "day", default=None, help="The program day, YYYY-MM-DD (default: today there)."
)
def run_daily(day: str | None) -> None:
    """Emit the day's birthday, inactivity and expiring-points events (once per day)."""
    timezone = current_app.config["TIMEZONE"]
    try:
        when = date.fromisoformat(day) if day else program_today(timezone)
    except ValueError as exc:
        raise click.BadParameter("use YYYY-MM-DD", param_hint="--date") from exc
    counts = run_daily_events(db.session, when, timezone)
    if not counts:
        click.echo(f"{when}: no active campaign listens to daily events")
    for label, count in counts.items():
        click.echo(f"{when} {label}: {count} events emitted")

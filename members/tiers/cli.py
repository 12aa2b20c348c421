"""`flask tiers …`: tier reviews."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import AppGroup

from loyalty.db import utcnow
from loyalty.extensions import db
from members.tiers.jobs import review_due

tiers_cli = AppGroup("tiers", help="Member tiers.")


def _when(at: str | None) -> datetime:
    if at is None:
        return utcnow()
    try:
        when = datetime.fromisoformat(at)
    except ValueError as exc:
        raise click.BadParameter("use an ISO time such as 2027-01-01T00:00:00+07:00") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@tiers_cli.command("review")
@click.option("--at", "at", default=None, help="Review as of this ISO time (default: now).")
def review(at: str | None) -> None:
    """Review the members whose tier review is due: keep, lower or raise their tier."""
    run = review_due(db.session, _when(at), current_app.config["TIMEZONE"])
    click.echo(
        f"{run.reviewed} reviews done, {run.changed} tiers changed, "
        f"{run.scheduled} reviews scheduled"
    )

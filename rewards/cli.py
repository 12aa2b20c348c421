"""`flask points …`: ledger commands."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from loyalty.db import utcnow
from loyalty.extensions import db
from rewards.expiry import expire_points

points_cli = AppGroup("points", help="The points ledger.")


@points_cli.command("expire")
@click.option("--at", "at", default=None, help="Expire as of this ISO time (default: now).")
def expire(at: str | None) -> None:
    """Expire the points whose lots are past their date."""
    when = datetime.fromisoformat(at) if at else utcnow()
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    click.echo(f"{expire_points(db.session, when)} points expired")

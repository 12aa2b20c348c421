"""`flask segments refresh`: bring the segments' members up to date with their rules."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.unit_of_work import unit_of_work
from members.segments import jobs
from members.segments import service as segments

segments_cli = AppGroup("segments", help="Member segments.")


@segments_cli.command("refresh")
@click.option("--id", "segment_id", type=int, default=None, help="Only this segment.")
def refresh_segments(segment_id: int | None) -> None:
    """Bring every segment's members (or one segment's) up to date with its rule."""
    timezone = current_app.config["TIMEZONE"]
    if segment_id is None:
        done = jobs.refresh_segments(db.session, timezone=timezone)
    else:
        try:
            with unit_of_work():
                one = segments.refresh_segment(db.session, segment_id, utcnow(), timezone)
        except segments.UnknownSegment as exc:
            raise click.BadParameter(exc.detail, param_hint="--id") from exc
        done = {"segments": 1, "entered": one.entered, "left": one.left}
    click.echo(
        f"{done['segments']} segment(s) refreshed: {done['entered']} members entered, "
        f"{done['left']} left"
    )

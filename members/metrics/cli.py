"""`flask profiles refresh`, `flask segments refresh` and `flask clv fit`: the profile scores,
the segments' members and the lifetime value model."""

from __future__ import annotations

from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup

from loyalty.db import utcnow
from loyalty.extensions import db
from members import clv, clv_service, metrics, segments
from members.activity import program_day

profiles_cli = AppGroup("profiles", help="Member profile scores.")
clv_cli = AppGroup("clv", help="Customer lifetime value.")
segments_cli = AppGroup("segments", help="Member segments.")


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter("use YYYY-MM-DD", param_hint=option) from exc


def _today() -> date:
    return program_day(utcnow(), current_app.config["TIMEZONE"])


@profiles_cli.command("refresh")
@click.option("--as-of", "as_of", default=None, help="The program day (default: today).")
def refresh(as_of: str | None) -> None:
    """Recompute every member's rolling spend, favourites and RFM scores."""
    today = _day(as_of, "--as-of") or _today()
    count = metrics.refresh_profiles(db.session, today, utcnow())
    click.echo(f"{count} member profiles refreshed as of {today}")


@segments_cli.command("refresh")
@click.option("--id", "segment_id", type=int, default=None, help="Only this segment.")
def refresh_segments(segment_id: int | None) -> None:
    """Bring every segment's members (or one segment's) up to date with its rule."""
    timezone = current_app.config["TIMEZONE"]
    if segment_id is None:
        done = segments.refresh_segments(db.session, timezone=timezone)
    else:
        try:
            one = segments.refresh_segment(db.session, segment_id, utcnow(), timezone)
        except segments.UnknownSegment as exc:
            raise click.BadParameter(exc.detail, param_hint="--id") from exc
        done = {"segments": 1, "entered": one.entered, "left": one.left}
    click.echo(
        f"{done['segments']} segment(s) refreshed: {done['entered']} members entered, "
        f"{done['left']} left"
    )


@clv_cli.command("fit")
@click.option("--as-of", "as_of", default=None, help="Calibration end (default: today).")
@click.option(
    "--calibration-start", "start", default=None, help="Calibration start (default: all history)."
)
def fit(as_of: str | None, start: str | None) -> None:
    """Fit BG/NBD and Gamma-Gamma on the purchase days, then predict for every member."""
    end = _day(as_of, "--as-of") or _today()
    first = _day(start, "--calibration-start")
    if first is not None and first > end:
        raise click.BadParameter("must not be after --as-of", param_hint="--calibration-start")
    try:
        model = clv_service.fit_clv(db.session, end, first, utcnow())
    except clv.NotEnoughHistory as exc:
        raise click.ClickException(f"Cannot fit a lifetime value model: {exc}.") from exc
    params = " ".join(f"{name}={model.params[name]}" for name in clv_service.PARAMS)
    click.echo(
        f"CLV model {model.id} fitted on {model.members} members ({model.repeat_buyers} repeat "
        f"buyers), {model.calibration_start} to {model.calibration_end}, "
        f"in {model.fit_seconds} s"
    )
    click.echo(params)
    if not model.params["converged"]:
        click.echo("Warning: the fit did not converge; more history gives steadier figures.")

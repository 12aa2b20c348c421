"""`flask profiles refresh` and `flask clv fit`: the profile scores and the lifetime value model."""

from __future__ import annotations

from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup

from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.unit_of_work import unit_of_work
from members.metrics import clv
from members.metrics import clv_fit as clv_service
from members.metrics import service as metrics
from members.metrics.activity import program_day

profiles_cli = AppGroup("profiles", help="Member profile scores.")
clv_cli = AppGroup("clv", help="Customer lifetime value.")


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
    with unit_of_work():
        count = metrics.refresh_profiles(db.session, today, utcnow())
    click.echo(f"{count} member profiles refreshed as of {today}")


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
        with unit_of_work():
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

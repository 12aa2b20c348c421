"""Profile metrics: purchase activity, rolling spend, favourites, RFM scores and lifetime value."""

from __future__ import annotations

from functools import partial

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from loyalty.jobs import register_periodic
    from members.metrics import api as metrics_api
    from members.metrics import cli, jobs

    api.register_blueprint(metrics_api.blp)
    app.cli.add_command(cli.profiles_cli)
    app.cli.add_command(cli.clv_cli)
    timezone = app.config["TIMEZONE"]
    register_periodic(app, "refresh_profiles", partial(jobs.refresh_today, timezone=timezone))
    register_periodic(app, "fit_clv", partial(jobs.fit_today, timezone=timezone))

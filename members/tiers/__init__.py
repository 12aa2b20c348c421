"""Tiers: the policy in versions, moving members up and down the ladder, their progress."""

from __future__ import annotations

from functools import partial

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from loyalty.jobs import register_periodic
    from members.tiers import api as tiers_api
    from members.tiers import cli, jobs

    api.register_blueprint(tiers_api.blp)
    app.cli.add_command(cli.tiers_cli)
    timezone = app.config["TIMEZONE"]
    register_periodic(app, "review_tiers", partial(jobs.review_due_now, timezone=timezone))

"""Points ledger, earning and redemption, the rewards catalog and vouchers."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from loyalty.jobs import register_periodic
    from rewards import api as rewards_api
    from rewards import cli, jobs

    api.register_blueprint(rewards_api.blp)
    register_periodic(app, "expire_points", jobs.expire_due_points)
    app.cli.add_command(cli.points_cli)

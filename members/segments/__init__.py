"""Segments: named rules over profile facts, compiled to SQL, whose members are kept up to date."""

from __future__ import annotations

from functools import partial

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from loyalty.jobs import register_periodic
    from members.segments import api as segments_api
    from members.segments import cli, jobs

    api.register_blueprint(segments_api.blp)
    app.cli.add_command(cli.segments_cli)
    timezone = app.config["TIMEZONE"]
    register_periodic(app, "refresh_segments", partial(jobs.refresh_segments, timezone=timezone))

"""Campaign messages to members: consent, frequency cap, quiet hours, templates per locale."""

from __future__ import annotations

from functools import partial

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from loyalty.jobs import register_periodic
    from loyalty.message_jobs import send_configured
    from members.messaging import api as templates_api

    api.register_blueprint(templates_api.blp)
    register_periodic(app, "send_messages", partial(send_configured, app.config))

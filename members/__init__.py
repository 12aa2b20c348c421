"""The member profile store: members, cards and QR codes, consent, tiers, messages."""

from __future__ import annotations

from functools import partial

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from loyalty.jobs import register_periodic
    from loyalty.messages import send_configured
    from members import api as members_api
    from members import templates_api

    api.register_blueprint(members_api.blp)
    api.register_blueprint(templates_api.blp)
    register_periodic(app, "send_messages", partial(send_configured, app.config))

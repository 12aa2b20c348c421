"""The member profile store: members, cards and QR codes, consent, tiers."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from members import api as members_api

    api.register_blueprint(members_api.blp)

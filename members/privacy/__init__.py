"""One customer, one profile, and Thailand's PDPA: merging duplicates, a member's data export,
and erasure."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from members.privacy import api as privacy_api

    api.register_blueprint(privacy_api.blp)

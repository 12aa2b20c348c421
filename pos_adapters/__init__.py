"""Receipts arriving: the canonical receipt and its validation, the push API and the CSV
import."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from pos_adapters import api as pos_api
    from pos_adapters import import_cli

    api.register_blueprint(pos_api.blp)
    app.cli.add_command(import_cli.import_cli)

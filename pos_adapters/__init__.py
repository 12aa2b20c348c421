"""POS adapters: the canonical receipt, ingestion, and the engine's receipt handlers."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from loyalty.jobs import register_batch_handler, register_handler
    from pos_adapters import api as pos_api
    from pos_adapters import demo, import_cli, processing

    api.register_blueprint(pos_api.blp)
    from pos_adapters import profile_parts

    profile_parts.init_app(app)
    from rewards.engine import settings_from_config

    settings = settings_from_config(app.config)
    for topic, handler in processing.handlers(settings).items():
        register_handler(app, topic, handler)
    for topic, batch in processing.batch_handlers(settings).items():
        register_batch_handler(app, topic, batch)
    app.cli.add_command(demo.demo_cli)
    app.cli.add_command(import_cli.import_cli)

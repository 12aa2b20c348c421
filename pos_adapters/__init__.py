"""Receipts arriving: the canonical receipt and its validation, the push API, the CSV import,
and the POS sources whose receipts are pulled (one adapter per vendor in `vendors/`)."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from loyalty.jobs import register_handler, register_periodic
    from pos_adapters import api as pos_api
    from pos_adapters import import_cli, inbox, jobs, member_links, pos_cli, sources_api
    from pos_adapters.sync import SyncSettings

    api.register_blueprint(pos_api.blp)
    api.register_blueprint(sources_api.blp)
    app.cli.add_command(import_cli.import_cli)
    app.cli.add_command(pos_cli.pos_cli)
    member_links.init_app(app)
    register_periodic(app, "sync_pos_sources", jobs.sync_due_sources)

    def settings() -> SyncSettings:
        return SyncSettings.from_config(app.config)

    for topic, handler in inbox.handlers(settings).items():
        register_handler(app, topic, handler)
    register_handler(
        app, sources_api.SYNC_TOPIC, lambda _s, payload: jobs.start_runs(app, [payload["run_id"]])
    )

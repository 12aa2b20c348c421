"""Points: the ledger, the earning flow (recorded receipts turned into ledger entries, the
quote), redemption, the rewards catalog and vouchers, the rule engine and campaigns."""

from __future__ import annotations

from functools import partial

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from loyalty.jobs import register_batch_handler, register_handler, register_periodic
    from members.segments.service import register_segment_user
    from rewards import api as rewards_api
    from rewards import cli, jobs, member_profile, receipt_profile
    from rewards.analytics import api as analytics_api
    from rewards.analytics import cli as analytics_cli
    from rewards.analytics import jobs as analytics_jobs
    from rewards.campaigns import api as campaign_api
    from rewards.campaigns import engine, events
    from rewards.campaigns import service as campaigns
    from rewards.earning import processing

    api.register_blueprint(rewards_api.blp)
    api.register_blueprint(campaign_api.blp)
    api.register_blueprint(analytics_api.blp)
    member_profile.init_app(app)
    receipt_profile.init_app(app)
    register_segment_user(app, campaigns.segment_user)
    register_periodic(app, "expire_points", jobs.expire_due_points)
    register_periodic(app, "daily_events", jobs.emit_daily_events)
    timezone = app.config["TIMEZONE"]
    register_periodic(app, "roll_up_analytics", partial(analytics_jobs.roll_up, timezone=timezone))
    settings = engine.settings_from_config(app.config)
    for source in (events, processing):
        for topic, handler in source.handlers(settings).items():
            register_handler(app, topic, handler)
    for topic, batch in events.batch_handlers().items():
        register_batch_handler(app, topic, batch)
    for topic, batch in processing.batch_handlers(settings).items():
        register_batch_handler(app, topic, batch)
    app.cli.add_command(cli.points_cli)
    app.cli.add_command(cli.events_cli)
    app.cli.add_command(analytics_cli.analytics_cli)

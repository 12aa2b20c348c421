"""The member profile store: members, cards and QR codes, consent, tiers, messages."""

from __future__ import annotations

from functools import partial

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from loyalty.auth import register_shopper_check
    from loyalty.extensions import db
    from loyalty.jobs import register_periodic
    from loyalty.messages import send_configured
    from members import api as members_api
    from members import cli as members_cli
    from members import (
        clv_service,
        metrics,
        metrics_api,
        profile_cli,
        service,
        templates_api,
        tiering,
        tiers_api,
    )

    api.register_blueprint(members_api.blp)
    api.register_blueprint(templates_api.blp)
    from members import profile_api

    api.register_blueprint(profile_api.blp)
    register_periodic(app, "send_messages", partial(send_configured, app.config))
    api.register_blueprint(metrics_api.blp)
    app.cli.add_command(profile_cli.profiles_cli)
    app.cli.add_command(profile_cli.clv_cli)
    app.cli.add_command(profile_cli.segments_cli)
    timezone = app.config["TIMEZONE"]
    register_periodic(app, "refresh_profiles", partial(metrics.refresh_today, timezone=timezone))
    register_periodic(app, "fit_clv", partial(clv_service.fit_today, timezone=timezone))
    from members import segments, segments_api

    api.register_blueprint(segments_api.blp)
    refresh = partial(segments.refresh_segments, timezone=timezone)
    register_periodic(app, "refresh_segments", refresh)
    api.register_blueprint(tiers_api.blp)
    app.cli.add_command(members_cli.tiers_cli)
    register_periodic(app, "review_tiers", partial(tiering.review_due_now, timezone=timezone))
    register_shopper_check(app, lambda member_id: service.is_active(db.session, member_id))

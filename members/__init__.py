"""The member profile store: members and consent, cards, tiers, profile metrics, segments,
messaging and privacy, each in its own subpackage."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from loyalty.auth import register_shopper_check
    from loyalty.extensions import db
    from members import api as members_api
    from members import messaging, metrics, privacy, segments, service, tiers

    api.register_blueprint(members_api.blp)
    for concept in (messaging, privacy, metrics, segments, tiers):
        concept.init_app(app, api)
    register_shopper_check(app, lambda member_id: service.is_active(db.session, member_id))

"""Profile metrics of a member, and the program's lifetime value model."""

from __future__ import annotations

from decimal import Decimal

from flask import current_app
from flask_smorest import Blueprint

from loyalty.auth import check_member_scope, require
from loyalty.db import utcnow
from loyalty.errors import NotFound
from loyalty.extensions import db
from loyalty.money import format_minor
from members import service
from members.metrics import clv_fit as clv_service
from members.metrics import service as metrics
from members.metrics.activity import program_day
from members.metrics.schemas import ClvModelSchema, MetricsSchema
from members.models import ClvModel

blp = Blueprint(
    "profile_metrics", __name__, url_prefix="/api/v1", description="Profile metrics and CLV"
)
SECURITY = [{"bearerAuth": []}]


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _favourite(favourite: metrics.Favourite, **names: str) -> dict:
    return {**names, "spend": format_minor(favourite.spend_minor), "visits": favourite.visits}


def metrics_view(found: metrics.ProfileMetrics) -> dict:
    member, scores = found.member, found.scores
    return {
        "member_id": member.id,
        "recency_days": found.recency_days,
        "frequency": found.purchase_days,
        "monetary": format_minor(found.monetary_minor),
        "first_purchase_at": member.first_purchase_at,
        "last_purchase_at": member.last_purchase_at,
        "visits": member.visits,
        "lifetime_spend": format_minor(member.lifetime_spend_minor),
        "spend_12m": format_minor(found.spend_12m_minor),
        "average_basket": format_minor(found.average_basket_minor),
        "favourite_categories": [_favourite(f, category=f.key) for f in found.categories],
        "favourite_stores": [_favourite(f, code=f.key, name=f.name) for f in found.stores],
        "rfm": {
            "r": scores and scores.rfm_r,
            "f": scores and scores.rfm_f,
            "m": scores and scores.rfm_m,
            "segment": scores and scores.rfm_segment,
        },
        "clv": {
            "expected_purchases_365": _plain(scores and scores.clv_purchases_365),
            "p_alive": _plain(scores and scores.clv_p_alive),
            "value_365": format_minor(scores and scores.clv_value_365_minor),
        },
        "refreshed_at": scores and scores.refreshed_at,
    }


def model_view(model: ClvModel) -> dict:
    return {
        "id": model.id,
        **{name: model.params[name] for name in clv_service.PARAMS},
        "converged": model.params.get("converged", True),
        "calibration_start": model.calibration_start,
        "calibration_end": model.calibration_end,
        "members": model.members,
        "repeat_buyers": model.repeat_buyers,
        "fit_seconds": str(model.fit_seconds),
        "fitted_at": model.fitted_at,
    }


@blp.route("/members/<int:member_id>/metrics")
@require("shopper", "cashier", "marketer", "admin")
@blp.response(200, MetricsSchema)
@blp.doc(security=SECURITY)
def member_metrics(member_id):
    """A member's recency, frequency, spend, favourites, RFM scores and lifetime value."""
    check_member_scope(member_id)
    member = service.get_member(db.session, member_id)
    today = program_day(utcnow(), current_app.config["TIMEZONE"])
    return metrics_view(metrics.profile_metrics(db.session, member, today))


@blp.route("/analytics/clv")
@require("marketer", "admin")
@blp.response(200, ClvModelSchema)
@blp.doc(security=SECURITY)
def clv_model():
    """The latest lifetime value model: BG/NBD and Gamma-Gamma parameters and its window."""
    model = clv_service.latest_model(db.session)
    if model is None:
        raise NotFound("No lifetime value model has been fitted yet: run `flask clv fit`.")
    return model_view(model)

"""Campaign endpoints: define, edit in versions, launch, pause, end, simulate and report."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from loyalty.auth import principal, require
from loyalty.csv_files import download
from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.idempotency import idempotent
from rewards.campaigns import reports, simulation
from rewards.campaigns import service as campaigns
from rewards.campaigns.engine import settings_from_config
from rewards.campaigns.schemas import (
    CampaignCreateSchema,
    CampaignQuerySchema,
    CampaignReportSchema,
    CampaignSchema,
    CampaignUpdateSchema,
    CampaignVersionSchema,
    SimulateSchema,
    SimulationSchema,
)
from rewards.models import Campaign

blp = Blueprint("campaigns", __name__, url_prefix="/api/v1", description="Campaigns")
SECURITY = [{"bearerAuth": []}]
MARKETING = ("marketer", "admin")


def campaign_view(campaign: Campaign) -> dict:
    return {
        **{
            k: getattr(campaign, k)
            for k in ("id", "name", "builtin", "trigger", "status", "version", "priority")
        },
        **{k: getattr(campaign, k) for k in ("starts_at", "ends_at", "created_at", "updated_at")},
        **{k: getattr(campaign, k) for k in ("activated_at", "ended_at")},
        **{k: campaign.definition.get(k) for k in campaigns.RULE_FIELDS},
        "budget_used": {"points": campaign.points_issued, "applications": campaign.applications},
    }


@blp.route("/campaigns")
class Campaigns(MethodView):
    @require(*MARKETING)
    @blp.arguments(CampaignQuerySchema, location="query")
    @blp.response(200, CampaignSchema(many=True))
    @blp.doc(security=SECURITY)
    def get(self, query):
        """Every campaign, the built-in base earning rule first."""
        found = campaigns.list_campaigns(db.session, query.get("status"), query.get("trigger"))
        return [campaign_view(c) for c in found]

    @idempotent
    @require(*MARKETING)
    @blp.arguments(CampaignCreateSchema)
    @blp.response(201, CampaignSchema)
    @blp.doc(security=SECURITY)
    def post(self, body):
        """Define a campaign; it starts as a draft."""
        return campaign_view(campaigns.create_campaign(db.session, body, principal().label))


@blp.route("/campaigns/<int:campaign_id>")
class CampaignItem(MethodView):
    @require(*MARKETING)
    @blp.response(200, CampaignSchema)
    @blp.doc(security=SECURITY)
    def get(self, campaign_id):
        """One campaign, as its current version defines it."""
        return campaign_view(campaigns.get_campaign(db.session, campaign_id))

    @require(*MARKETING)
    @blp.arguments(CampaignUpdateSchema)
    @blp.response(200, CampaignSchema)
    @blp.doc(security=SECURITY)
    def patch(self, body, campaign_id):
        """Change a campaign; a live or paused one gets a new version (effects name theirs)."""
        caller = principal()
        changed = campaigns.update_campaign(
            db.session, campaign_id, body, caller.label, caller.role
        )
        return campaign_view(changed)


def _status_route(action: str, summary: str):
    @require(*MARKETING)
    @blp.response(200, CampaignSchema)
    @blp.doc(security=SECURITY, summary=summary)
    def change(campaign_id):
        return campaign_view(campaigns.change_status(db.session, campaign_id, action, utcnow()))

    change.__name__ = f"{action}_campaign"
    blp.route(f"/campaigns/<int:campaign_id>/{action}", methods=["POST"])(change)


_status_route("activate", "Launch a draft, or resume a paused campaign.")
_status_route("pause", "Stop applying a live campaign for now.")
_status_route("end", "End a campaign for good.")


@blp.route("/campaigns/<int:campaign_id>/versions")
@require(*MARKETING)
@blp.response(200, CampaignVersionSchema(many=True))
@blp.doc(security=SECURITY)
def campaign_versions(campaign_id):
    """Every version of the campaign, oldest first."""
    return campaigns.list_versions(db.session, campaign_id)


@blp.route("/campaigns/<int:campaign_id>/simulate", methods=["POST"])
@require(*MARKETING)
@blp.arguments(SimulateSchema)
@blp.response(200, SimulationSchema)
@blp.doc(security=SECURITY)
def simulate(body, campaign_id):
    """Replay the last N days of transactions and events through the campaign (draft or
    live) and say what it would have done, without touching the ledger."""
    settings = settings_from_config(current_app.config)
    return simulation.simulate(db.session, campaign_id, body["days"], utcnow(), settings.timezone)


@blp.route("/campaigns/<int:campaign_id>/report")
@require(*MARKETING)
@blp.response(200, CampaignReportSchema)
@blp.doc(security=SECURITY)
def report(campaign_id):
    """Reach, effects, points, rewards and messages, and treated vs holdout spend (the lift)."""
    return reports.campaign_report(db.session, campaign_id)


@blp.route("/campaigns/<int:campaign_id>/report.csv")
@require(*MARKETING)
@blp.doc(security=SECURITY, responses={"200": {"content": {"text/csv": {}}}})
def report_csv(campaign_id):
    """The same figures as CSV rows (section, figure, value), for finance."""
    rows = reports.csv_rows(reports.campaign_report(db.session, campaign_id))
    return download(rows, f"campaign-{campaign_id}-report.csv")

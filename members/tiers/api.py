"""Tier policy endpoints: the ladder and its policy in force (marketer, admin), set by an admin
as a new version; the history of versions."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from loyalty.auth import principal, require
from loyalty.extensions import db
from members.tiers import service as tier_service
from members.tiers.schemas import TierPolicyPutSchema, TierPolicySchema

blp = Blueprint("tiers", __name__, url_prefix="/api/v1", description="Tiers and their policy")
SECURITY = [{"bearerAuth": []}]


@blp.route("/tiers")
class Tiers(MethodView):
    @require("marketer", "admin")
    @blp.response(200, TierPolicySchema)
    @blp.doc(security=SECURITY)
    def get(self):
        """The tier ladder and policy in force, with its version."""
        return tier_service.policy_in_force(db.session).as_dict()

    @require("admin")
    @blp.arguments(TierPolicyPutSchema)
    @blp.response(200, TierPolicySchema)
    @blp.doc(security=SECURITY)
    def put(self, body):
        """Put a tier ladder and policy in force as a new version (the same one again changes
        nothing); members are evaluated by it from their next purchase or review."""
        return tier_service.set_policy(db.session, body, principal().label).as_dict()


@blp.route("/tiers/versions")
@require("marketer", "admin")
@blp.response(200, TierPolicySchema(many=True))
@blp.doc(security=SECURITY)
def tier_versions():
    """Every version of the tier policy, newest first."""
    return [version.as_dict() for version in tier_service.policy_versions(db.session)]

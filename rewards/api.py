"""Ledger, redemption, rewards catalog, voucher and program-settings endpoints."""

from __future__ import annotations

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from loyalty.auth import Principal, check_member_scope, check_store_scope, principal, require
from loyalty.db import utcnow
from loyalty.errors import InvalidInput
from loyalty.extensions import db
from loyalty.idempotency import idempotent
from loyalty.money import from_minor, to_minor
from loyalty.settings import get_setting, put_setting
from members.api import code_policy
from members.cards import service as cards
from members.cards.qr import qr_png
from members.service import get_member
from rewards import catalog, redemption
from rewards.campaigns import service as campaigns
from rewards.ledger import adjustments
from rewards.ledger import statement as queries
from rewards.schemas import (
    AdjustmentSchema,
    LedgerEntrySchema,
    LedgerQuerySchema,
    ProgramSettingsSchema,
    RedeemSchema,
    RedemptionSchema,
    RewardCreateSchema,
    RewardQuerySchema,
    RewardSchema,
    RewardUpdateSchema,
    VoucherSchema,
)

blp = Blueprint("rewards", __name__, url_prefix="/api/v1", description="Points and rewards")
SECURITY = [{"bearerAuth": []}]
EVERYONE = ("shopper", "terminal", "cashier", "marketer", "admin")


def till_of(caller: Principal) -> redemption.Till:
    if caller.role == "terminal":
        return redemption.Till("terminal", caller.store_id, terminal_id=caller.id)
    if caller.role == "shopper":
        return redemption.Till("shopper")
    return redemption.Till(caller.role, caller.store_id, staff_user_id=caller.id)


def redemption_view(found) -> dict:
    voucher = redemption.voucher_of(db.session, found)
    return {
        **{c: getattr(found, c) for c in RedemptionSchema().fields if hasattr(found, c)},
        "voucher_code": voucher.code if voucher else None,
    }


@blp.route("/members/<int:member_id>/ledger")
@require(*EVERYONE)
@blp.arguments(LedgerQuerySchema, location="query")
@blp.response(200, LedgerEntrySchema(many=True))
@blp.doc(security=SECURITY)
def member_ledger(query, member_id):
    """The member's points statement, newest first."""
    check_member_scope(member_id)
    get_member(db.session, member_id)
    return queries.member_ledger(db.session, member_id, query["limit"], query.get("before_id"))


def _authorise(caller: Principal, body: dict) -> cards.Resolved | None:
    """Check who may redeem for the member; at the till, the scanned code that proves it."""
    if caller.role == "shopper":
        check_member_scope(body["member_id"])
    elif caller.role in ("terminal", "cashier"):
        if not body.get("code"):
            raise InvalidInput("code", "scan the member's card: a redemption needs its code")
        return cards.authorise_redemption(
            db.session, body["member_id"], body["code"], code_policy(), utcnow()
        )
    return None


@blp.route("/redemptions")
class Redemptions(MethodView):
    decorators = [idempotent, require("terminal", "cashier", "admin", "shopper")]

    @blp.arguments(RedeemSchema)
    @blp.response(201, RedemptionSchema)
    @blp.alt_response(200, schema=RedemptionSchema, description="A replayed external_id")
    @blp.doc(security=SECURITY)
    def post(self, body):
        """Spend a member's points, optionally on a catalog reward (which issues a voucher)."""
        caller = principal()
        if _authorise(caller, body) is None:  # a scanned code has already found the member
            get_member(db.session, body["member_id"])
        found, created = redemption.redeem_points(
            db.session,
            body["member_id"],
            body.get("points"),
            till_of(caller),
            reward_id=body.get("reward_id"),
            external_id=body.get("external_id"),
        )
        return redemption_view(found), 201 if created else 200


@blp.route("/redemptions/<int:redemption_id>")
@require(*EVERYONE)
@blp.response(200, RedemptionSchema)
@blp.doc(security=SECURITY)
def get_redemption(redemption_id):
    """One redemption."""
    found = redemption.get_redemption(db.session, redemption_id)
    check_member_scope(found.member_id)
    if principal().role in ("terminal", "cashier"):
        check_store_scope(found.store_id)
    return redemption_view(found)


@blp.route("/redemptions/<int:redemption_id>/cancel", methods=["POST"])
@idempotent
@require("terminal", "cashier", "admin")
@blp.response(200, RedemptionSchema)
@blp.doc(security=SECURITY)
def cancel_redemption(redemption_id):
    """Cancel a redemption: the points go back to the lots they came from."""
    found = redemption.get_redemption(db.session, redemption_id)
    check_store_scope(found.store_id)
    cancelled = redemption.cancel_redemption(
        db.session, redemption_id, till_of(principal()), current_app.config["TIMEZONE"]
    )
    return redemption_view(cancelled)


@blp.route("/rewards")
class Rewards(MethodView):
    @require(*EVERYONE)
    @blp.arguments(RewardQuerySchema, location="query")
    @blp.response(200, RewardSchema(many=True))
    @blp.doc(security=SECURITY)
    def get(self, query):
        """The rewards catalog (shoppers see only what can be redeemed now)."""
        only_available = query["available"] or principal().role == "shopper"
        return catalog.list_rewards(db.session, utcnow() if only_available else None)

    @require("marketer", "admin")
    @blp.arguments(RewardCreateSchema)
    @blp.response(201, RewardSchema)
    @blp.doc(security=SECURITY)
    def post(self, body):
        """Add a reward to the catalog."""
        return catalog.create_reward(db.session, body)


@blp.route("/rewards/<int:reward_id>")
class RewardItem(MethodView):
    @require(*EVERYONE)
    @blp.response(200, RewardSchema)
    @blp.doc(security=SECURITY)
    def get(self, reward_id):
        """One reward."""
        return catalog.get_reward(db.session, reward_id)

    @require("marketer", "admin")
    @blp.arguments(RewardUpdateSchema)
    @blp.response(200, RewardSchema)
    @blp.doc(security=SECURITY)
    def patch(self, body, reward_id):
        """Change a reward (stock, window, cost, active)."""
        return catalog.update_reward(db.session, reward_id, body)


def _visible_voucher(code: str):
    voucher = catalog.get_voucher(db.session, code)
    check_member_scope(voucher.member_id)
    return voucher


@blp.route("/vouchers/<code>")
@require("shopper", "terminal", "cashier", "admin")
@blp.response(200, VoucherSchema)
@blp.doc(security=SECURITY)
def get_voucher(code):
    """Look a voucher up by its code."""
    return _visible_voucher(code)


@blp.route("/vouchers/<code>/use", methods=["POST"])
@require("terminal", "cashier")
@blp.response(200, VoucherSchema)
@blp.doc(security=SECURITY)
def use_voucher(code):
    """Mark a voucher used at this store; a second use is refused."""
    caller = principal()
    return catalog.use_voucher(db.session, code, caller.store_id, caller.label)


@blp.route("/vouchers/<code>/qr.png")
@require("shopper", "cashier", "admin")
@blp.doc(security=SECURITY, responses={"200": {"content": {"image/png": {}}}})
def voucher_qr(code):
    """The voucher code as a PNG QR image."""
    return Response(qr_png(_visible_voucher(code).code), mimetype="image/png")


@blp.route("/members/<int:member_id>/adjustments", methods=["POST"])
@idempotent
@require("admin")
@blp.arguments(AdjustmentSchema)
@blp.response(201, LedgerEntrySchema)
@blp.doc(security=SECURITY)
def adjust(body, member_id):
    """Add or remove points by hand, with a reason that lands in the audit log."""
    caller = principal()
    get_member(db.session, member_id)
    return adjustments.adjust_points(
        db.session,
        member_id,
        body["points"],
        body["reason"],
        caller.label,
        caller.id,
        current_app.config["TIMEZONE"],
    )


def _settings_view() -> dict:
    points, amount_minor = campaigns.base_rate(db.session)
    return {
        "earn_rate": {"points": points, "amount": from_minor(amount_minor)},
        "points_expiry": get_setting(db.session, "points_expiry"),
        "point_value": from_minor(get_setting(db.session, "point_value")["amount_minor"]),
        "margin": get_setting(db.session, "margin")["share"],
        "expected_breakage": get_setting(db.session, "expected_breakage")["share"],
        "active_days": get_setting(db.session, "active_days")["days"],
    }


@blp.route("/program/settings")
class ProgramSettings(MethodView):
    @require("marketer", "admin")
    @blp.response(200, ProgramSettingsSchema)
    @blp.doc(security=SECURITY)
    def get(self):
        """The program's earn rate and expiry policy."""
        return _settings_view()

    @require("admin")
    @blp.arguments(ProgramSettingsSchema)
    @blp.response(200, ProgramSettingsSchema)
    @blp.doc(security=SECURITY)
    def put(self, body):
        """Change the earn rate (a new version of the built-in base earning campaign), the
        expiry policy and the point value; they apply to what is processed from now."""
        put_setting(db.session, "points_expiry", {"months": body["points_expiry"]["months"]})
        if "point_value" in body:
            put_setting(db.session, "point_value", {"amount_minor": to_minor(body["point_value"])})
        for key in ("margin", "expected_breakage"):
            if key in body:
                put_setting(db.session, key, {"share": str(body[key])})
        if "active_days" in body:
            put_setting(db.session, "active_days", {"days": body["active_days"]})
        rate = body["earn_rate"]
        current = campaigns.base_rate(db.session)
        if current != (rate["points"], to_minor(rate["amount"])):
            campaigns.set_base_rate(db.session, rate["points"], rate["amount"], principal().label)
        return _settings_view()

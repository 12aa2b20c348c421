"""Member endpoints: enrolment, profile, cards, QR codes, code resolution, shopper sign-in."""

from __future__ import annotations

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from loyalty.auth import check_member_scope, principal, require, sign_token
from loyalty.db import utcnow
from loyalty.errors import DomainError
from loyalty.extensions import db
from loyalty.idempotency import idempotent
from loyalty.ratelimit import rate_limited
from members import otp, service
from members.cards import service as cards
from members.cards.qr import qr_png, qr_svg
from members.hooks import hooks
from members.models import Member
from members.phone import InvalidPhone, normalise_phone
from members.schemas import (
    CardCodeSchema,
    CardSchema,
    ConsentSchema,
    EnrolSchema,
    MemberSchema,
    MemberUpdateSchema,
    OtpRequestSchema,
    OtpVerifySchema,
    ReplaceCardSchema,
    ResolvedSchema,
    ResolveSchema,
    ShopperTokenSchema,
)
from members.tiers import service as tier_service

blp = Blueprint("members", __name__, url_prefix="/api/v1", description="Members and cards")
SECURITY = [{"bearerAuth": []}]
STAFF_AND_TERMINALS = ("terminal", "cashier", "marketer", "admin")


def code_policy() -> cards.CodePolicy:
    config = current_app.config
    return cards.CodePolicy(config["SECRET_KEY"].encode(), config["CARD_CODE_STEP"])


def member_view(member: Member) -> dict:
    card = cards.active_card(member)
    timezone = current_app.config["TIMEZONE"]
    progress = tier_service.tier_progress(db.session, member, utcnow(), timezone)
    return {
        **{k: getattr(member, k) for k in ("id", "member_no", "name", "phone", "email")},
        **{k: getattr(member, k) for k in ("birthdate", "locale", "status", "enrolled_at")},
        "tier": member.tier_code,
        "tier_progress": progress,
        "points_balance": member.points_balance,
        "points_pending": hooks(current_app).pending_points(db.session, member.id),
        "consents": {c.channel: c.granted for c in member.consents},
        "card": card,
    }


def visible_member(member_id: int) -> Member:
    check_member_scope(member_id)
    return service.get_member(db.session, member_id)


@blp.route("/members")
class Members(MethodView):
    decorators = [idempotent, require("terminal", "cashier", "admin")]

    @blp.arguments(EnrolSchema)
    @blp.response(201, MemberSchema)
    @blp.doc(security=SECURITY)
    def post(self, body):
        """Enrol a member and issue their card."""
        kind = body.pop("card_kind")
        caller = principal()
        enrolment = service.Enrolment(**body, store_id=caller.store_id, card_kind=kind)
        return member_view(service.enrol_member(db.session, enrolment))


@blp.route("/members/<int:member_id>")
class MemberItem(MethodView):
    @require("shopper", *STAFF_AND_TERMINALS)
    @blp.response(200, MemberSchema)
    @blp.doc(security=SECURITY)
    def get(self, member_id):
        """A member's profile with points balance and tier progress."""
        return member_view(visible_member(member_id))

    @require("shopper", "cashier", "admin")
    @blp.arguments(MemberUpdateSchema)
    @blp.response(200, MemberSchema)
    @blp.doc(security=SECURITY)
    def patch(self, body, member_id):
        """Change profile fields and marketing consents."""
        check_member_scope(member_id)
        return member_view(service.update_member(db.session, member_id, body))


@blp.route("/members/<int:member_id>/consents")
@require("shopper", "cashier", "marketer", "admin")
@blp.response(200, ConsentSchema(many=True))
@blp.doc(security=SECURITY)
def member_consents(member_id):
    """Marketing consent per channel, with when it was last given or withdrawn."""
    return sorted(visible_member(member_id).consents, key=lambda c: c.channel)


@blp.route("/members/<int:member_id>/card/code")
class CardCode(MethodView):
    @require("shopper", "cashier", "admin")
    @blp.response(200, CardCodeSchema)
    @blp.doc(security=SECURITY)
    def get(self, member_id):
        """The text to put in the member's QR code now, and when it expires."""
        code, kind, expires_at = _current_code(member_id)
        return {"code": code, "kind": kind, "expires_at": expires_at}


def _current_code(member_id: int):
    member = visible_member(member_id)
    card = cards.active_card(member)
    if card is None:
        raise DomainError("The member has no active card.")
    code, expires_at = cards.current_code(card, code_policy(), utcnow())
    return code, card.kind, expires_at


def _image(member_id: int, render, mimetype: str) -> Response:
    code, _kind, _expires = _current_code(member_id)
    response = Response(render(code), mimetype=mimetype)
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/members/<int:member_id>/card/qr.png")
@require("shopper", "cashier", "admin")
@blp.doc(security=SECURITY, responses={"200": {"content": {"image/png": {}}}})
def card_qr_png(member_id):
    """The member's current card code as a PNG QR image."""
    return _image(member_id, qr_png, "image/png")


@blp.route("/members/<int:member_id>/card/qr.svg")
@require("shopper", "cashier", "admin")
@blp.doc(security=SECURITY, responses={"200": {"content": {"image/svg+xml": {}}}})
def card_qr_svg(member_id):
    """The member's current card code as an SVG QR image."""
    return _image(member_id, qr_svg, "image/svg+xml")


@blp.route("/members/<int:member_id>/card/replace", methods=["POST"])
@require("shopper", "cashier", "admin")
@blp.arguments(ReplaceCardSchema)
@blp.response(201, CardSchema)
@blp.doc(security=SECURITY)
def replace_card(body, member_id):
    """Replace a lost card: the account stays, the old card's codes stop working."""
    return cards.replace_card(db.session, visible_member(member_id), body.get("kind"))


@blp.route("/members/<int:member_id>/cards/<card_no>/block", methods=["POST"])
@require("shopper", "cashier", "admin")
@blp.response(200, CardSchema)
@blp.doc(security=SECURITY)
def block_card(member_id, card_no):
    """Block a card; its codes are refused until it is unblocked."""
    return cards.set_card_blocked(db.session, visible_member(member_id), card_no, True)


@blp.route("/members/<int:member_id>/cards/<card_no>/unblock", methods=["POST"])
@require("cashier", "admin")
@blp.response(200, CardSchema)
@blp.doc(security=SECURITY)
def unblock_card(member_id, card_no):
    """Unblock a card."""
    return cards.set_card_blocked(db.session, visible_member(member_id), card_no, False)


@blp.route("/cards/resolve", methods=["POST"])
@require("terminal", "cashier")
@blp.arguments(ResolveSchema)
@blp.response(200, ResolvedSchema)
@blp.doc(security=SECURITY)
@rate_limited("resolve", key=lambda _body: principal().label, failures_only=True)
def resolve(body):
    """Who is behind a scanned QR code."""
    found = cards.resolve_code(db.session, body["code"], code_policy(), utcnow())
    member = found.member
    return {
        "member_id": member.id,
        "member_no": member.member_no,
        "name": member.name,
        "tier": member.tier_code,
        "points_balance": member.points_balance,
        "card_no": found.card.card_no,
        "code_kind": found.kind,
        "can_redeem": found.kind == "digital",
    }


def _destination(body: dict) -> str:
    if body.get("email"):
        return body["email"].strip().lower()
    try:
        return normalise_phone(body["phone"])
    except InvalidPhone as exc:
        from loyalty.errors import InvalidInput

        raise InvalidInput("phone", str(exc)) from exc


@blp.route("/auth/otp/request", methods=["POST"])
@blp.arguments(OtpRequestSchema)
@blp.response(202)
@rate_limited("otp_request", key=_destination)
def otp_request(body):
    """Send a shopper a one-time sign-in code (the same answer whether or not they exist)."""
    destination = _destination(body)
    config = current_app.config
    otp.request_code(
        db.session, destination, config["SECRET_KEY"].encode(), config["OTP_TTL"], utcnow()
    )
    return {"status": "sent if the member exists"}


@blp.route("/auth/otp/verify", methods=["POST"])
@blp.arguments(OtpVerifySchema)
@blp.response(200, ShopperTokenSchema)
@rate_limited("otp_verify", key=_destination)
def otp_verify(body):
    """Exchange a one-time code for a shopper token."""
    destination = _destination(body)
    member_id = otp.verify_code(
        db.session, destination, body["code"], current_app.config["SECRET_KEY"].encode(), utcnow()
    )
    return {
        "access_token": sign_token("shopper", {"m": member_id}),
        "member_id": member_id,
        "expires_in": current_app.config["SHOPPER_TOKEN_TTL"],
    }

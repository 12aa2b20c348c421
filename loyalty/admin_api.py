"""Back-office endpoints: stores, terminals (keys shown once), staff users, the audit log."""

from __future__ import annotations

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import select

from loyalty import staff
from loyalty.auth import STAFF_ROLES, require, terminal_keys
from loyalty.db import MAX_ID
from loyalty.extensions import db
from loyalty.models import AuditLog, StaffUser, Store, Terminal

blp = Blueprint("admin", __name__, url_prefix="/api/v1", description="Stores, terminals, staff")
SECURITY = [{"bearerAuth": []}]
CODE = validate.Regexp(r"^[A-Za-z0-9_-]{1,32}$", error="letters, digits, _ or -, at most 32")


class StoreSchema(ma.Schema):
    id = fields.Integer(dump_only=True)
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class TerminalCreateSchema(ma.Schema):
    store = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class TerminalSchema(ma.Schema):
    id = fields.Integer()
    store_id = fields.Integer()
    name = fields.String()
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    api_key = fields.String(metadata={"description": "Shown once, when the terminal is made."})


class UserCreateSchema(ma.Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    role = fields.String(required=True, validate=validate.OneOf(STAFF_ROLES))
    store = fields.String(validate=CODE)
    password = fields.String(required=True, validate=validate.Length(min=8, max=200))


class UserSchema(ma.Schema):
    id = fields.Integer()
    email = fields.String()
    role = fields.String()
    store_id = fields.Integer(allow_none=True)
    active = fields.Boolean()


class AuditSchema(ma.Schema):
    id = fields.Integer()
    occurred_at = fields.DateTime()
    actor = fields.String()
    action = fields.String()
    subject_type = fields.String()
    subject_id = fields.String()
    reason = fields.String(allow_none=True)
    data = fields.Dict()


class AuditQuerySchema(ma.Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    before_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))


@blp.route("/stores")
class Stores(MethodView):
    @require("cashier", "marketer", "admin")
    @blp.response(200, StoreSchema(many=True))
    @blp.doc(security=SECURITY)
    def get(self):
        """The program's stores."""
        return db.session.scalars(select(Store).order_by(Store.code))

    @require("admin")
    @blp.arguments(StoreSchema)
    @blp.response(201, StoreSchema)
    @blp.doc(security=SECURITY)
    def post(self, body):
        """Add a store."""
        return staff.create_store(db.session, body["code"], body["name"])


@blp.route("/terminals")
class Terminals(MethodView):
    @require("admin")
    @blp.response(200, TerminalSchema(many=True))
    @blp.doc(security=SECURITY)
    def get(self):
        """Every POS terminal, revoked ones included (keys are never shown again)."""
        return db.session.scalars(select(Terminal).order_by(Terminal.id))

    @require("admin")
    @blp.arguments(TerminalCreateSchema)
    @blp.response(201, TerminalSchema)
    @blp.doc(security=SECURITY)
    def post(self, body):
        """Add a terminal to a store; the answer carries its API key, once."""
        terminal, key = staff.create_terminal(db.session, body["store"], body["name"])
        fields_ = ("id", "store_id", "name", "created_at", "revoked_at")
        return {**{f: getattr(terminal, f) for f in fields_}, "api_key": key}


@blp.route("/terminals/<int:terminal_id>/revoke", methods=["POST"])
@require("admin")
@blp.response(200, TerminalSchema)
@blp.doc(security=SECURITY)
def revoke_terminal(terminal_id):
    """Revoke a terminal's API key; it is refused from the next request (by every process of
    the service within LOYALTY_TERMINAL_KEY_CACHE_SECONDS)."""
    terminal = staff.revoke_terminal(db.session, terminal_id)
    terminal_keys(current_app).forget(terminal_id)
    return terminal


@blp.route("/users")
class Users(MethodView):
    @require("admin")
    @blp.response(200, UserSchema(many=True))
    @blp.doc(security=SECURITY)
    def get(self):
        """Staff users."""
        return db.session.scalars(select(StaffUser).order_by(StaffUser.id))

    @require("admin")
    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserSchema)
    @blp.doc(security=SECURITY)
    def post(self, body):
        """Add a staff user."""
        return staff.create_user(
            db.session, body["email"], body["role"], body["password"], body.get("store")
        )


@blp.route("/audit")
@require("admin")
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditSchema(many=True))
@blp.doc(security=SECURITY)
def audit_log(query):
    """The audit log, newest first: adjustments and other actions that need a reason."""
    stmt = select(AuditLog).order_by(AuditLog.id.desc()).limit(query["limit"])
    if query.get("before_id"):
        stmt = stmt.where(AuditLog.id < query["before_id"])
    return db.session.scalars(stmt)

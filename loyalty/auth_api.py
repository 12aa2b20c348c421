"""POST /api/v1/auth/token: staff bearer tokens."""

from __future__ import annotations

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from loyalty.extensions import db
from loyalty.ratelimit import rate_limited
from loyalty.staff import issue_staff_token

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Staff tokens")


class LoginSchema(ma.Schema):
    email = ma.fields.Email(required=True, validate=ma.validate.Length(max=254))
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))


class TokenSchema(ma.Schema):
    access_token = ma.fields.String()
    role = ma.fields.String()
    expires_in = ma.fields.Integer()


@blp.route("/token")
class StaffToken(MethodView):
    @blp.arguments(LoginSchema)
    @blp.response(200, TokenSchema)
    @rate_limited("login", key=lambda body: body["email"].lower())
    def post(self, body):
        """Exchange a staff email and password for a bearer token."""
        token, user = issue_staff_token(db.session, body["email"], body["password"])
        return {
            "access_token": token,
            "role": user.role,
            "expires_in": current_app.config["STAFF_TOKEN_TTL"],
        }

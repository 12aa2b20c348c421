"""Request and response schemas of the member endpoints."""

from __future__ import annotations

from datetime import date, timedelta

import marshmallow as ma
from marshmallow import fields, validate

from loyalty.db import utcnow
from members.service import CONSENT_CHANNELS
from members.tiers.schemas import TierProgressSchema

NAME = [validate.Length(min=1, max=200), validate.Regexp(r"\s*\S", error="must not be blank")]
OLDEST_BIRTHDATE = date(1900, 1, 1)


def plausible_birthdate(value: date) -> None:
    """Between 1900 and today (a day of slack: 'today' differs across time zones)."""
    if not OLDEST_BIRTHDATE <= value <= (utcnow() + timedelta(days=1)).date():
        raise ma.ValidationError("must be a date between 1900-01-01 and today")


class StrictBoolean(fields.Boolean):
    """true or false only: no "yes", no 1."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class ConsentsField(fields.Dict):
    def __init__(self, **kwargs):
        super().__init__(
            keys=fields.String(validate=validate.OneOf(CONSENT_CHANNELS)),
            values=StrictBoolean(),
            **kwargs,
        )


class EnrolSchema(ma.Schema):
    name = fields.String(required=True, validate=NAME)
    phone = fields.String(validate=validate.Length(min=3, max=32))
    email = fields.Email(validate=validate.Length(max=254))
    birthdate = fields.Date(validate=plausible_birthdate)
    locale = fields.String(load_default="th", validate=validate.OneOf(["th", "en"]))
    consents = ConsentsField(load_default=dict)
    card_kind = fields.String(
        load_default="digital", validate=validate.OneOf(["digital", "printed"])
    )


class MemberUpdateSchema(ma.Schema):
    name = fields.String(validate=NAME)
    phone = fields.String(validate=validate.Length(min=3, max=32))
    email = fields.Email(validate=validate.Length(max=254))
    birthdate = fields.Date(allow_none=True, validate=plausible_birthdate)
    locale = fields.String(validate=validate.OneOf(["th", "en"]))
    consents = ConsentsField()


class CardSchema(ma.Schema):
    card_no = fields.String()
    kind = fields.String()
    status = fields.String()


class MemberSchema(ma.Schema):
    id = fields.Integer()
    member_no = fields.String()
    name = fields.String()
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    birthdate = fields.Date(allow_none=True)
    locale = fields.String()
    status = fields.String()
    tier = fields.String()
    tier_progress = fields.Nested(TierProgressSchema)
    points_balance = fields.Integer()
    points_pending = fields.Integer()
    consents = fields.Dict(keys=fields.String(), values=fields.Boolean())
    card = fields.Nested(CardSchema, allow_none=True)
    enrolled_at = fields.DateTime()


class CardCodeSchema(ma.Schema):
    code = fields.String()
    kind = fields.String()
    expires_at = fields.DateTime(allow_none=True)


class ResolveSchema(ma.Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=200))


class ResolvedSchema(ma.Schema):
    member_id = fields.Integer()
    member_no = fields.String()
    name = fields.String()
    tier = fields.String()
    points_balance = fields.Integer()
    card_no = fields.String()
    code_kind = fields.String()
    can_redeem = fields.Boolean()


class ReplaceCardSchema(ma.Schema):
    kind = fields.String(validate=validate.OneOf(["digital", "printed"]))


class OtpRequestSchema(ma.Schema):
    phone = fields.String(validate=validate.Length(min=3, max=32))
    email = fields.Email(validate=validate.Length(max=254))

    @ma.validates_schema
    def one_destination(self, data, **_kwargs):
        if bool(data.get("phone")) == bool(data.get("email")):
            raise ma.ValidationError("send exactly one of phone or email", "phone")


class OtpVerifySchema(OtpRequestSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^\d{6}$"))


class ShopperTokenSchema(ma.Schema):
    access_token = fields.String()
    member_id = fields.Integer()
    expires_in = fields.Integer()


class ConsentSchema(ma.Schema):
    channel = fields.String()
    granted = fields.Boolean()
    changed_at = fields.DateTime()

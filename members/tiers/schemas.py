"""Request and response schemas of the tier policy and of a member's tier progress."""

from __future__ import annotations

import re
from decimal import Decimal

import marshmallow as ma
from marshmallow import fields, validate

from loyalty.money import format_minor
from members.tiers.policy import BASES, DOWNGRADES, WINDOWS

CODE = validate.Regexp(r"^[a-z0-9_-]{1,32}$", error="1 to 32 of a-z, 0-9, _ and - only")
TEXT = [validate.Length(min=1, max=100), validate.Regexp(r"\s*\S", error="must not be blank")]
PRIVILEGE = [validate.Length(min=1, max=200), validate.Regexp(r"\s*\S", error="must not be blank")]
THRESHOLD_RE = re.compile(r"^\d{1,10}(\.\d{1,2})?$")
MULTIPLIER_RE = re.compile(r"^\d{1,2}(\.\d{1,3})?$")
MAX_MULTIPLIER = Decimal(10)


class Threshold(fields.Field):
    """What a tier takes, as a decimal string: "10000.00" (spend) or "500" (points)."""

    default_error_messages = {"invalid": 'must be a decimal string such as "10000.00" or "0"'}

    def __init__(self, **kwargs):
        doc = {"type": "string", "pattern": THRESHOLD_RE.pattern, "example": "10000.00"}
        super().__init__(metadata=doc, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not THRESHOLD_RE.match(value):
            raise self.make_error("invalid")
        return Decimal(value)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


class Multiplier(fields.Field):
    """The tier's earn multiplier from 1 to 10: a whole number or a decimal string ("1.25")."""

    default_error_messages = {"invalid": 'must be a number from 1 to 10 such as 1 or "1.25"'}

    def __init__(self, **kwargs):
        doc = {"type": "string", "pattern": MULTIPLIER_RE.pattern, "example": "1.25"}
        super().__init__(metadata=doc, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.make_error("invalid")
        if isinstance(value, str) and not MULTIPLIER_RE.match(value):
            raise self.make_error("invalid")
        multiplier = Decimal(value)
        if not Decimal(1) <= multiplier <= MAX_MULTIPLIER:
            raise self.make_error("invalid")
        return multiplier

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


class TierWindowSchema(ma.Schema):
    type = fields.String(required=True, validate=validate.OneOf(WINDOWS))
    months = fields.Integer(strict=True, validate=validate.Range(min=1, max=36))

    @ma.validates_schema
    def months_for_rolling(self, data, **_kwargs):
        if data.get("type") == "rolling" and "months" not in data:
            raise ma.ValidationError("a rolling window needs its months", "months")
        if data.get("type") == "calendar_year" and "months" in data:
            raise ma.ValidationError("a calendar year has no months to set", "months")


class TierStepSchema(ma.Schema):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(validate=TEXT)
    threshold = Threshold(required=True)
    multiplier = Multiplier(load_default=Decimal(1))
    privileges = fields.List(
        fields.String(validate=PRIVILEGE), load_default=list, validate=validate.Length(max=20)
    )


class TierPolicyPutSchema(ma.Schema):
    basis = fields.String(required=True, validate=validate.OneOf(BASES))
    window = fields.Nested(TierWindowSchema, required=True)
    downgrade = fields.String(load_default="period_end", validate=validate.OneOf(DOWNGRADES))
    tiers = fields.List(
        fields.Nested(TierStepSchema), required=True, validate=validate.Length(min=1, max=20)
    )


class TierWindowOutSchema(ma.Schema):
    type = fields.String()
    months = fields.Integer()


class TierStepOutSchema(ma.Schema):
    code = fields.String()
    name = fields.String()
    threshold = fields.String(metadata={"example": "10000.00"})
    multiplier = fields.String(metadata={"example": "1.25"})
    privileges = fields.List(fields.String())


class TierPolicySchema(ma.Schema):
    """A policy version as it is stored: amounts and multipliers as text."""

    version = fields.Integer()
    created_by = fields.String()
    created_at = fields.DateTime(allow_none=True)
    basis = fields.String()
    window = fields.Nested(TierWindowOutSchema)
    downgrade = fields.String()
    tiers = fields.List(fields.Nested(TierStepOutSchema))


class MinorAmount(fields.Field):
    """Minor units shown as a decimal string ("1250.00")."""

    def __init__(self, **kwargs):
        super().__init__(metadata={"type": "string", "example": "1250.00"}, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return format_minor(value)


class BasisAmount(fields.Field):
    """An amount in the policy's basis: a decimal string for spend, an integer for points."""

    def __init__(self, **kwargs):
        doc = {"oneOf": [{"type": "string", "example": "1250.00"}, {"type": "integer"}]}
        super().__init__(metadata=doc, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None or obj.get("basis") == "points":
            return value
        return format_minor(value)


class TierProgressSchema(ma.Schema):
    tier = fields.String()
    next_tier = fields.String(allow_none=True)
    qualifying_spend = MinorAmount()
    spend_to_next = MinorAmount(allow_none=True)
    basis = fields.String()
    policy_version = fields.Integer()
    window_start = fields.Date()
    qualifying = BasisAmount()
    to_next = BasisAmount(allow_none=True)
    to_keep = BasisAmount(allow_none=True)
    keep_by = fields.DateTime(allow_none=True)

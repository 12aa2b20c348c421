"""Request and response schemas of the ledger, redemption and catalog endpoints."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import marshmallow as ma
from marshmallow import fields, validate

from loyalty.db import MAX_ID
from members.schemas import StrictBoolean

MAX_POINTS = 1_000_000_000
POINTS = validate.Range(min=1, max=MAX_POINTS)
IDS = validate.Range(min=1, max=MAX_ID)
# Times the program can store and compute with, whatever offset they are sent in.
TIMES = validate.Range(min=datetime(2000, 1, 1, tzinfo=UTC), max=datetime(2999, 12, 31, tzinfo=UTC))
AMOUNT_RE = re.compile(r"^\d{1,7}(\.\d{1,2})?$")


class DecimalString(fields.Decimal):
    """An amount sent as a decimal string ("25.00") with at most two places; never a float."""

    default_error_messages = {"not_string": 'must be a decimal string such as "25.00"'}

    def __init__(self, **kwargs):
        doc = {"type": "string", "pattern": AMOUNT_RE.pattern, "example": "25.00"}
        doc.update(kwargs.pop("metadata", {}))
        super().__init__(as_string=True, places=2, metadata=doc, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not AMOUNT_RE.match(value):
            raise self.make_error("not_string")
        return super()._deserialize(value, attr, data, **kwargs)


class CauseSchema(ma.Schema):
    type = fields.String(attribute="cause_type")
    id = fields.String(attribute="cause_id")


class LedgerEntrySchema(ma.Schema):
    id = fields.Integer()
    occurred_at = fields.DateTime()
    kind = fields.String()
    points = fields.Integer()
    balance_after = fields.Integer()
    description = fields.String()
    rule = fields.String()
    cause = fields.Function(lambda e: {"type": e.cause_type, "id": e.cause_id})


class LedgerQuerySchema(ma.Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    before_id = fields.Integer(validate=IDS)


class RedeemSchema(ma.Schema):
    member_id = fields.Integer(required=True, strict=True, validate=IDS)
    points = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_POINTS))
    reward_id = fields.Integer(strict=True, validate=IDS)
    external_id = fields.String(validate=validate.Length(min=1, max=64))
    code = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The member's current rotating card code (terminal, cashier)."},
    )

    @ma.validates_schema
    def points_or_reward(self, data, **_kwargs):
        if "points" not in data and "reward_id" not in data:
            raise ma.ValidationError("send points, a reward_id, or both", "points")


class RedemptionSchema(ma.Schema):
    id = fields.Integer()
    member_id = fields.Integer()
    points = fields.Integer()
    balance_after = fields.Integer()
    status = fields.String()
    reward_id = fields.Integer(allow_none=True)
    external_id = fields.String(allow_none=True)
    voucher_code = fields.String(allow_none=True)
    store_id = fields.Integer(allow_none=True)
    terminal_id = fields.Integer(allow_none=True)
    channel = fields.String()
    created_at = fields.DateTime()
    cancelled_at = fields.DateTime(allow_none=True)


class RewardCreateSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    points_cost = fields.Integer(required=True, strict=True, validate=POINTS)
    stock = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=0, max=MAX_POINTS)
    )
    starts_at = fields.AwareDateTime(allow_none=True, validate=TIMES)
    ends_at = fields.AwareDateTime(allow_none=True, validate=TIMES)
    voucher_days = fields.Integer(
        strict=True, load_default=30, validate=validate.Range(min=1, max=3650)
    )
    active = StrictBoolean(load_default=True)


class RewardUpdateSchema(RewardCreateSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    description = fields.String(validate=validate.Length(max=2000))
    points_cost = fields.Integer(strict=True, validate=POINTS)
    voucher_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=3650))
    active = StrictBoolean()


class RewardSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    points_cost = fields.Integer()
    stock = fields.Integer(allow_none=True)
    issued = fields.Integer()
    starts_at = fields.DateTime(allow_none=True)
    ends_at = fields.DateTime(allow_none=True)
    voucher_days = fields.Integer()
    active = fields.Boolean()


class RewardQuerySchema(ma.Schema):
    available = fields.Boolean(load_default=False)


class VoucherSchema(ma.Schema):
    code = fields.String()
    reward_id = fields.Integer()
    member_id = fields.Integer()
    redemption_id = fields.Integer()
    status = fields.String()
    expires_at = fields.DateTime()
    used_at = fields.DateTime(allow_none=True)
    used_store_id = fields.Integer(allow_none=True)


class AdjustmentSchema(ma.Schema):
    points = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=-MAX_POINTS, max=MAX_POINTS)
    )
    # at most what the ledger entry's description holds
    reason = fields.String(required=True, validate=validate.Length(min=3, max=300))


def positive_amount(value: Decimal) -> None:
    if not Decimal("0.01") <= value <= Decimal("1000000"):
        raise ma.ValidationError("must be from 0.01 to 1000000.00")


class EarnRateSchema(ma.Schema):
    points = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1000))
    amount = DecimalString(required=True, validate=positive_amount)


class ExpirySchema(ma.Schema):
    months = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=120))


def point_value(value: Decimal) -> None:
    if not Decimal("0.01") <= value <= Decimal("1000"):
        raise ma.ValidationError("must be from 0.01 to 1000.00")


def share(value: Decimal) -> None:
    if not Decimal(0) <= value <= Decimal(1):
        raise ma.ValidationError("must be from 0.00 to 1.00")


class ProgramSettingsSchema(ma.Schema):
    earn_rate = fields.Nested(
        EarnRateSchema,
        required=True,
        metadata={"description": "the built-in base earning campaign's rate"},
    )
    points_expiry = fields.Nested(ExpirySchema, required=True)
    point_value = DecimalString(
        validate=point_value,
        metadata={"description": "what one point costs the program (campaign cost figures)"},
    )
    expected_breakage = DecimalString(
        validate=share,
        metadata={
            "description": "the share of outstanding points expected never to be used, for "
            "the liability until lots have closed, 0–1"
        },
    )
    active_days = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=730),
        metadata={"description": "a member is active with a purchase in this many days"},
    )
    margin = DecimalString(
        validate=share,
        metadata={"description": "the share of extra sales that is profit (campaign ROI), 0–1"},
    )

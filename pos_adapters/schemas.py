"""The canonical receipt: what every POS adapter turns its vendor's payload into."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import marshmallow as ma
from marshmallow import fields, validate

from loyalty.db import utcnow
from loyalty.money import CURRENCIES, MAX_AMOUNT
from pos_adapters.quick_receipts import quick_load

AMOUNT_RE = re.compile(r"^\d{1,8}(\.\d{1,2})?$")
QUANTITY_RE = re.compile(r"^\d{1,6}(\.\d{1,3})?$")
TEXT = validate.Length(min=1, max=64)
EARLIEST_RECEIPT = datetime(2000, 1, 1, tzinfo=UTC)


class Money(fields.Field):
    """A non-negative amount sent as a decimal string ("130.00"); never a float."""

    default_error_messages = {"invalid": 'must be a decimal string such as "130.00"'}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not AMOUNT_RE.match(value):
            raise self.make_error("invalid")
        return Decimal(value)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else f"{Decimal(value):.2f}"


class Quantity(fields.Field):
    """A positive quantity: an integer, or a decimal string for weighed goods."""

    default_error_messages = {"invalid": "must be a positive integer or decimal string"}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, int) and 0 < value <= 999_999:
            return Decimal(value)
        if isinstance(value, str) and QUANTITY_RE.match(value) and Decimal(value) > 0:
            return Decimal(value)
        raise self.make_error("invalid")

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


class MemberRefSchema(ma.Schema):
    code = fields.String(validate=validate.Length(min=1, max=200))
    member_no = fields.String(validate=TEXT)
    phone = fields.String(validate=validate.Length(min=3, max=32))

    @ma.validates_schema
    def exactly_one(self, data, **_kwargs):
        if len(data) != 1:
            raise ma.ValidationError("send exactly one of code, member_no or phone")


class ItemSchema(ma.Schema):
    sku = fields.String(required=True, validate=TEXT)
    name = fields.String(load_default="", validate=validate.Length(max=200))
    category = fields.String(load_default="", validate=validate.Length(max=64))
    quantity = Quantity(required=True)
    unit_price = Money(required=True)


class ReceiptSchema(ma.Schema):
    external_id = fields.String(
        required=True,
        validate=[TEXT, validate.Regexp(r"^[\x21-\x7e]+$", error="printable ASCII without spaces")],
    )
    occurred_at = fields.AwareDateTime(required=True)
    type = fields.String(load_default="sale", validate=validate.OneOf(["sale", "refund"]))
    currency = fields.String(validate=validate.OneOf(sorted(CURRENCIES)))
    member = fields.Nested(MemberRefSchema, allow_none=True)
    items = fields.List(
        fields.Nested(ItemSchema), load_default=list, validate=validate.Length(max=500)
    )
    discount = Money(load_default=Decimal("0"))
    total = Money(required=True)
    refund_of = fields.String(validate=TEXT)

    def load(self, data, *, many=None, partial=None, unknown=None):
        """A plainly valid receipt skips the per-field machinery (`quick_receipts`); not so a
        subclass's or a narrowed schema's, whose fields differ."""
        plain = type(self) is ReceiptSchema and not (self.only or self.exclude or self.many)
        if plain and not (many or partial or unknown) and (quick := quick_load(data)):
            return quick
        return super().load(data, many=many, partial=partial, unknown=unknown)

    @ma.validates("occurred_at")
    def not_in_future(self, value, **_kwargs):
        if value > utcnow() + timedelta(minutes=10):
            raise ma.ValidationError("must not be in the future")
        if value < EARLIEST_RECEIPT:
            raise ma.ValidationError("must not be before 2000-01-01")

    @ma.validates("total")
    def not_too_large(self, value, **_kwargs):
        if value > MAX_AMOUNT:
            raise ma.ValidationError(f"must be at most {MAX_AMOUNT}")

    @ma.validates_schema
    def refund_names_its_sale(self, data, **_kwargs):
        if data.get("type") == "refund" and not data.get("refund_of"):
            raise ma.ValidationError("a refund names the sale it refunds", "refund_of")
        if data.get("type", "sale") == "sale" and data.get("refund_of"):
            raise ma.ValidationError("only a refund names a sale", "refund_of")


class BatchRequestSchema(ma.Schema):
    receipts = fields.List(
        fields.Dict(),
        required=True,
        validate=validate.Length(max=500),
        metadata={"description": "up to 500 receipts, each as `POST /transactions` takes it"},
    )


class BatchResultItemSchema(ma.Schema):
    external_id = fields.Raw(metadata={"description": "as sent"})
    status = fields.Integer(metadata={"description": "201, 200 (a replay), 409 or 422"})
    id = fields.Integer()
    points_awarded = fields.Integer()
    errors = fields.Dict()


class BatchResultSchema(ma.Schema):
    results = fields.List(fields.Nested(BatchResultItemSchema))


class QuoteMemberSchema(ma.Schema):
    id = fields.Integer()
    points_balance = fields.Integer()


class TransactionResultSchema(ma.Schema):
    id = fields.Integer()
    status = fields.String()
    points_awarded = fields.Integer()
    member = fields.Nested(QuoteMemberSchema, allow_none=True)


class EffectSchema(ma.Schema):
    entry_id = fields.Integer()
    kind = fields.String()
    rule = fields.String()
    points = fields.Integer()
    description = fields.String()


class TransactionSchema(ma.Schema):
    id = fields.Integer()
    external_id = fields.String()
    store = fields.String()
    type = fields.String()
    refund_of = fields.String(allow_none=True)
    occurred_at = fields.DateTime()
    currency = fields.String()
    member_id = fields.Integer(allow_none=True)
    total = fields.String()
    discount = fields.String()
    items = fields.List(fields.Dict())
    status = fields.String()
    points_awarded = fields.Integer()
    refunded = fields.String()
    effects = fields.List(fields.Nested(EffectSchema))
    created_at = fields.DateTime()
    processed_at = fields.DateTime(allow_none=True)


class ClaimSchema(ma.Schema):
    external_id = fields.String(required=True, validate=TEXT)
    total = Money(required=True)
    store = fields.String(validate=validate.Length(min=1, max=32))


class QuoteRequestSchema(ReceiptSchema):
    """A sale as the POS would send it, before it has a receipt number."""

    class Meta:
        exclude = ("external_id", "type", "refund_of")

    member = fields.Nested(MemberRefSchema, required=True)


class QuotedCampaignSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    points = fields.Integer()


class AffordableRewardSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    points_cost = fields.Integer()


class QuoteSchema(ma.Schema):
    points = fields.Integer(metadata={"description": "what the sale will earn, in all"})
    base_points = fields.Integer()
    campaigns = fields.List(fields.Nested(QuotedCampaignSchema))
    rewards = fields.List(
        fields.Nested(AffordableRewardSchema),
        metadata={"description": "rewards the member can afford once the sale has earned"},
    )
    member = fields.Nested(QuoteMemberSchema)


class TransactionQuerySchema(ma.Schema):
    source = fields.Integer(
        validate=validate.Range(min=1, max=2**53), metadata={"description": "a POS source id"}
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class TransactionRowSchema(ma.Schema):
    id = fields.Integer()
    external_id = fields.String()
    type = fields.String()
    total = fields.String()
    occurred_at = fields.DateTime()
    store = fields.String()
    member_id = fields.Integer(allow_none=True)
    points_awarded = fields.Integer()
    refund_of = fields.String(allow_none=True)

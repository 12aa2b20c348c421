"""Response schemas of the profile metrics and lifetime value endpoints."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields


class FavouriteCategorySchema(ma.Schema):
    category = fields.String()
    spend = fields.String()
    visits = fields.Integer()


class FavouriteStoreSchema(ma.Schema):
    code = fields.String()
    name = fields.String()
    spend = fields.String()
    visits = fields.Integer()


class RfmSchema(ma.Schema):
    r = fields.Integer(allow_none=True)
    f = fields.Integer(allow_none=True)
    m = fields.Integer(allow_none=True)
    segment = fields.String(allow_none=True)


class MemberClvSchema(ma.Schema):
    expected_purchases_365 = fields.String(allow_none=True)
    p_alive = fields.String(allow_none=True)
    value_365 = fields.String(allow_none=True)


class MetricsSchema(ma.Schema):
    member_id = fields.Integer()
    recency_days = fields.Integer(allow_none=True)
    frequency = fields.Integer()
    monetary = fields.String(allow_none=True)
    first_purchase_at = fields.DateTime(allow_none=True)
    last_purchase_at = fields.DateTime(allow_none=True)
    visits = fields.Integer()
    lifetime_spend = fields.String()
    spend_12m = fields.String()
    average_basket = fields.String(allow_none=True)
    favourite_categories = fields.List(fields.Nested(FavouriteCategorySchema))
    favourite_stores = fields.List(fields.Nested(FavouriteStoreSchema))
    rfm = fields.Nested(RfmSchema)
    clv = fields.Nested(MemberClvSchema)
    refreshed_at = fields.DateTime(allow_none=True)


class ClvModelSchema(ma.Schema):
    id = fields.Integer()
    r = fields.String()
    alpha = fields.String()
    a = fields.String()
    b = fields.String()
    p = fields.String()
    q = fields.String()
    gamma = fields.String()
    converged = fields.Boolean()
    calibration_start = fields.Date()
    calibration_end = fields.Date()
    members = fields.Integer()
    repeat_buyers = fields.Integer()
    fit_seconds = fields.String()
    fitted_at = fields.DateTime()

"""The edge of program analytics: the window asked for and the report's shape."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate


class ProgramQuerySchema(ma.Schema):
    first = fields.Date(
        data_key="from", metadata={"description": "first day (default: 12 weeks before `to`)"}
    )
    last = fields.Date(
        data_key="to", metadata={"description": "last day, included (default: today)"}
    )
    store = fields.String(
        validate=validate.Length(min=1, max=32), metadata={"description": "a store's code"}
    )


class MembersFiguresSchema(ma.Schema):
    total = fields.Integer()
    new = fields.Integer()
    active = fields.Integer()
    active_rate = fields.String(allow_none=True)


class PointsFiguresSchema(ma.Schema):
    issued = fields.Integer()
    redeemed = fields.Integer()
    expired = fields.Integer()
    reversed = fields.Integer()
    adjusted = fields.Integer()
    outstanding = fields.Integer()
    owed = fields.Integer()
    pending = fields.Integer()


class LiabilitySchema(ma.Schema):
    point_value = fields.String()
    points = fields.Integer()
    value = fields.String()
    expected_breakage = fields.String()
    expected_value = fields.String()


class TierFiguresSchema(ma.Schema):
    tier = fields.String()
    members = fields.Integer()
    outstanding = fields.Integer()


class WeekFiguresSchema(ma.Schema):
    week_start = fields.String()
    issued = fields.Integer()
    redeemed = fields.Integer()
    expired = fields.Integer()
    new_members = fields.Integer()
    active_members = fields.Integer()
    sales = fields.String()
    member_sales_share = fields.String()


class CohortSchema(ma.Schema):
    month = fields.String()
    members = fields.Integer()
    retained = fields.List(fields.String())


class ProgramReportSchema(ma.Schema):
    first = fields.String(data_key="from")
    last = fields.String(data_key="to")
    members = fields.Nested(MembersFiguresSchema)
    points = fields.Nested(PointsFiguresSchema)
    redemption_rate = fields.String(allow_none=True)
    breakage_rate = fields.String(allow_none=True)
    liability = fields.Nested(LiabilitySchema)
    by_tier = fields.List(fields.Nested(TierFiguresSchema))
    by_week = fields.List(fields.Nested(WeekFiguresSchema))
    cohorts = fields.List(fields.Nested(CohortSchema))

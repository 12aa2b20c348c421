"""Request and response schemas of the merge, timeline, export and erase endpoints."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from loyalty.db import MAX_ID
from members.schemas import MemberSchema

# at most what the audit log's reason is shown with elsewhere (adjustments)
REASON = validate.Length(min=3, max=300)


class MergeSchema(ma.Schema):
    from_member_id = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID)
    )
    reason = fields.String(required=True, validate=REASON)


class MergedSchema(ma.Schema):
    member = fields.Nested(MemberSchema)
    from_member_id = fields.Integer()
    moved = fields.Dict(keys=fields.String(), values=fields.Integer())
    audit_id = fields.Integer()


class EraseSchema(ma.Schema):
    reason = fields.String(required=True, validate=REASON)


class ErasedSchema(ma.Schema):
    id = fields.Integer()
    member_no = fields.String()
    name = fields.String()
    status = fields.String()
    erased_at = fields.DateTime()


class TimelineQuerySchema(ma.Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    before = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The `next` cursor of the previous page."},
    )


class TimelineEntrySchema(ma.Schema):
    at = fields.DateTime()
    kind = fields.String(
        metadata={
            "description": "purchase, refund, points, campaign, tier, message, enrolled, "
            "merge or erased"
        }
    )
    summary = fields.String()
    detail = fields.Dict(keys=fields.String())


class TimelinePageSchema(ma.Schema):
    entries = fields.List(fields.Nested(TimelineEntrySchema))
    next = fields.String(allow_none=True)


class ExportSchema(ma.Schema):
    member_id = fields.Integer()
    exported_at = fields.String()
    data = fields.Dict(
        keys=fields.String(),
        metadata={
            "description": "Sections: profile, consents, cards, tags, tier_history, metrics, "
            "segments, messages, ledger, points_lots, redemptions, campaigns, transactions"
        },
    )

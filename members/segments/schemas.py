"""Request and response schemas of the segment endpoints."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from loyalty.db import MAX_ID
from members.segments import sql as segment_sql

NAME = [validate.Length(min=1, max=200), validate.Regexp(r"\s*\S", error="must not be blank")]
RULE_DOC = {
    "description": "all / any / not / {fact, op, value} over the facts "
    + ", ".join(segment_sql.FACTS),
    "example": {"all": [{"fact": "rfm_segment", "op": "eq", "value": "Champions"}]},
}


class SegmentRule(fields.Dict):
    """A rule in the condition language; a wrong part is named by its path in the rule."""

    def _deserialize(self, value, attr, data, **kwargs):
        rule = super()._deserialize(value, attr, data, **kwargs)
        problems = segment_sql.problems(rule)
        whole = [problem for path, problem in problems if not path]
        if whole:
            raise ma.ValidationError(whole)
        if problems:
            raise ma.ValidationError({path: [problem] for path, problem in problems})
        return rule


class SegmentCreateSchema(ma.Schema):
    name = fields.String(required=True, validate=NAME)
    rule = SegmentRule(required=True, metadata=RULE_DOC)


class SegmentPreviewSchema(ma.Schema):
    rule = SegmentRule(required=True, metadata=RULE_DOC)


class SegmentSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    rule = fields.Dict()
    size = fields.Integer(metadata={"description": "members at the last refresh"})
    created_by = fields.String()
    created_at = fields.DateTime()
    refreshed_at = fields.DateTime(allow_none=True)


class SegmentSizeSchema(ma.Schema):
    size = fields.Integer()


class SegmentMembersQuerySchema(ma.Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    after_id = fields.Integer(
        validate=validate.Range(min=0, max=MAX_ID),
        metadata={"description": "the last member id of the previous page"},
    )


class SegmentMemberSchema(ma.Schema):
    id = fields.Integer()
    member_no = fields.String()
    name = fields.String()
    tier = fields.String()
    entered_at = fields.DateTime()

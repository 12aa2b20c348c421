"""Schemas of the POS source endpoints and the vendors' webhook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import marshmallow as ma
from marshmallow import fields, validate

from loyalty.db import utcnow
from members.schemas import NAME, StrictBoolean
from pos_adapters.vendor import KINDS

URL = validate.And(
    validate.URL(schemes={"http", "https"}, require_tld=False),
    validate.Length(max=500),
    validate.Regexp(
        r"^[a-z]+://[^/@]*$|^[a-z]+://[^/@]*/[^@]*$", error="must not hold a user or password"
    ),
)
EARLIEST_SINCE = datetime(2000, 1, 1, tzinfo=UTC)
VENDOR_KEY = validate.Length(min=1, max=200)


class CredentialsField(fields.Dict):
    """Credentials: names to non-empty strings; which names, the source's kind decides."""

    def __init__(self, **kwargs):
        super().__init__(
            keys=fields.String(validate=validate.Length(min=1, max=64)),
            values=fields.String(validate=validate.Length(min=1, max=4000)),
            validate=validate.Length(min=1, max=8),
            **kwargs,
        )


class SourcePatchSchema(ma.Schema):
    kind = fields.String(validate=validate.OneOf(KINDS))
    name = fields.String(validate=NAME)
    base_url = fields.String(validate=URL)
    credentials = CredentialsField(load_only=True)
    webhook_secret = fields.String(
        load_only=True, allow_none=True, validate=validate.Length(min=8, max=500)
    )
    stores = fields.Dict(
        keys=fields.String(validate=VENDOR_KEY),
        values=fields.String(validate=validate.Length(min=1, max=32)),
        validate=validate.Length(max=200),
    )
    poll_minutes = fields.Integer(validate=validate.Range(min=1, max=1440), strict=True)
    enabled = StrictBoolean()


class NewSourceSchema(SourcePatchSchema):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    name = fields.String(required=True, validate=NAME)
    credentials = CredentialsField(required=True, load_only=True)


class SourceSchema(ma.Schema):
    id = fields.Integer()
    kind = fields.String()
    name = fields.String()
    base_url = fields.String()
    stores = fields.Dict(keys=fields.String(), values=fields.String())
    poll_minutes = fields.Integer()
    enabled = fields.Boolean()
    status = fields.String(metadata={"description": "disabled, syncing, failing, ok or new"})
    cursor = fields.String(allow_none=True)
    last_sync_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    webhook_url = fields.String()


class SyncRequestSchema(ma.Schema):
    since = fields.AwareDateTime(metadata={"description": "backfill from this instant"})

    @ma.validates("since")
    def in_range(self, value: datetime, **_kwargs) -> None:
        if not EARLIEST_SINCE <= value <= utcnow() + timedelta(minutes=10):
            raise ma.ValidationError("must be between 2000-01-01 and now")


class RunSchema(ma.Schema):
    id = fields.Integer()
    state = fields.String(metadata={"description": "queued, running, finished or failed"})
    trigger = fields.String()
    since = fields.DateTime(allow_none=True)
    requested_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    fetched = fields.Integer()
    recorded = fields.Integer()
    already_there = fields.Integer()
    rejected = fields.Integer()
    error = fields.String(allow_none=True)


class QueuedRunSchema(ma.Schema):
    run_id = fields.Integer()


class RejectionSchema(ma.Schema):
    vendor_id = fields.String()
    reason = fields.String()
    created_at = fields.DateTime()


class WebhookAnswerSchema(ma.Schema):
    stored = fields.Boolean(metadata={"description": "false for a redelivered event"})

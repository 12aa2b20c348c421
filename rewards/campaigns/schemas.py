"""Request and response schemas of campaigns: the rule language's edge.

A campaign's effects, limits and audience are validated here, field by field, so that what
reaches rewards/campaigns/service.py is always well formed; conditions are checked by rules.py.
"""

from __future__ import annotations

import re
from decimal import Decimal

import marshmallow as ma
from marshmallow import fields, validate

from members.schemas import StrictBoolean
from rewards.campaigns import rules
from rewards.schemas import IDS, MAX_POINTS, TIMES, DecimalString, positive_amount

TRIGGERS = (
    "transaction.recorded",
    "member.enrolled",
    "member.birthday",
    "member.inactive",
    "points.expiring",
    "tier.changed",
    "reward.redeemed",
)
EFFECT_TYPES = (
    "award_points",
    "points_per_amount",
    "multiply_points",
    "issue_reward",
    "send_message",
    "tag_member",
)
TRANSACTION_EFFECTS = frozenset({"points_per_amount", "multiply_points"})
PERIODS = ("day", "week", "month", "campaign")
STATUSES = ("draft", "active", "paused", "ended")
MESSAGE_CHANNELS = ("email", "sms", "line")
TAG = validate.Regexp(r"^[a-z0-9_.:-]{1,64}$", error="lower-case letters, digits and _.:- only")
CODE = validate.Length(min=1, max=64)
FACTOR_RE = re.compile(r"^\d{1,3}(\.\d{1,2})?$")
# Which fields each effect takes (besides "type"), and which of them it requires.
EFFECT_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "award_points": ({"points"}, {"points"}),
    "points_per_amount": ({"points", "amount", "scope"}, {"points", "amount"}),
    "multiply_points": ({"factor", "scope"}, {"factor"}),
    "issue_reward": ({"reward_id"}, {"reward_id"}),
    "send_message": ({"channel", "template"}, {"channel", "template"}),
    "tag_member": ({"tag"}, {"tag"}),
}


class Factor(fields.Field):
    """A multiplier above 1, sent as a number or a decimal string ("1.5"); never a float."""

    default_error_messages = {"invalid": 'must be a number above 1 such as 2 or "1.5"'}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise self.make_error("invalid")
        if isinstance(value, str) and not FACTOR_RE.match(value):
            raise self.make_error("invalid")
        factor = Decimal(value)
        if not Decimal(1) < factor <= Decimal(100):
            raise self.make_error("invalid")
        return factor

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


class ScopeSchema(ma.Schema):
    sku = fields.List(fields.String(validate=CODE), validate=validate.Length(min=1, max=200))
    category = fields.List(fields.String(validate=CODE), validate=validate.Length(min=1, max=200))

    @ma.validates_schema
    def not_empty(self, data, **_kwargs):
        if not data:
            raise ma.ValidationError("name at least one sku or category")


class CampaignEffectSchema(ma.Schema):
    type = fields.String(required=True, validate=validate.OneOf(EFFECT_TYPES))
    points = fields.Integer(strict=True, validate=validate.Range(min=1, max=1_000_000))
    amount = DecimalString(validate=positive_amount)
    scope = fields.Nested(ScopeSchema)
    factor = Factor()
    reward_id = fields.Integer(strict=True, validate=IDS)
    channel = fields.String(validate=validate.OneOf(MESSAGE_CHANNELS))
    template = fields.String(validate=CODE)
    tag = fields.String(validate=TAG)

    @ma.validates_schema
    def fields_of_its_type(self, data, **_kwargs):
        allowed, required = EFFECT_FIELDS.get(data.get("type"), (set(), set()))
        given = set(data) - {"type"}
        if missing := sorted(required - given):
            raise ma.ValidationError(f"{data['type']} needs {', '.join(missing)}", missing[0])
        if extra := sorted(given - allowed):
            raise ma.ValidationError(f"{data['type']} does not take {extra[0]}", extra[0])


class PerMemberSchema(ma.Schema):
    count = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=1_000_000)
    )
    period = fields.String(required=True, validate=validate.OneOf(PERIODS))


class LimitsSchema(ma.Schema):
    per_member = fields.Nested(PerMemberSchema)
    budget_points = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_POINTS))
    budget_count = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_POINTS))


class AudienceSchema(ma.Schema):
    tiers = fields.List(fields.String(validate=CODE), validate=validate.Length(min=1, max=50))
    tags = fields.List(fields.String(validate=TAG), validate=validate.Length(min=1, max=50))
    segments = fields.List(
        fields.Integer(strict=True, validate=IDS),
        validate=validate.Length(min=1, max=50),
        metadata={"description": "segment ids: members in any of them"},
    )


class Condition(fields.Dict):
    """A condition tree of the rule language, checked by rules.condition_problems."""

    def _deserialize(self, value, attr, data, **kwargs):
        condition = super()._deserialize(value, attr, data, **kwargs)
        if condition and (problems := rules.condition_problems(condition)):
            raise ma.ValidationError(problems[0])
        return condition


class CampaignFields(ma.Schema):
    """What a campaign is made of; all optional here (an edit sends only what changes)."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    inactive_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=3650))
    days_before = fields.Integer(strict=True, validate=validate.Range(min=0, max=365))
    starts_at = fields.AwareDateTime(allow_none=True, validate=TIMES)
    ends_at = fields.AwareDateTime(allow_none=True, validate=TIMES)
    audience = fields.Nested(AudienceSchema)
    conditions = Condition(metadata={"description": "all / any / not / {fact, op, value}"})
    effects = fields.List(
        fields.Nested(CampaignEffectSchema), validate=validate.Length(min=1, max=10)
    )
    limits = fields.Nested(LimitsSchema)
    priority = fields.Integer(strict=True, validate=validate.Range(min=-1000, max=1000))
    stackable = StrictBoolean()
    holdout_percent = fields.Integer(strict=True, validate=validate.Range(min=0, max=90))


class CampaignCreateSchema(CampaignFields):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    trigger = fields.String(required=True, validate=validate.OneOf(TRIGGERS))
    effects = fields.List(
        fields.Nested(CampaignEffectSchema), required=True, validate=validate.Length(min=1, max=10)
    )


class CampaignUpdateSchema(CampaignFields):
    @ma.validates_schema
    def something(self, data, **_kwargs):
        if not data:
            raise ma.ValidationError("send at least one field to change", "name")


class CampaignSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    builtin = fields.String(allow_none=True)
    trigger = fields.String()
    status = fields.String()
    version = fields.Integer()
    priority = fields.Integer()
    stackable = fields.Boolean()
    holdout_percent = fields.Integer()
    inactive_days = fields.Integer(allow_none=True)
    days_before = fields.Integer(allow_none=True)
    starts_at = fields.DateTime(allow_none=True)
    ends_at = fields.DateTime(allow_none=True)
    audience = fields.Dict()
    conditions = fields.Dict()
    effects = fields.List(fields.Dict())
    limits = fields.Dict()
    budget_used = fields.Dict(metadata={"description": "points and applications counted"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    activated_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)


class CampaignQuerySchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    trigger = fields.String(validate=validate.OneOf(TRIGGERS))


class CampaignVersionSchema(ma.Schema):
    version = fields.Integer()
    created_by = fields.String()
    created_at = fields.DateTime()
    snapshot = fields.Dict()


class SimulateSchema(ma.Schema):
    days = fields.Integer(load_default=30, strict=True, validate=validate.Range(min=1, max=366))


class SimulationSchema(ma.Schema):
    campaign_id = fields.Integer()
    version = fields.Integer()
    days = fields.Integer()
    since = fields.DateTime()
    until = fields.DateTime()
    events = fields.Integer(metadata={"description": "events replayed"})
    reach = fields.Integer(metadata={"description": "members who received an effect"})
    held_out = fields.Integer(metadata={"description": "members kept out by the holdout"})
    applications = fields.Integer()
    effects = fields.Dict(keys=fields.String(), values=fields.Integer())
    points = fields.Integer()
    cost = fields.String(allow_none=True, metadata={"description": "points × point value"})
    rewards = fields.Integer()
    messages = fields.Integer()


class GroupReportSchema(ma.Schema):
    members = fields.Integer()
    spend = fields.String()
    spend_per_member = fields.String()
    visits_per_member = fields.String()


class CampaignCostSchema(ma.Schema):
    points = fields.Integer(metadata={"description": "points issued less those reversed"})
    points_value = fields.String(metadata={"description": "points × the point value"})
    rewards = fields.Integer(metadata={"description": "rewards granted, not cancelled"})
    rewards_value = fields.String(metadata={"description": "their points price × point value"})
    total = fields.String()


class CampaignReportSchema(ma.Schema):
    campaign_id = fields.Integer()
    name = fields.String()
    status = fields.String()
    since = fields.DateTime(allow_none=True)
    reach = fields.Integer()
    applications = fields.Integer()
    effects = fields.Dict(keys=fields.String(), values=fields.Integer())
    points_issued = fields.Integer()
    points_reversed = fields.Integer()
    rewards_issued = fields.Integer()
    rewards_redeemed = fields.Integer()
    messages = fields.Dict(keys=fields.String(), values=fields.Integer())
    treated = fields.Nested(GroupReportSchema)
    holdout = fields.Nested(GroupReportSchema)
    lift = fields.String(allow_none=True, metadata={"description": "treated ÷ holdout − 1"})
    lift_method = fields.String(metadata={"description": "how the intervals are made: welch"})
    lift_ci95 = fields.Raw(
        metadata={
            "description": "the lift's 95 % interval {low, high} (Welch's interval for the "
            "difference in spend per member, over the held-out spend per member), or "
            '"not enough data" under 30 members in a group'
        }
    )
    incremental_spend = fields.Raw(
        metadata={
            "description": "(treated − held-out spend per member) × treated members, or "
            '"not enough data"'
        }
    )
    incremental_roi = fields.Raw(
        allow_none=True,
        metadata={
            "description": "(incremental spend × margin − cost) ÷ cost; null when the campaign "
            'cost nothing, "not enough data" under 30 members in a group'
        },
    )
    cost = fields.Nested(CampaignCostSchema)

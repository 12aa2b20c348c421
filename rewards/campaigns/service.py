"""Campaign services: create, edit in versions, move through draft → active ⇄ paused → ended.

A campaign's rule lives in `Campaign.definition` (the current version) and every version is
kept in `campaign_versions`. The program's base earning rule is the built-in campaign
"base_earning": one points_per_amount effect that an admin can change like any other.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import Conflict, Forbidden, InvalidInput, NotFound
from members.messaging.service import template_exists
from members.segments.service import unknown_segments
from rewards import catalog
from rewards.campaigns import rules
from rewards.campaigns.schemas import TRANSACTION_EFFECTS
from rewards.models import Campaign, CampaignVersion

BASE_EARNING = "base_earning"
BASE_MISSING = "The base earning campaign is missing; run the migrations."
RULE_FIELDS = (
    "inactive_days",
    "days_before",
    "audience",
    "conditions",
    "effects",
    "limits",
    "stackable",
    "holdout_percent",
)
COLUMN_FIELDS = ("name", "priority", "starts_at", "ends_at")
DEFAULT_RULE: dict[str, Any] = {
    "inactive_days": None,
    "days_before": None,
    "audience": {},
    "conditions": {},
    "effects": [],
    "limits": {},
    "stackable": True,
    "holdout_percent": 0,
}
# status → the actions allowed from it and where each leads
TRANSITIONS = {
    "draft": {"activate": "active", "end": "ended"},
    "active": {"pause": "paused", "end": "ended"},
    "paused": {"activate": "active", "end": "ended"},
    "ended": {},
}
BASE_EDITABLE = {"name", "conditions", "effects"}


class UnknownCampaign(NotFound):
    slug = "unknown-campaign"


class CampaignState(Conflict):
    slug = "campaign-state"


def _plain(value: Any) -> Any:
    """JSON-ready copies of what the schemas loaded (Decimals as strings)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _normalise_effect(effect: dict[str, Any]) -> dict[str, Any]:
    out = _plain(effect)
    if "amount" in out:
        out["amount"] = f"{Decimal(out['amount']):.2f}"
    return out


def snapshot(campaign: Campaign) -> dict[str, Any]:
    """The campaign's whole rule as one JSON document (what a version keeps)."""
    return {
        "name": campaign.name,
        "trigger": campaign.trigger,
        "priority": campaign.priority,
        "starts_at": campaign.starts_at.isoformat() if campaign.starts_at else None,
        "ends_at": campaign.ends_at.isoformat() if campaign.ends_at else None,
        **campaign.definition,
    }


def _check_rule(session: Session, trigger: str, rule: dict[str, Any], window: tuple) -> None:
    """Rules that span fields: the trigger's parameters, its facts and effects, the window."""
    if trigger == "member.inactive" and not rule.get("inactive_days"):
        raise InvalidInput("inactive_days", "member.inactive campaigns need inactive_days")
    if trigger != "member.inactive" and rule.get("inactive_days") is not None:
        raise InvalidInput("inactive_days", "only member.inactive campaigns take inactive_days")
    if trigger == "points.expiring" and rule.get("days_before") is None:
        raise InvalidInput("days_before", "points.expiring campaigns need days_before")
    if trigger != "points.expiring" and rule.get("days_before") is not None:
        raise InvalidInput("days_before", "only points.expiring campaigns take days_before")
    if foreign := sorted(rules.facts_foreign_to(trigger, rule.get("conditions"))):
        raise InvalidInput("conditions", f"{trigger} events do not carry {foreign[0]}")
    _check_effects(session, trigger, rule.get("effects") or [])
    _check_audience(session, rule.get("audience") or {})
    starts_at, ends_at = window
    if starts_at and ends_at and ends_at <= starts_at:
        raise InvalidInput("ends_at", "must be after starts_at")


def _check_effects(session: Session, trigger: str, effects: list[dict[str, Any]]) -> None:
    for index, effect in enumerate(effects):
        if effect["type"] in TRANSACTION_EFFECTS and trigger != "transaction.recorded":
            raise InvalidInput(
                f"effects.{index}.type", f"{effect['type']} needs a transaction.recorded trigger"
            )
        if effect["type"] == "issue_reward":
            catalog.get_reward(session, effect["reward_id"])  # 404 for an unknown reward
        if effect["type"] == "send_message" and not template_exists(session, effect["template"]):
            raise InvalidInput(f"effects.{index}.template", "no message template has this code")


def _check_audience(session: Session, audience: dict[str, Any]) -> None:
    if unknown := unknown_segments(session, audience.get("segments") or ()):
        raise InvalidInput("audience.segments", f"no segment has the id {unknown[0]}")


def segment_user(session: Session, segment_id: int) -> str | None:
    """The first campaign that has not ended whose audience names the segment."""
    found = session.execute(
        select(Campaign.id, Campaign.name, Campaign.definition)
        .where(Campaign.status != "ended")
        .order_by(Campaign.id)
    )
    for campaign_id, name, definition in found:
        if segment_id in ((definition.get("audience") or {}).get("segments") or ()):
            return f"campaign {campaign_id} ({name})"
    return None


def _record_version(session: Session, campaign: Campaign, actor: str) -> None:
    session.add(
        CampaignVersion(
            campaign_id=campaign.id,
            version=campaign.version,
            snapshot=snapshot(campaign),
            created_by=actor,
        )
    )


def create_campaign(session: Session, fields: dict[str, Any], actor: str) -> Campaign:
    """A new campaign in draft (version 1)."""
    rule = {**DEFAULT_RULE, **{k: _plain(fields[k]) for k in RULE_FIELDS if k in fields}}
    rule["effects"] = [_normalise_effect(e) for e in fields["effects"]]
    _check_rule(session, fields["trigger"], rule, (fields.get("starts_at"), fields.get("ends_at")))
    campaign = Campaign(
        name=fields["name"],
        trigger=fields["trigger"],
        status="draft",
        version=1,
        priority=fields.get("priority", 0),
        starts_at=fields.get("starts_at"),
        ends_at=fields.get("ends_at"),
        definition=rule,
        points_issued=0,
        applications=0,
    )
    session.add(campaign)
    session.flush()
    _record_version(session, campaign, actor)
    session.flush()
    return campaign


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise UnknownCampaign(f"No campaign {campaign_id}.")
    return campaign


def base_earning(session: Session) -> Campaign:
    found = session.scalar(select(Campaign).where(Campaign.builtin == BASE_EARNING))
    if found is None:
        raise UnknownCampaign(BASE_MISSING)
    return found


def list_campaigns(
    session: Session, status: str | None = None, trigger: str | None = None
) -> list[Campaign]:
    stmt = select(Campaign).order_by(Campaign.id)
    if status:
        stmt = stmt.where(Campaign.status == status)
    if trigger:
        stmt = stmt.where(Campaign.trigger == trigger)
    return list(session.scalars(stmt))


def list_versions(session: Session, campaign_id: int) -> list[CampaignVersion]:
    get_campaign(session, campaign_id)
    return list(
        session.scalars(
            select(CampaignVersion)
            .where(CampaignVersion.campaign_id == campaign_id)
            .order_by(CampaignVersion.version)
        )
    )


def _check_base_edit(campaign: Campaign, changes: dict[str, Any], role: str) -> None:
    if role != "admin":
        raise Forbidden("Only an admin changes the base earning rule.")
    if other := sorted(set(changes) - BASE_EDITABLE):
        raise InvalidInput(other[0], "the base earning rule takes name, conditions and effects")
    effects = changes.get("effects")
    if effects is not None and (
        len(effects) != 1 or effects[0]["type"] != "points_per_amount" or "scope" in effects[0]
    ):
        raise InvalidInput("effects", "the base earning rule is one points_per_amount, unscoped")


def update_campaign(
    session: Session, campaign_id: int, changes: dict[str, Any], actor: str, role: str
) -> Campaign:
    """Edit a campaign. A draft is edited in place; a live or paused one gets a new version,
    and effects from now on name it. An ended campaign cannot change."""
    campaign = get_campaign(session, campaign_id)
    if campaign.builtin:
        _check_base_edit(campaign, changes, role)
    if campaign.status == "ended":
        raise CampaignState("An ended campaign cannot be changed.")
    rule = {**campaign.definition}
    for key in RULE_FIELDS:
        if key in changes:
            rule[key] = _plain(changes[key])
    if "effects" in changes:
        rule["effects"] = [_normalise_effect(e) for e in changes["effects"]]
    window = (
        changes.get("starts_at", campaign.starts_at),
        changes.get("ends_at", campaign.ends_at),
    )
    _check_rule(session, campaign.trigger, rule, window)
    for key in COLUMN_FIELDS:
        if key in changes:
            setattr(campaign, key, changes[key])
    campaign.definition = rule
    if campaign.status == "draft":
        version = session.scalar(
            select(CampaignVersion).where(
                CampaignVersion.campaign_id == campaign.id,
                CampaignVersion.version == campaign.version,
            )
        )
        assert version is not None
        version.snapshot, version.created_by = snapshot(campaign), actor
    else:
        campaign.version += 1
        _record_version(session, campaign, actor)
    campaign.updated_at = utcnow()
    session.flush()
    return campaign


def change_status(session: Session, campaign_id: int, action: str, now: datetime) -> Campaign:
    """activate / pause / end, as TRANSITIONS allow; the base earning rule never ends."""
    campaign = get_campaign(session, campaign_id)
    target = TRANSITIONS[campaign.status].get(action)
    if target is None:
        raise CampaignState(f"A {campaign.status} campaign cannot {action}.")
    if campaign.builtin and action == "end":
        raise CampaignState("The base earning rule can be paused, not ended.")
    if action == "activate" and campaign.ends_at is not None and campaign.ends_at <= now:
        raise CampaignState("This campaign's end date has passed.")
    campaign.status = target
    if target == "active" and campaign.activated_at is None:
        campaign.activated_at = now
    if target == "ended":
        campaign.ended_at = now
    session.flush()
    return campaign


def set_base_rate(session: Session, points: int, amount: Decimal, actor: str) -> Campaign:
    """Change the base earn rate (a new version of the built-in campaign)."""
    campaign = base_earning(session)
    effect = {"type": "points_per_amount", "points": points, "amount": f"{amount:.2f}"}
    return update_campaign(session, campaign.id, {"effects": [effect]}, actor, "admin")


def base_rate(session: Session) -> tuple[int, int]:
    """(points, amount in minor units) of the base earning rule."""
    return rate_of(base_earning(session).definition)


def rate_of(definition: dict[str, Any]) -> tuple[int, int]:
    """(points, amount in minor units) of the base earning campaign's `definition`."""
    effect = definition["effects"][0]
    return int(effect["points"]), int(Decimal(effect["amount"]) * 100)

"""The live engine: campaigns applied to events inside the outbox drain's transaction.

For each event it builds the member's facts, plans with rewards.planning, then applies:
points to the journal (key: campaign, version, event, effect), rewards, messages and tags,
and one `campaign_applications` row per campaign and event, unique, so redelivery never
doubles anything. Budgets are taken with one conditional UPDATE of the campaign row; per-
member limits are counted under the member's row lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from loyalty.db import dialect_insert, per_transaction, utcnow
from members.messaging import service as messaging
from members.models import MemberTag
from rewards import redemption
from rewards.campaigns.facts import basket_facts, member_facts
from rewards.campaigns.planning import (
    Basket,
    CampaignRule,
    Effect,
    Event,
    Outcome,
    effect_points,
    in_audience,
    ordered,
    plan,
)
from rewards.campaigns.rules import evaluate
from rewards.earning.points import base_points
from rewards.earning.service import Purchase, credit_base, points_expiry
from rewards.ledger import journal
from rewards.models import Campaign, CampaignApplication, CampaignVersion

RULES_CACHE = "rewards.campaigns.engine.rules"


@dataclass(frozen=True)
class EngineSettings:
    timezone: str
    message_policy: messaging.MessagePolicy


def settings_from_config(config: Mapping[str, Any]) -> EngineSettings:
    return EngineSettings(config["TIMEZONE"], messaging.policy_from_config(config))


@dataclass(frozen=True)
class Program:
    """The live campaigns, compiled once per database transaction."""

    base: CampaignRule | None  # None while the base earning rule is paused
    by_trigger: dict[str, list[CampaignRule]]

    def rules_for(self, trigger: str) -> list[CampaignRule]:
        return self.by_trigger.get(trigger, [])


def compile_campaign(campaign: Campaign) -> CampaignRule:
    doc = {
        **campaign.definition,
        "name": campaign.name,
        "trigger": campaign.trigger,
        "priority": campaign.priority,
    }
    return CampaignRule.compile(
        campaign.id,
        campaign.version,
        doc,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        builtin=campaign.builtin,
    )


def compile_version(version: CampaignVersion, campaign: Campaign) -> CampaignRule:
    return CampaignRule.compile(
        campaign.id,
        version.version,
        version.snapshot,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        builtin=campaign.builtin,
    )


def _load_program(session: Session) -> Program:
    rows = session.scalars(
        select(Campaign)
        .where(Campaign.status == "active")
        .execution_options(populate_existing=True)
    )
    base, by_trigger = None, {}
    for campaign in rows:
        rule = compile_campaign(campaign)
        if rule.builtin:
            base = rule
        else:
            by_trigger.setdefault(rule.trigger, []).append(rule)
    return Program(base, {t: ordered(r) for t, r in by_trigger.items()})


def live_program(session: Session) -> Program:
    """Active campaigns by trigger, read once per transaction (a batch reads them once)."""
    return per_transaction(session, RULES_CACHE, lambda: _load_program(session))


class DbLimits:
    """Limits as the database holds them (read under the member's row lock), for one event:
    the member's applications of the limited campaigns and the budgets are each read once."""

    def __init__(self, session: Session, member_id: int, candidates: list[CampaignRule]) -> None:
        self.session = session
        self.member_id = member_id
        self.candidates = candidates
        self._applied: dict[int, list[datetime]] | None = None
        self._budgets: dict[int, tuple[int, int]] | None = None

    def _applications(self) -> dict[int, list[datetime]]:
        if self._applied is None:
            limited = [rule.id for rule in self.candidates if rule.per_member is not None]
            self._applied = {campaign_id: [] for campaign_id in limited}
            rows = self.session.execute(
                select(CampaignApplication.campaign_id, CampaignApplication.occurred_at).where(
                    CampaignApplication.member_id == self.member_id,
                    CampaignApplication.campaign_id.in_(limited),
                    CampaignApplication.group == "treated",
                )
            )
            for campaign_id, at in rows:
                self._applied[campaign_id].append(at)
        return self._applied

    def used_by_member(
        self, rule: CampaignRule, member_id: int, period: tuple[datetime, datetime] | None
    ) -> int:
        assert member_id == self.member_id
        times = self._applications().get(rule.id, [])
        if period is None:
            return len(times)
        return sum(1 for at in times if period[0] <= at < period[1])

    def budget_used(self, rule: CampaignRule) -> tuple[int, int]:
        if self._budgets is None:
            budgeted = [
                r.id
                for r in self.candidates
                if r.budget_points is not None or r.budget_count is not None
            ]
            rows = self.session.execute(
                select(Campaign.id, Campaign.points_issued, Campaign.applications).where(
                    Campaign.id.in_(budgeted)
                )
            )
            self._budgets = {
                row.id: (int(row.points_issued), int(row.applications)) for row in rows
            }
        return self._budgets[rule.id]


def _take_budget(session: Session, rule: CampaignRule, points: int) -> bool:
    """Count an application against the campaign's budget, atomically; False when it is spent."""
    if rule.budget_points is None and rule.budget_count is None:
        return True
    stmt = (
        update(Campaign)
        .where(Campaign.id == rule.id)
        .values(
            points_issued=Campaign.points_issued + points,
            applications=Campaign.applications + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if rule.budget_points is not None:
        stmt = stmt.where(Campaign.points_issued + points <= rule.budget_points)
    if rule.budget_count is not None:
        stmt = stmt.where(Campaign.applications + 1 <= rule.budget_count)
    return bool(session.execute(stmt).rowcount)


def tag_members(session: Session, tags: set[tuple[int, str]]) -> None:
    """Put tags on members, (member, tag) each, in one statement; a tag already there stays
    as it is."""
    if not tags:
        return
    now = utcnow()
    rows = [{"member_id": member, "tag": tag, "created_at": now} for member, tag in sorted(tags)]
    session.execute(dialect_insert(session, MemberTag.__table__).on_conflict_do_nothing(), rows)


Credit = tuple[dict[str, Any], journal.Entry]  # the result to name the entry in, the entry


def bonus_entry(rule: CampaignRule, event: Event, effect: Effect, points: int) -> journal.Entry:
    """The journal entry of a points effect; its key makes it once per campaign version,
    event and effect."""
    return journal.Entry(
        member_id=event.member_id,
        kind="bonus",
        points=points,
        account="campaign",
        key=f"campaign:{rule.id}:v{rule.version}:{event.key}:{effect.index}",
        cause_type="transaction" if event.transaction_id else "campaign",
        cause_id=str(event.transaction_id or rule.id),
        description=rule.name,
        rule=f"campaign:{rule.id}:v{rule.version}",
    )


def _apply_effects(
    session: Session, event: Event, outcome: Outcome, settings: EngineSettings
) -> tuple[list[dict[str, Any]], list[Credit]]:
    """Apply the outcome's effects in order, except points, which are returned to be posted
    together; a message sees what the effects before it gave (points, the voucher) and the
    event's facts, as template variables."""
    rule, results, credits = outcome.rule, [], []
    context: dict[str, Any] = {
        "campaign": rule.name,
        "points": outcome.points,
        **{name.replace(".", "_"): value for name, value in event.facts.items()},
    }
    for effect, points in outcome.effects:
        result: dict[str, Any] = {"type": effect.type}
        if points > 0:
            result["points"] = points
            credits.append((result, bonus_entry(rule, event, effect, points)))
        elif effect.type == "issue_reward":
            assert effect.reward_id is not None
            voucher = redemption.grant_reward(
                session, event.member_id, effect.reward_id, rule.id, utcnow()
            )
            result.update(reward_id=effect.reward_id, voucher=voucher.code if voucher else None)
            result["status"] = "issued" if voucher else "unavailable"
            if voucher is not None:
                context.update(
                    voucher=voucher.code, reward=redemption.reward_name(session, voucher)
                )
        elif effect.type == "send_message":
            assert effect.channel is not None
            assert effect.template is not None
            sent = messaging.send_member_message(
                session,
                event.member_id,
                effect.channel,
                effect.template,
                context,
                campaign_id=rule.id,
                now=utcnow(),
                policy=settings.message_policy,
            )
            result.update(status=sent.status, reason=sent.reason, message_id=sent.message_id)
        elif effect.type == "tag_member":
            assert effect.tag is not None
            tag_members(session, {(event.member_id, effect.tag)})
            result["tag"] = effect.tag
        else:
            result["points"] = 0
        results.append(result)
    return results, credits


def application_row(
    event: Event, outcome: Outcome, facts: dict[str, Any], results: list[dict[str, Any]]
) -> dict[str, Any]:
    points = outcome.points if outcome.group == "treated" else 0
    return {
        "campaign_id": outcome.rule.id,
        "version": outcome.rule.version,
        "event_key": event.key,
        "member_id": event.member_id,
        "group": outcome.group,
        "occurred_at": event.occurred_at,
        "transaction_id": event.transaction_id,
        "points": points,
        "points_issued": points,
        "member_facts": {k: v for k, v in facts.items() if k.startswith("member.")},
        "results": results,
        "created_at": utcnow(),
    }


def apply_outcomes(
    session: Session,
    event: Event,
    outcomes: list[Outcome],
    facts: dict[str, Any],
    settings: EngineSettings,
) -> int:
    """Write what the plan decided; returns the points given. A campaign whose budget ran out
    between planning and now is left out. All the event's campaign points are posted with one
    balance update and one insert per table (journal.credit_many)."""
    given, rows, credits = 0, [], []
    for outcome in outcomes:
        results: list[dict[str, Any]] = []
        if outcome.group == "treated":
            if not _take_budget(session, outcome.rule, outcome.points):
                continue
            results, owed = _apply_effects(session, event, outcome, settings)
            credits.extend(owed)
            given += outcome.points
        rows.append(application_row(event, outcome, facts, results))
    if credits:
        expires_at = points_expiry(session, event.occurred_at, settings.timezone)
        ids = journal.credit_many(session, [spec for _result, spec in credits], expires_at)
        for (result, _spec), entry_id in zip(credits, ids, strict=True):
            result["entry_id"] = entry_id
    if rows:
        session.execute(insert(CampaignApplication.__table__), rows)
    return given


def _already_applied(session: Session, event: Event, candidates: list[CampaignRule]) -> bool:
    """Whether a campaign already met this event (a redelivered event)."""
    found = session.scalar(
        select(CampaignApplication.id)
        .where(
            CampaignApplication.campaign_id.in_([rule.id for rule in candidates]),
            CampaignApplication.event_key == event.key,
        )
        .limit(1)
    )
    return found is not None


def facts_for(
    session: Session,
    event: Event,
    candidates: list[CampaignRule],
    timezone: str,
    purchase_minor: int | None = None,
) -> dict[str, Any]:
    facts = member_facts(
        session,
        event.member_id,
        event.occurred_at,
        timezone,
        with_tags=any(rule.needs_tags for rule in candidates),
        with_segments=any(rule.needs_segments for rule in candidates),
        purchase_minor=purchase_minor,
    )
    if event.basket is not None:
        facts.update(basket_facts(event.basket, event.occurred_at, timezone))
    facts.update(event.facts)
    return facts


def base_applies(program: Program, facts: dict[str, Any]) -> bool:
    """Whether the base earning rule earns on this sale (active, audience and conditions)."""
    base = program.base
    return base is not None and in_audience(base, facts) and evaluate(base.conditions, facts)


@dataclass(frozen=True)
class SaleResult:
    base_points: int
    bonus_points: int
    base_version: int | None


def handle_event(session: Session, event: Event, settings: EngineSettings) -> int:
    """Apply the live campaigns of the event's trigger to it, once; returns the points given."""
    candidates = live_program(session).rules_for(event.trigger)
    if not candidates or _already_applied(session, event, candidates):
        return 0
    journal.lock_member(session, event.member_id)
    facts = facts_for(session, event, candidates, settings.timezone)
    outcomes = plan(
        candidates, event, facts, DbLimits(session, event.member_id, candidates), settings.timezone
    )
    return apply_outcomes(session, event, outcomes, facts, settings)


def _with_base(program: Program, candidates: list[CampaignRule]) -> list[CampaignRule]:
    return [*candidates, program.base] if program.base else candidates


def handle_sale(
    session: Session, event: Event, purchase: Purchase, settings: EngineSettings
) -> SaleResult:
    """Earn on a sale whose visit and spend are already counted (its member row is held):
    the base rule, then the campaigns, on the same facts."""
    assert event.basket is not None
    program = live_program(session)
    candidates = program.rules_for(event.trigger)
    facts = facts_for(session, event, _with_base(program, candidates), settings.timezone)
    allowed = base_points(purchase.total_minor, event.basket.basis)
    entry = credit_base(
        session, purchase, allowed if base_applies(program, facts) else 0, settings.timezone
    )
    base = entry.points if entry else 0
    bonus = 0
    if candidates:
        event = replace(event, basket=replace(event.basket, base_points=base))
        outcomes = plan(
            candidates,
            event,
            facts,
            DbLimits(session, event.member_id, candidates),
            settings.timezone,
        )
        bonus = apply_outcomes(session, event, outcomes, facts, settings)
    return SaleResult(base, bonus, program.base.version if program.base else None)


@dataclass(frozen=True)
class Quote:
    base_points: int
    outcomes: list[Outcome]

    @property
    def points(self) -> int:
        return self.base_points + sum(o.points for o in self.outcomes if o.group == "treated")


def quote_sale(session: Session, event: Event, timezone: str) -> Quote:
    """What a sale not yet recorded would earn, with no side effect: the same planning as
    `handle_sale`, on the member's facts with this sale counted."""
    assert event.basket is not None
    program = live_program(session)
    candidates = program.rules_for(event.trigger)
    facts = facts_for(
        session,
        event,
        _with_base(program, candidates),
        timezone,
        purchase_minor=event.basket.total_minor,
    )
    base = base_points(event.basket.total_minor, event.basket.basis)
    base = base if base_applies(program, facts) else 0
    event = replace(event, basket=replace(event.basket, base_points=base))
    outcomes = plan(
        candidates, event, facts, DbLimits(session, event.member_id, candidates), timezone
    )
    return Quote(base, outcomes)


def _rule_of(session: Session, application: CampaignApplication) -> CampaignRule:
    campaign = session.get(Campaign, application.campaign_id)
    version = session.scalar(
        select(CampaignVersion).where(
            CampaignVersion.campaign_id == application.campaign_id,
            CampaignVersion.version == application.version,
        )
    )
    assert campaign is not None
    assert version is not None
    return compile_version(version, campaign)


def reverse_for_refund(
    session: Session, sale_id: int, refund_id: int, remaining: Basket, at: datetime, timezone: str
) -> int:
    """Take back campaign points a refunded sale no longer earns: each campaign applied to the
    sale is decided again, by the version that applied, on what is left of the sale and the
    member's facts as they were. Returns the points reversed (the balance may go below zero)."""
    applications = session.scalars(
        select(CampaignApplication).where(
            CampaignApplication.transaction_id == sale_id,
            CampaignApplication.group == "treated",
            CampaignApplication.points > 0,
        )
    ).all()
    reversed_points = 0
    for application in applications:
        rule = _rule_of(session, application)
        facts = {**application.member_facts, **basket_facts(remaining, at, timezone)}
        holds = in_audience(rule, facts) and evaluate(rule.conditions, facts)
        worth = sum(effect_points(e, remaining) for e in rule.effects) if holds else 0
        back = application.points - worth
        if back <= 0:
            continue
        spec = journal.Entry(
            member_id=application.member_id,
            kind="reverse",
            points=back,
            account="campaign",
            key=f"reverse:campaign:{application.id}:txn:{refund_id}",
            cause_type="transaction",
            cause_id=str(refund_id),
            description=f"Refund: {rule.name}",
            rule=f"campaign:{rule.id}:v{rule.version}",
        )
        journal.debit(session, spec, allow_negative=True)
        application.points = worth
        reversed_points += back
    return reversed_points

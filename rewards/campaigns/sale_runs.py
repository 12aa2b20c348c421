"""The campaigns on `transaction.recorded` decided for a run of sales at once: the set-based
engine's share of `engine.handle_sale` (rewards/earning/sale_batches.py).

Each sale is planned exactly as the single path plans it (`planning.plan`, the same facts).
What that path reads for every sale — the member's profile, tags and segments, the per-member
limits and the budgets — is read once for the run and counted forward in memory as the run
applies campaigns; what the run decides is written with one statement per table. The members'
rows are held by the caller and the budgeted campaigns' rows are locked here (on PostgreSQL),
so what is counted in memory is what the database holds.

A run is decided so while every live campaign on the trigger gives points or tags only; one
that issues rewards or sends messages sends the run through the single path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.bulk import insert_rows, update_rows
from loyalty.db import is_postgres, one_of
from loyalty.models import Store
from members.models import MemberTag
from members.segments.service import segments_of
from rewards.campaigns.engine import application_row, bonus_entry, tag_members
from rewards.campaigns.facts import basket_facts, profile_facts
from rewards.campaigns.planning import CampaignRule, Event, Outcome, plan
from rewards.ledger import journal
from rewards.models import Campaign, CampaignApplication

SET_BASED_EFFECTS = frozenset(
    {"award_points", "points_per_amount", "multiply_points", "tag_member"}
)
APPLICATIONS = CampaignApplication.__table__
CAMPAIGNS = Campaign.__table__


def decidable(rules: Iterable[CampaignRule]) -> bool:
    """Whether these campaigns can be decided for a run at once (points and tags only)."""
    return all(effect.type in SET_BASED_EFFECTS for rule in rules for effect in rule.effects)


class RunLimits:
    """`planning.Limits` for a run: the members' treated applications of limited campaigns and
    the budgets, read once (budgeted campaigns locked), then counted as the run applies."""

    def __init__(self, session: Session, member_ids: set[int], rules: list[CampaignRule]) -> None:
        self.times: dict[tuple[int, int], list[datetime]] = defaultdict(list)
        limited = [rule.id for rule in rules if rule.per_member is not None]
        if limited and member_ids:
            rows = session.execute(
                select(APPLICATIONS.c.campaign_id, APPLICATIONS.c.member_id)
                .add_columns(APPLICATIONS.c.occurred_at)
                .where(APPLICATIONS.c.campaign_id.in_(limited), APPLICATIONS.c.group == "treated")
                .where(one_of(session, APPLICATIONS.c.member_id, member_ids))
            )
            for campaign_id, member_id, at in rows:
                self.times[(campaign_id, member_id)].append(at)
        self.budgets = _locked_budgets(session, rules)
        self.taken: set[int] = set()

    def used_by_member(
        self, rule: CampaignRule, member_id: int, period: tuple[datetime, datetime] | None
    ) -> int:
        times = self.times.get((rule.id, member_id), [])
        if period is None:
            return len(times)
        return sum(1 for at in times if period[0] <= at < period[1])

    def budget_used(self, rule: CampaignRule) -> tuple[int, int]:
        points, count = self.budgets[rule.id]
        return points, count

    def take(self, rule: CampaignRule, member_id: int, at: datetime, points: int) -> None:
        """Count a treated application against the member's limit and the budget."""
        if rule.per_member is not None:
            self.times[(rule.id, member_id)].append(at)
        if rule.id in self.budgets:
            self.budgets[rule.id][0] += points
            self.budgets[rule.id][1] += 1
            self.taken.add(rule.id)

    def write(self, session: Session) -> None:
        """The budgets' counters as the run leaves them (one statement)."""
        rows = [
            {"id": i, "points_issued": self.budgets[i][0], "applications": self.budgets[i][1]}
            for i in sorted(self.taken)
        ]
        update_rows(
            session,
            CAMPAIGNS,
            "id",
            rows,
            lambda v: {"points_issued": v["points_issued"], "applications": v["applications"]},
        )


def _locked_budgets(session: Session, rules: list[CampaignRule]) -> dict[int, list[int]]:
    budgeted = [
        rule.id for rule in rules if rule.budget_points is not None or rule.budget_count is not None
    ]
    if not budgeted:
        return {}
    stmt = (
        select(CAMPAIGNS.c.id, CAMPAIGNS.c.points_issued, CAMPAIGNS.c.applications)
        .where(CAMPAIGNS.c.id.in_(budgeted))
        .order_by(CAMPAIGNS.c.id)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(key_share=True)
    rows = session.execute(stmt)
    return {row.id: [int(row.points_issued), int(row.applications)] for row in rows}


class Profiles:
    """The run's members as the campaigns see them, counted forward sale by sale: visits and
    spend, and tags (and segments) when a campaign reads them."""

    def __init__(
        self, session: Session, members: Mapping[int, Any], rules: list[CampaignRule]
    ) -> None:
        self.rows = members  # id, visits, lifetime_spend_minor, enrolled_at, birthdate
        self.counted = {
            m: [int(row.visits), int(row.lifetime_spend_minor)] for m, row in members.items()
        }
        self.tags: dict[int, set[str]] | None = None
        if any(rule.needs_tags for rule in rules):
            self.tags = defaultdict(set)
            found = select(MemberTag.member_id, MemberTag.tag)
            for member_id, tag in session.execute(
                found.where(one_of(session, MemberTag.member_id, members))
            ):
                self.tags[member_id].add(tag)
        self.segments: dict[int, list[int]] | None = None
        if any(rule.needs_segments for rule in rules):
            self.segments = segments_of(session, members)

    def count(self, member_id: int, total_minor: int) -> None:
        """A sale of the member's counted (as `count_purchase` counts it before the plan)."""
        self.counted[member_id][0] += 1
        self.counted[member_id][1] += total_minor

    def tag(self, member_id: int, tag: str) -> None:
        if self.tags is not None:
            self.tags[member_id].add(tag)

    def facts(self, member_id: int, tier: str, at: datetime, timezone: str) -> dict[str, Any]:
        row, (visits, spend) = self.rows[member_id], self.counted[member_id]
        return profile_facts(
            tier=tier,
            visits=visits,
            spend_minor=spend,
            enrolled_at=row.enrolled_at,
            birthdate=row.birthdate,
            at=at,
            timezone=timezone,
            tags=list(self.tags.get(member_id, ())) if self.tags is not None else None,
            segments=self.segments.get(member_id, []) if self.segments is not None else None,
        )


def store_codes(session: Session, store_ids: set[int]) -> dict[int, str]:
    rows = session.execute(select(Store.id, Store.code).where(Store.id.in_(store_ids)))
    return {store_id: code for store_id, code in rows}


@dataclass
class SaleCampaigns:
    """The run's live campaigns and what they have decided so far."""

    rules: list[CampaignRule]
    profiles: Profiles
    limits: RunLimits
    stores: dict[int, str]
    timezone: str
    applications: list[dict[str, Any]] = field(default_factory=list)
    tags: set[tuple[int, str]] = field(default_factory=set)
    named: dict[str, dict[str, Any]] = field(default_factory=dict)  # entry key → its result

    def decide(self, event: Event, tier: str) -> list[journal.Entry]:
        """Plan the sale (its visit counted, its base points on the basket) and apply what
        answers it; returns the bonus entries to post after its base entry."""
        assert event.basket is not None
        at = event.occurred_at
        facts = self.profiles.facts(event.member_id, tier, at, self.timezone)
        facts.update(basket_facts(event.basket, at, self.timezone))
        entries: list[journal.Entry] = []
        for outcome in plan(self.rules, event, facts, self.limits, self.timezone):
            results: list[dict[str, Any]] = []
            if outcome.group == "treated":
                self.limits.take(outcome.rule, event.member_id, at, outcome.points)
                results = self._effects(event, outcome, entries)
            self.applications.append(application_row(event, outcome, facts, results))
        return entries

    def _effects(
        self, event: Event, outcome: Outcome, entries: list[journal.Entry]
    ) -> list[dict[str, Any]]:
        """As `engine._apply_effects`, for points and tags."""
        results = []
        for effect, points in outcome.effects:
            result: dict[str, Any] = {"type": effect.type}
            if points > 0:
                result["points"] = points
                entry = bonus_entry(outcome.rule, event, effect, points)
                self.named[entry.key] = result
                entries.append(entry)
            elif effect.type == "tag_member":
                assert effect.tag is not None
                self.tags.add((event.member_id, effect.tag))
                self.profiles.tag(event.member_id, effect.tag)
                result["tag"] = effect.tag
            else:
                result["points"] = 0
            results.append(result)
        return results

    def write(self, session: Session, entry_ids: Mapping[str, int]) -> None:
        """Tags, applications (each naming its entries) and budgets, once the run's credits
        are posted (`entry_ids`: journal key → entry id)."""
        for key, result in self.named.items():
            result["entry_id"] = entry_ids[key]
        tag_members(session, self.tags)
        insert_rows(session, APPLICATIONS, self.applications)
        self.limits.write(session)


def for_run(
    session: Session,
    rules: list[CampaignRule],
    members: Mapping[int, Any],
    store_ids: set[int],
    timezone: str,
) -> SaleCampaigns:
    """The campaigns of a run whose members' rows (`members`) the caller holds."""
    return SaleCampaigns(
        rules=rules,
        profiles=Profiles(session, members, rules),
        limits=RunLimits(session, set(members), rules),
        stores=store_codes(session, store_ids),
        timezone=timezone,
    )

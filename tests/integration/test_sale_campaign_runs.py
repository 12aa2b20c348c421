"""Campaigns decided for a run of sales at once (`rewards/campaigns/sale_runs.py`) give exactly
what `processing.process_sale` gives each sale in turn: the same applications (treated and
held out), bonus entries, balances, tags, per-member limits and budgets — with conditions on
category, hour, store, total and the member's purchases and tags, multipliers, an exclusive
campaign, budgets that run out part-way and a holdout."""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select

from loyalty import jobs
from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.staff import create_store
from loyalty.unit_of_work import unit_of_work
from members.messaging.service import save_template
from members.models import Member, MemberDay, MemberTag
from members.service import Enrolment, enrol_member
from pos_adapters.batch_ingestion import Sale, record_sales
from pos_adapters.ingestion import Source
from rewards.campaigns.engine import tag_members
from rewards.campaigns.planning import in_holdout
from rewards.campaigns.schemas import CampaignCreateSchema
from rewards.campaigns.service import change_status, create_campaign
from rewards.earning import sale_batches
from rewards.models import Campaign, CampaignApplication, JournalEntry, Transaction

BANGKOK = ZoneInfo("Asia/Bangkok")
MENU = [  # sku, category, price
    ("CF-LATTE", "coffee", "75.00"),
    ("CF-AMER", "coffee", "60.00"),
    ("TE-THAI", "tea", "55.00"),
    ("BK-CROIS", "bakery", "65.00"),
    ("BK-BROWN", "bakery", "90.00"),
    ("FD-SANDW", "food", "120.00"),
]
SALES_PER_COHORT = 48
MEMBER_KEYED = ("journal", "tags", "days")  # rows led by the member's position, in id order
HOLDOUT, HOLDOUT_CAMPAIGN = 50, 6  # the afternoon campaign holds half its members out


def _fact(fact: str, op: str, value: Any) -> dict[str, Any]:
    return {"fact": fact, "op": op, "value": value}


def _campaigns(cohort: str) -> list[dict[str, Any]]:
    """Ten campaigns for one cohort's members (audience: the cohort's tag)."""
    docs: list[dict[str, Any]] = [
        {"name": "Tea double", "priority": 5,
         "conditions": _fact("items.category", "contains", "tea"),
         "effects": [{"type": "multiply_points", "factor": 2, "scope": {"category": ["tea"]}}]},
        {"name": "Lunch hours", "conditions": _fact("transaction.hour", "between", [11, 15]),
         "effects": [{"type": "award_points", "points": 10}],
         "limits": {"per_member": {"count": 1, "period": "day"}}},
        {"name": "Big basket", "conditions": _fact("transaction.total", "gte", "150.00"),
         "effects": [{"type": "points_per_amount", "points": 1, "amount": "50.00"}]},
        {"name": "Bakery at BKK01", "conditions": {"all": [
            _fact("transaction.store", "eq", "BKK01"),
            _fact("items.category", "contains", "bakery")]},
         "effects": [{"type": "points_per_amount", "points": 2, "amount": "25.00",
                      "scope": {"category": ["bakery"]}}]},
        {"name": "Second visit", "conditions": _fact("member.nth_purchase", "eq", 2),
         "effects": [{"type": "award_points", "points": 50},
                     {"type": "tag_member", "tag": f"repeat-{cohort}"}],
         "limits": {"per_member": {"count": 1, "period": "campaign"}}},
        {"name": "Latte (budget)", "conditions": _fact("items.sku", "contains", "CF-LATTE"),
         "effects": [{"type": "award_points", "points": 5}], "limits": {"budget_count": 4}},
        {"name": "Afternoon", "conditions": _fact("transaction.hour", "between", [14, 18]),
         "effects": [{"type": "multiply_points", "factor": "1.5"}], "holdout_percent": HOLDOUT},
        {"name": "Regulars", "conditions": _fact("member.tags", "contains", f"repeat-{cohort}"),
         "effects": [{"type": "award_points", "points": 7}]},
        {"name": "Coffee (budget)", "conditions": _fact("items.category", "contains", "coffee"),
         "effects": [{"type": "points_per_amount", "points": 1, "amount": "25.00",
                      "scope": {"category": ["coffee"]}}], "limits": {"budget_points": 30}},
        {"name": "Big spender only", "priority": 9, "stackable": False,
         "conditions": _fact("transaction.total", "gte", "300.00"),
         "effects": [{"type": "award_points", "points": 20}]},
    ]  # fmt: skip
    audience = {"tags": [f"cohort-{cohort}"]}
    return [
        {**doc, "name": f"{doc['name']} {cohort}", "trigger": "transaction.recorded",
         "audience": audience}
        for doc in docs
    ]  # fmt: skip


def _launch(app: Flask) -> dict[str, list[int]]:
    schema, made = CampaignCreateSchema(), {}
    with app.app_context(), unit_of_work():
        for cohort in ("alpha", "bravo"):
            made[cohort] = [
                change_status(
                    db.session,
                    create_campaign(db.session, schema.load(doc), "test").id,
                    "activate",
                    utcnow(),
                ).id
                for doc in _campaigns(cohort)
            ]
    return made


def _enrol(app: Flask, cohort: str, count: int) -> list[int]:
    with app.app_context():
        with unit_of_work():
            ids = [
                enrol_member(
                    db.session, Enrolment(name=f"{cohort}{n}", email=f"{cohort}{n}@x.th")
                ).id
                for n in range(count)
            ]
        jobs.drain_now(app)  # the enrolments' own events
    return ids


def _members(app: Flask, cohort: str, held_out: list[bool], campaign_id: int) -> list[int]:
    """Members of the cohort who stand as `held_out` says in the holdout campaign's hash (so
    two cohorts meet their holdout alike), tagged with the cohort's tag."""
    candidates, chosen = _enrol(app, cohort, 24), []
    for wanted in held_out:
        match = next(m for m in candidates if in_holdout(campaign_id, m, HOLDOUT) == wanted)
        candidates.remove(match)
        chosen.append(match)
    with app.app_context(), unit_of_work():
        tag_members(db.session, {(member, f"cohort-{cohort}") for member in chosen})
    return chosen


def _sales(cohort: str, members: list[int]) -> dict[str, list[Sale]]:
    """The same receipts for either cohort (the same seed), by store."""
    rng, now, by_store = random.Random(11), datetime.now(BANGKOK), {"BKK01": [], "BKK02": []}
    for n in range(SALES_PER_COHORT):
        day = now - timedelta(days=4 - n * 4 // SALES_PER_COHORT)
        at = day.replace(hour=rng.randint(7, 20), minute=n % 60, second=0, microsecond=0)
        lines = rng.sample(MENU, rng.randint(1, 3))
        items = [
            {"sku": sku, "category": category, "quantity": rng.randint(1, 2), "unit_price": price}
            for sku, category, price in lines
        ]
        total = sum(Decimal(i["unit_price"]) * i["quantity"] for i in items)
        who = rng.choice([0, 0, 1, 1, 2, None])
        receipt = {
            "external_id": f"{cohort}-{n}", "occurred_at": at, "type": "sale", "currency": "THB",
            "total": total, "discount": Decimal("0.00"),
            "items": [{**i, "unit_price": Decimal(i["unit_price"])} for i in items],
        }  # fmt: skip
        store = rng.choice(["BKK01", "BKK02"])
        by_store[store].append(Sale(receipt, None if who is None else members[who]))
    return by_store


def _record_and_process(
    app: Flask, cohort: str, members: list[int], stores: dict[str, int], batched: bool
) -> None:
    with app.app_context(), jobs.drains_deferred(), unit_of_work():
        for code, sales in _sales(cohort, members).items():
            source = Source(stores[code], None, "THB", None, utcnow(), adapter="csv")  # type: ignore[arg-type]
            record_sales(db.session, sales, source)
    with app.app_context(), pytest.MonkeyPatch.context() as patch:
        if not batched:  # the same drain with no handler of runs: each sale on its own
            patch.setitem(app.extensions, "loyalty.outbox_batch_handlers", {})
        jobs.drain_now(app, 500)


class Names:
    """Ids of one cohort's rows replaced by positions, so two cohorts compare."""

    def __init__(self, cohort: str, members: list[int], campaigns: list[int], sales: list[int]):
        self.cohort = cohort
        self.members = {m: n for n, m in enumerate(members)}
        self.campaigns = {c: n for n, c in enumerate(campaigns)}
        self.sales = {t: n for n, t in enumerate(sales)}

    def text(self, value: str) -> str:
        value = value.replace(f"-{self.cohort}", "-X").replace(f" {self.cohort}", " X")
        value = re.sub(r"campaign:(\d+)", lambda m: f"campaign:c{self.campaigns[int(m[1])]}", value)
        return re.sub(r"txn:(\d+)", lambda m: f"txn:t{self.sales[int(m[1])]}", value)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple):
            return type(value)(self.value(v) for v in value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        return value


def _snapshot(app: Flask, cohort: str, members: list[int], campaigns: list[int]) -> dict[str, Any]:
    with app.app_context():
        s = db.session
        sales = s.scalars(
            select(Transaction)
            .where(Transaction.external_id.like(f"{cohort}-%"))
            .order_by(Transaction.id)
        ).all()
        names = Names(cohort, members, campaigns, [t.id for t in sales])
        keys = dict(s.execute(select(JournalEntry.id, JournalEntry.idempotency_key)).all())

        def applied(a: CampaignApplication) -> tuple:
            results = [{**r, "entry_id": keys.get(r.get("entry_id"))} for r in a.results]
            return (
                names.campaigns[a.campaign_id], names.members[a.member_id], a.group, a.points,
                a.points_issued, names.sales[a.transaction_id], a.member_facts, results,
            )  # fmt: skip

        snap = {
            "members": sorted(
                (
                    names.members[m.id],
                    m.points_balance,
                    m.visits,
                    m.lifetime_spend_minor,
                    m.tier_code,
                )
                for m in s.scalars(select(Member).where(Member.id.in_(members)))
            ),
            "sales": [(t.status, t.base_points, t.points_awarded, t.points_pending) for t in sales],
            "journal": [
                (
                    names.members[e.member_id],
                    e.kind,
                    e.points,
                    e.balance_after,
                    e.idempotency_key,
                    e.rule,
                )
                for e in s.scalars(
                    select(JournalEntry)
                    .where(JournalEntry.member_id.in_(members))
                    .order_by(JournalEntry.id)
                )
            ],
            "applications": list(
                applied(a)
                for a in s.scalars(
                    select(CampaignApplication).where(
                        CampaignApplication.campaign_id.in_(campaigns)
                    )
                )
            ),
            "tags": sorted(
                (names.members[t.member_id], t.tag)
                for t in s.scalars(select(MemberTag).where(MemberTag.member_id.in_(members)))
            ),
            "budgets": [
                (names.campaigns[c.id], c.points_issued, c.applications)
                for c in s.scalars(
                    select(Campaign).where(Campaign.id.in_(campaigns)).order_by(Campaign.id)
                )
            ],
            "days": [
                (names.members[d.member_id], d.day, d.spend_minor, d.points, d.purchases)
                for d in s.scalars(
                    select(MemberDay)
                    .where(MemberDay.member_id.in_(members))
                    .order_by(MemberDay.member_id, MemberDay.day)
                )
            ],
        }
        snap = names.value(snap)
        by_member = {key: sorted(snap[key], key=lambda row: row[0]) for key in MEMBER_KEYED}
        return {**snap, **by_member, "applications": sorted(snap["applications"], key=repr)}


@pytest.fixture
def stores(app: Flask) -> dict[str, int]:
    with app.app_context(), unit_of_work():
        return {
            code: create_store(db.session, code, f"Store {code}").id for code in ("BKK01", "BKK02")
        }


def test_campaigns_decided_for_a_run_equal_one_sale_at_a_time(app, stores):
    campaigns = _launch(app)
    with app.app_context():
        assert sale_batches.batchable(db.session)  # points and tags only: decided set-based
    alpha = _members(app, "alpha", [False, True, False], campaigns["alpha"][HOLDOUT_CAMPAIGN])
    held_out = [in_holdout(campaigns["alpha"][HOLDOUT_CAMPAIGN], m, HOLDOUT) for m in alpha]
    bravo = _members(app, "bravo", held_out, campaigns["bravo"][HOLDOUT_CAMPAIGN])
    _record_and_process(app, "alpha", alpha, stores, batched=True)
    _record_and_process(app, "bravo", bravo, stores, batched=False)
    first, second = (
        _snapshot(app, "alpha", alpha, campaigns["alpha"]),
        _snapshot(app, "bravo", bravo, campaigns["bravo"]),
    )
    assert first == second
    # and the campaigns did what their rules say, so the two are not equal by doing nothing
    applied = {row[0] for row in first["applications"] if row[2] == "treated"}
    assert applied == set(range(10))
    assert {row[2] for row in first["applications"]} == {"treated", "holdout"}
    budgets = dict((row[0], row[1:]) for row in first["budgets"])
    assert budgets[5][1] == 4  # the latte budget ran out at four applications
    assert 0 < budgets[8][0] <= 30  # the coffee budget's points, never above it
    assert "repeat-X" in {tag for _member, tag in first["tags"]}
    assert {row[0] for row in first["sales"]} == {"processed"}
    bonus = sum(row[2] for row in first["journal"] if row[1] == "bonus")
    assert bonus == sum(row[3] for row in first["applications"])


def test_a_campaign_that_issues_rewards_sends_the_run_one_sale_at_a_time(app, stores):
    schema = CampaignCreateSchema()
    doc = _campaigns("alpha")[2]
    doc["effects"].append({"type": "send_message", "channel": "email", "template": "points"})
    with app.app_context(), unit_of_work():
        save_template(db.session, "points", {"en": {"body": "{{ points }} points for you"}})
        campaign = create_campaign(db.session, schema.load(doc), "test")
        change_status(db.session, campaign.id, "activate", utcnow())
    with app.app_context():
        assert not sale_batches.batchable(db.session)

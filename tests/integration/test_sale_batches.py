"""The set-based engine (`rewards/earning/sale_batches.py`) does to a run of sales exactly what
`processing.process_sale` does to each of them in turn: the same points at the same tier
multipliers, the same visits, spend, purchase days, affinities, tier moves and ledger."""

from __future__ import annotations

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
from loyalty.models import OutboxMessage
from loyalty.staff import create_store
from loyalty.unit_of_work import unit_of_work
from members.hooks import hooks
from members.models import Member, MemberAffinity, MemberDay, TierChange
from members.privacy.pdpa import erase_member
from members.service import Enrolment, enrol_member
from members.tiers.service import set_policy
from pos_adapters.batch_ingestion import Sale, record_sales
from pos_adapters.ingestion import Source
from rewards.earning.sale_batches import process_sales
from rewards.models import JournalEntry, PointsLot, Transaction

BANGKOK = ZoneInfo("Asia/Bangkok")
TIER_EVENT = "tier.changed"
LADDER = {
    "basis": "spend",
    "window": {"type": "rolling", "months": 12},
    "downgrade": "period_end",
    "tiers": [
        {"code": "member", "name": "Member", "threshold": "0", "multiplier": "1.0"},
        {"code": "silver", "name": "Silver", "threshold": "500.00", "multiplier": "1.5"},
        {"code": "gold", "name": "Gold", "threshold": "1500.00", "multiplier": "2.0"},
    ],
}
# (member, days before today, total, lines (category, amount)); member None: anonymous
SALES: list[tuple[int | None, int, str, list[tuple[str, str]]]] = [
    (0, 5, "300.00", [("coffee", "300.00")]),
    (1, 5, "80.00", [("bakery", "80.00")]),
    (0, 4, "300.00", [("coffee", "100.00"), ("bakery", "200.00")]),  # silver from here
    (None, 4, "99.00", [("coffee", "99.00")]),
    (0, 4, "400.00", [("dessert", "400.00")]),  # earns at 1.5, same day as the one before
    (2, 3, "700.00", [("coffee", "700.00")]),  # the erased member: left to process_sale
    (1, 3, "24.00", [("coffee", "24.00")]),  # earns nothing
    (0, 2, "1000.00", [("", "1000.00")]),  # gold from here; no category
    (0, 1, "100.00", [("coffee", "100.00")]),  # earns at 2.0
    (1, 1, "560.00", [("bakery", "560.00")]),  # silver
]


def _receipt(prefix: str, index: int, total: str, lines, days_ago: int) -> dict[str, Any]:
    at = datetime.now(BANGKOK).replace(hour=12, minute=index, second=0, microsecond=0)
    return {
        "external_id": f"{prefix}-{index}",
        "occurred_at": at - timedelta(days=days_ago),
        "type": "sale",
        "currency": "THB",
        "total": Decimal(total),
        "discount": Decimal("0.00"),
        "items": [
            {"sku": f"SKU-{n}", "category": category, "quantity": 1, "unit_price": Decimal(amount)}
            for n, (category, amount) in enumerate(lines)
        ],
    }


def _members(app: Flask, prefix: str) -> list[int]:
    with app.app_context():
        with unit_of_work():
            ids = [
                enrol_member(
                    db.session, Enrolment(name=f"{prefix} {n}", email=f"{prefix}{n}@x.th")
                ).id
                for n in range(3)
            ]
            erase_member(
                db.session,
                ids[2],
                reason="asked to be forgotten",
                actor="test",
                steps=hooks(app).erase_steps,
                now=utcnow(),
            )
        jobs.drain_now(app)  # the enrolments' and erasure's own events
        return ids


def _record_and_process(app: Flask, prefix: str, store_id: int, batched: bool) -> list[int]:
    members = _members(app, prefix)
    source = Source(store_id, None, "THB", None, utcnow(), adapter="csv")  # type: ignore[arg-type]
    sales = [
        Sale(_receipt(prefix, n, total, lines, days), None if who is None else members[who])
        for n, (who, days, total, lines) in enumerate(SALES)
    ]
    sales.append(sales[0])  # the same receipt twice in the run: a replay
    with app.app_context(), jobs.drains_deferred(), unit_of_work():
        recorded = record_sales(db.session, sales, source)
        assert [r.created for r in recorded] == [True] * len(SALES) + [False]
    with app.app_context(), pytest.MonkeyPatch.context() as patch:
        if not batched:  # the same drain with no handler of runs: each sale on its own
            patch.setitem(app.extensions, "loyalty.outbox_batch_handlers", {})
        jobs.drain_now(app, 500)
    return members


def _snapshot(app: Flask, members: list[int], prefix: str) -> dict[str, Any]:
    """What the engine wrote for these members, with ids replaced by positions."""
    position = {member_id: n for n, member_id in enumerate(members)}
    with app.app_context():
        s = db.session

        def rows(stmt) -> list[tuple]:
            return [(position[row[0]], *row[1:]) for row in s.execute(stmt)]  # member first

        mine = Member.id.in_(members)
        return {
            "members": rows(
                select(
                    Member.id,
                    Member.points_balance,
                    Member.visits,
                    Member.lifetime_spend_minor,
                    Member.first_purchase_at,
                    Member.last_purchase_at,
                    Member.tier_code,
                    Member.tier_since,
                    Member.tier_review_at,
                )
                .where(mine)
                .order_by(Member.id)
            ),
            "sales": [
                (position.get(t.member_id), t.status, t.base_points, t.points_awarded)
                + (t.points_pending, t.earn_basis, t.total_minor)
                for t in s.scalars(
                    select(Transaction)
                    .where(Transaction.member_id.in_(members) | Transaction.member_id.is_(None))
                    .where(Transaction.external_id.like(f"{prefix}-%"))
                    .order_by(Transaction.id)
                )
            ],
            "days": rows(
                select(MemberDay.member_id, MemberDay.day, MemberDay.spend_minor)
                .add_columns(MemberDay.purchases, MemberDay.points)
                .where(MemberDay.member_id.in_(members))
                .order_by(MemberDay.member_id, MemberDay.day)
            ),
            "affinities": rows(
                select(MemberAffinity.member_id, MemberAffinity.kind, MemberAffinity.key)
                .add_columns(MemberAffinity.spend_minor, MemberAffinity.purchases)
                .where(MemberAffinity.member_id.in_(members))
                .order_by(MemberAffinity.member_id, MemberAffinity.kind, MemberAffinity.key)
            ),
            "tier_changes": rows(
                select(TierChange.member_id, TierChange.from_tier, TierChange.to_tier)
                .add_columns(TierChange.reason, TierChange.qualifying, TierChange.occurred_at)
                .where(TierChange.member_id.in_(members))
                .order_by(TierChange.id)
            ),
            "journal": rows(
                select(JournalEntry.member_id, JournalEntry.kind, JournalEntry.points)
                .add_columns(JournalEntry.balance_after, JournalEntry.rule)
                .where(JournalEntry.member_id.in_(members))
                .order_by(JournalEntry.id)
            ),
            "lots": rows(
                select(PointsLot.member_id, PointsLot.points, PointsLot.remaining)
                .add_columns(PointsLot.expires_at)
                .where(PointsLot.member_id.in_(members))
                .order_by(PointsLot.id)
            ),
            "tier_events": sorted(
                (position[m.payload["member_id"]], m.payload["from"], m.payload["to"], m.status)
                for m in s.scalars(
                    select(OutboxMessage).where(OutboxMessage.topic == "tier.changed")
                )
                if m.payload["member_id"] in position
            ),
        }


@pytest.fixture
def tiered(app: Flask) -> int:
    with app.app_context(), unit_of_work():
        set_policy(db.session, LADDER, "test")
        return create_store(db.session, "BKK01", "Siam Paragon").id


def test_a_run_of_sales_through_the_set_based_engine_equals_one_at_a_time(app, tiered):
    first = _snapshot(app, _record_and_process(app, "A", tiered, batched=True), "A")
    second = _snapshot(app, _record_and_process(app, "B", tiered, batched=False), "B")
    assert first == second
    # and the run did what the rules say, so the two are not equal by doing nothing
    balances = {row[0]: row[1] for row in first["members"]}
    assert balances == {0: 12 + 12 + 24 + 60 + 8, 1: 3 + 0 + 22, 2: 0}
    assert [(m, to) for m, _from, to, *_ in first["tier_changes"]] == [
        (0, "silver"),
        (0, "gold"),
        (1, "silver"),
    ]
    assert {row[1] for row in first["sales"]} == {"processed"}
    assert {row[4] for row in first["sales"]} == {0}  # nothing left pending


def test_a_run_is_processed_once_however_often_it_is_delivered(app, tiered):
    members = _record_and_process(app, "C", tiered, batched=True)
    before = _snapshot(app, members, "C")
    with app.app_context():
        ids = list(db.session.scalars(select(Transaction.id).order_by(Transaction.id)))
        for _ in range(2):  # the same run delivered again, whole
            assert process_sales(db.session, ids, "Asia/Bangkok") == set()
            db.session.commit()
    assert _snapshot(app, members, "C") == before

"""Ledger invariants under random sequences of earning, redemption, cancellation, refunds
(partial and repeated, replayed deliveries) and expiry, run on the real services and database.

After every step: each journal entry balances; each member's cached balance is the sum of their
postings; the lots hold exactly the positive balance, none negative or above its points; every
lot equals its points plus its movements; no redemption took a balance below zero; each sale
holds the points of what is left of it after refunds; the outbox has nothing left undone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from loyalty import staff
from loyalty.db import utcnow
from loyalty.errors import InvalidInput
from loyalty.extensions import db
from loyalty.models import OutboxMessage
from loyalty.money import format_minor
from loyalty.settings import put_setting
from loyalty.unit_of_work import unit_of_work
from members.cards import service as cards
from members.models import Member, Tier
from members.service import Enrolment, enrol_member
from pos_adapters.ingestion import Source, record_receipt
from pos_adapters.schemas import ReceiptSchema
from rewards.earning.points import EarnBasis, base_points
from rewards.errors import InsufficientPoints, RedemptionNotCancellable
from rewards.jobs import expire_points
from rewards.models import JournalEntry, LotMovement, PointsLot, Posting, Redemption, Transaction
from rewards.redemption import Till, cancel_redemption, redeem_points
from tests.conftest import KEEP_TABLES, restore_base_earning, restore_first_tier_policy

START = datetime(2023, 1, 10, 3, 0, tzinfo=UTC)
TIMEZONE = "Asia/Bangkok"
ADMIN_TILL = Till("admin")
MEMBERS = 2

LEDGER_SETTINGS = settings(
    max_examples=20,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def clear_program() -> None:
    """Empty what an example wrote, as `empty_database` does, with DELETE: on PostgreSQL,
    TRUNCATE of every table costs more than the rows of one example."""
    tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in KEEP_TABLES]
    with db.engine.begin() as conn:
        for table in tables:
            conn.execute(table.delete())
        conn.execute(text("DELETE FROM tiers WHERE code <> 'member'"))
    restore_base_earning()
    restore_first_tier_policy()


# Round amounts make points move on refunds; odd ones probe the rounding.
AMOUNTS = st.one_of(st.integers(1, 120).map(lambda n: n * 500), st.integers(0, 40_000))


def refund_amounts(left_minor: int) -> st.SearchStrategy[int]:
    """Any amount up to what is left, weighted towards halves, thirds and the rest."""
    parts = sorted({left_minor, max(1, left_minor // 2), max(1, left_minor // 3)})
    return st.one_of(st.sampled_from(parts), st.integers(1, left_minor))


def redeem_amounts(balance: int) -> st.SearchStrategy[int]:
    """As often within the balance (the whole of it included) as beyond it."""
    held = max(balance, 0)
    within = st.integers(1, held) if held else st.just(1)
    return st.one_of(within, st.just(max(held, 1)), st.integers(held + 1, held + 30))


@dataclass
class Sale:
    external_id: str
    member_id: int
    total_minor: int
    refunded_minor: int = 0

    @property
    def left_minor(self) -> int:
        return self.total_minor - self.refunded_minor


class LedgerMachine(RuleBasedStateMachine):
    """Drives one program (a store, two members) through the ledger services."""

    app: Flask

    def __init__(self) -> None:
        super().__init__()
        self.context = self.app.app_context()
        self.context.push()
        self.session: Session = db.session()
        with unit_of_work(self.session):  # each service call commits as its edge would
            self.store_id = staff.create_store(self.session, "BKK01", "Siam Paragon").id
            self.members = [self._enrol(n) for n in range(MEMBERS)]
        self.now = START
        self.serial = 0
        self.sales: list[Sale] = []
        self.delivered: list[dict[str, Any]] = []
        self.redemptions: list[int] = []

    def teardown(self) -> None:
        self.session.rollback()
        clear_program()
        db.session.remove()
        self.context.pop()

    def _enrol(self, n: int) -> int:
        enrolment = Enrolment(name=f"Member {n}", phone=f"+6681234567{n}")
        return enrol_member(self.session, enrolment).id

    @initialize(months=st.sampled_from([1, 2, 3]), multiplier=st.sampled_from(["1", "1.5"]))
    def program(self, months: int, multiplier: str) -> None:
        """A short expiry policy, so lots expire within a run; the second member in a tier."""
        put_setting(self.session, "points_expiry", {"months": months})
        self.session.add(Tier(code="gold", name="Gold", rank=1, multiplier=Decimal(multiplier)))
        self.session.flush()
        self.session.get(Member, self.members[1]).tier_code = "gold"
        self.session.commit()

    # -- helpers ------------------------------------------------------------------------

    def _source(self) -> Source:
        policy = cards.CodePolicy(b"test-secret")
        return Source(self.store_id, None, "THB", policy, utcnow())

    def _next_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def _deliver(self, body: dict[str, Any]) -> tuple[Transaction, bool]:
        receipt = ReceiptSchema().load(body)
        with unit_of_work(self.session):
            txn, created = record_receipt(self.session, receipt, self._source())
        self.delivered.append(body)
        return txn, created

    def _body(self, external_id: str, amount_minor: int, **extra: Any) -> dict[str, Any]:
        amount = format_minor(amount_minor)
        return {
            "external_id": external_id,
            "occurred_at": self.now.isoformat(),
            "currency": "THB",
            "items": [{"sku": "CF-LATTE", "quantity": 1, "unit_price": amount}],
            "total": amount,
            **extra,
        }

    def _balance(self, member_id: int) -> int:
        return self.session.scalar(select(Member.points_balance).where(Member.id == member_id))

    def _balances(self) -> dict[int, int]:
        return dict(self.session.execute(select(Member.id, Member.points_balance)).all())

    def _snapshot(self) -> tuple:
        """Everything a refused operation must leave as it was."""
        s = self.session
        return (
            tuple(s.execute(select(Member.id, Member.points_balance).order_by(Member.id))),
            s.scalar(select(func.count()).select_from(JournalEntry)),
            s.scalar(select(func.count()).select_from(Posting)),
            s.scalar(select(func.count()).select_from(LotMovement)),
            tuple(s.execute(select(PointsLot.id, PointsLot.remaining).order_by(PointsLot.id))),
            tuple(s.execute(select(Redemption.id, Redemption.status).order_by(Redemption.id))),
            tuple(
                s.execute(
                    select(
                        Transaction.id, Transaction.refunded_minor, Transaction.points_awarded
                    ).order_by(Transaction.id)
                )
            ),
        )

    # -- rules --------------------------------------------------------------------------

    @rule(member=st.integers(0, MEMBERS - 1), amount_minor=AMOUNTS)
    def earn(self, member: int, amount_minor: int) -> None:
        member_id = self.members[member]
        before = self._balance(member_id)
        external_id = self._next_id("S")
        member_no = self.session.get(Member, member_id).member_no
        body = self._body(external_id, amount_minor, type="sale", member={"member_no": member_no})
        txn, created = self._deliver(body)
        assert created
        self.session.refresh(txn)
        assert txn.status == "processed"
        assert self._balance(member_id) == before + txn.points_awarded
        self.sales.append(Sale(external_id, member_id, amount_minor))

    @precondition(lambda self: any(sale.left_minor > 0 for sale in self.sales))
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        sale = data.draw(st.sampled_from([s for s in self.sales if s.left_minor > 0]))
        amount = data.draw(refund_amounts(sale.left_minor), label="refund_minor")
        before = self._balance(sale.member_id)
        body = self._body(self._next_id("F"), amount, type="refund", refund_of=sale.external_id)
        txn, created = self._deliver(body)
        assert created
        self.session.refresh(txn)
        assert txn.status == "processed"
        assert txn.points_awarded <= 0
        assert self._balance(sale.member_id) == before + txn.points_awarded
        sale.refunded_minor += amount

    @precondition(lambda self: bool(self.sales))
    @rule(data=st.data())
    def refund_more_than_is_left(self, data: st.DataObject) -> None:
        sale = data.draw(st.sampled_from(self.sales))
        before = self._snapshot()
        body = self._body(
            self._next_id("X"), sale.left_minor + 1, type="refund", refund_of=sale.external_id
        )
        with pytest.raises(InvalidInput), unit_of_work(self.session):
            record_receipt(self.session, ReceiptSchema().load(body), self._source())
        self.session.rollback()
        assert self._snapshot() == before

    @precondition(lambda self: bool(self.delivered))
    @rule(data=st.data())
    def deliver_again(self, data: st.DataObject) -> None:
        body = data.draw(st.sampled_from(self.delivered))
        before = self._snapshot()
        _txn, created = record_receipt(self.session, ReceiptSchema().load(body), self._source())
        assert not created
        self.session.rollback()
        assert self._snapshot() == before

    @rule(member=st.integers(0, MEMBERS - 1), data=st.data())
    def redeem(self, member: int, data: st.DataObject) -> None:
        member_id = self.members[member]
        balance = self._balance(member_id)
        points = data.draw(redeem_amounts(balance), label="points")
        if points > balance:
            self._refused_redemption(member_id, points)
            return
        with unit_of_work(self.session):
            found, created = redeem_points(self.session, member_id, points, ADMIN_TILL)
        assert created
        assert found.balance_after == balance - points
        assert self._balance(member_id) == balance - points
        self.redemptions.append(found.id)

    def _refused_redemption(self, member_id: int, points: int) -> None:
        before = self._snapshot()
        with pytest.raises(InsufficientPoints), unit_of_work(self.session):
            redeem_points(self.session, member_id, points, ADMIN_TILL)
        self.session.rollback()
        assert self._snapshot() == before

    @precondition(lambda self: bool(self.redemptions))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        redemption_id = data.draw(st.sampled_from(self.redemptions))
        found = self.session.get(Redemption, redemption_id)
        self.session.refresh(found)
        if found.status == "cancelled":
            before = self._snapshot()
            with pytest.raises(RedemptionNotCancellable), unit_of_work(self.session):
                cancel_redemption(self.session, redemption_id, ADMIN_TILL, TIMEZONE)
            self.session.rollback()
            assert self._snapshot() == before
            return
        balance = self._balance(found.member_id)
        with unit_of_work(self.session):
            cancelled = cancel_redemption(self.session, redemption_id, ADMIN_TILL, TIMEZONE)
        assert cancelled.status == "cancelled"
        assert self._balance(found.member_id) == balance + found.points

    @rule(days=st.integers(0, 75), hours=st.integers(0, 23))
    def advance_clock(self, days: int, hours: int) -> None:
        latest = utcnow() - timedelta(hours=1)
        self.now = min(self.now + timedelta(days=days, hours=hours), latest)

    @rule()
    def expire(self) -> None:
        total_before = sum(self._balance(m) for m in self.members)
        due = self.session.scalar(
            select(func.coalesce(func.sum(PointsLot.remaining), 0)).where(
                PointsLot.expires_at <= self.now
            )
        )
        expired = expire_points(self.session, self.now)
        assert expired == due
        assert sum(self._balance(m) for m in self.members) == total_before - expired
        left = self.session.scalar(
            select(func.count())
            .select_from(PointsLot)
            .where(PointsLot.expires_at <= self.now, PointsLot.remaining > 0)
        )
        assert left == 0

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def every_entry_balances(self) -> None:
        unbalanced = self.session.execute(
            select(Posting.entry_id)
            .group_by(Posting.entry_id)
            .having((func.sum(Posting.points) != 0) | (func.count() != 2))
        ).all()
        assert unbalanced == []
        member_side = self.session.execute(
            select(JournalEntry.id)
            .join(Posting, Posting.entry_id == JournalEntry.id)
            .where(Posting.account == "member")
            .where(
                (Posting.points != JournalEntry.points)
                | (Posting.member_id != JournalEntry.member_id)
            )
        ).all()
        assert member_side == []
        entries = self.session.scalar(select(func.count()).select_from(JournalEntry))
        with_postings = self.session.scalar(select(func.count(func.distinct(Posting.entry_id))))
        assert entries == with_postings

    @invariant()
    def cached_balance_is_the_sum_of_member_postings(self) -> None:
        posted = dict(
            self.session.execute(
                select(Posting.member_id, func.sum(Posting.points))
                .where(Posting.account == "member")
                .group_by(Posting.member_id)
            ).all()
        )
        latest = select(func.max(JournalEntry.id)).group_by(JournalEntry.member_id)
        last_after = dict(
            self.session.execute(
                select(JournalEntry.member_id, JournalEntry.balance_after).where(
                    JournalEntry.id.in_(latest)
                )
            ).all()
        )
        for member_id, cached in self._balances().items():
            assert cached == posted.get(member_id, 0) == last_after.get(member_id, 0)

    @invariant()
    def lots_hold_exactly_the_positive_balance(self) -> None:
        held = {member_id: 0 for member_id in self.members}
        for member_id, points, remaining in self.session.execute(
            select(PointsLot.member_id, PointsLot.points, PointsLot.remaining)
        ):
            assert 0 <= remaining <= points, (member_id, points, remaining)
            held[member_id] += remaining
        for member_id, cached in self._balances().items():
            assert held[member_id] == max(cached, 0), member_id

    @invariant()
    def every_lot_is_its_points_plus_its_movements(self) -> None:
        moved = (
            select(LotMovement.lot_id, func.sum(LotMovement.points).label("moved"))
            .group_by(LotMovement.lot_id)
            .subquery()
        )
        rows = self.session.execute(
            select(PointsLot.id, PointsLot.points, PointsLot.remaining, moved.c.moved).outerjoin(
                moved, moved.c.lot_id == PointsLot.id
            )
        ).all()
        for lot_id, points, remaining, movements in rows:
            assert points + (movements or 0) == remaining, lot_id

    @invariant()
    def no_redemption_went_below_zero(self) -> None:
        below = self.session.scalar(
            select(func.count())
            .select_from(JournalEntry)
            .where(JournalEntry.kind == "redeem", JournalEntry.balance_after < 0)
        )
        assert below == 0

    @invariant()
    def each_sale_holds_the_points_of_what_is_left_of_it(self) -> None:
        sales = self.session.execute(
            select(
                Transaction.external_id,
                Transaction.total_minor,
                Transaction.refunded_minor,
                Transaction.refund_processed_minor,
                Transaction.points_awarded,
                Transaction.earn_basis,
            ).where(Transaction.type == "sale")
        )
        for external_id, total, refunded, processed, awarded, basis in sales:
            assert refunded == processed, external_id
            left = base_points(total - refunded, EarnBasis.from_dict(basis))
            assert awarded == left, external_id

    @invariant()
    def the_outbox_has_nothing_left_undone(self) -> None:
        undone = self.session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "done")
        )
        assert undone == 0


def test_random_ledger_histories_keep_every_invariant(app):
    LedgerMachine.app = app
    run_state_machine_as_test(LedgerMachine, settings=LEDGER_SETTINGS)

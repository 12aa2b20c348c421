"""`flask demo seed`: a believable Thai demo program whose ledger holds together."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta

import phonenumbers
import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import func, select

from demo.seed import DEMO_PASSWORD, make_plan
from loyalty import create_app
from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.models import OutboxMessage, StaffUser, Store
from members.models import Member
from rewards.earning.points import EarnBasis, base_points
from rewards.models import (
    Campaign,
    CampaignApplication,
    JournalEntry,
    LotMovement,
    PointsLot,
    Posting,
    Redemption,
    Reward,
    Transaction,
    Voucher,
)
from tests import conftest

THAI = re.compile(r"[\u0e00-\u0e7f]")
KEY = re.compile(r"\btk_\d+_\S+")


@pytest.fixture(scope="module")
def seeded(database_url: str) -> Iterator[tuple[Flask, Result]]:
    """One demo program for the whole module: seeding it takes seconds."""
    app = create_app(conftest.test_config(database_url))
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    yield app, result
    with app.app_context():
        conftest.empty_database()
        db.engine.dispose()


@pytest.fixture
def demo(seeded: tuple[Flask, Result]) -> Iterator[Flask]:
    app, result = seeded
    assert result.exit_code == 0, result.output
    with app.app_context():
        yield app


def all_of(model) -> list:
    return list(db.session.scalars(select(model)))


def test_seed_prints_the_staff_logins_and_one_terminal_key_per_store(seeded):
    _app, result = seeded
    assert result.exit_code == 0, result.output
    for email in ("admin@demo.local", "marketer@demo.local", "cashier@demo.local"):
        assert email in result.output
    assert DEMO_PASSWORD in result.output
    assert len(KEY.findall(result.output)) == 4


def test_the_printed_terminal_keys_act_for_their_own_store(seeded, demo):
    _app, result = seeded
    client = demo.test_client()
    for line in result.output.splitlines():
        if not (found := KEY.search(line)):
            continue
        code = line.split()[0]
        store = db.session.scalar(select(Store).where(Store.code == code))
        txn = db.session.scalar(select(Transaction).where(Transaction.store_id == store.id))
        other = db.session.scalar(select(Transaction).where(Transaction.store_id != store.id))
        headers = {"Authorization": f"Bearer {found.group(0)}"}
        assert client.get(f"/api/v1/transactions/{txn.id}", headers=headers).status_code == 200
        assert client.get(f"/api/v1/transactions/{other.id}", headers=headers).status_code == 404


def test_the_demo_staff_log_in_with_the_demo_password(demo):
    client = demo.test_client()
    for email, role in [("admin@demo.local", "admin"), ("marketer@demo.local", "marketer")]:
        r = client.post("/api/v1/auth/token", json={"email": email, "password": DEMO_PASSWORD})
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["role"] == role
    cashier = db.session.scalar(select(StaffUser).where(StaffUser.role == "cashier"))
    assert cashier.email == "cashier@demo.local"
    assert cashier.store_id is not None


def test_four_bangkok_stores_sixty_members_and_a_few_hundred_receipts_over_six_months(demo):
    names = " ".join(s.name for s in all_of(Store))
    for branch in ("Siam Paragon", "Thonglor", "Ari", "Silom"):
        assert branch in names
    assert db.session.scalar(select(func.count(Member.id))) == 60
    sales = [t for t in all_of(Transaction) if t.type == "sale"]
    assert 300 <= len(sales) <= 600
    first, last = min(t.occurred_at for t in sales), max(t.occurred_at for t in sales)
    assert last <= utcnow()
    assert utcnow() - first <= timedelta(days=184)
    assert last - first >= timedelta(days=150)
    items = {i["category"] for t in sales for i in t.items}
    assert {"coffee", "apparel"} <= items


def test_members_enrolled_at_the_till_before_their_first_purchase(demo):
    first: dict[int, object] = {}
    for t in sorted(all_of(Transaction), key=lambda t: t.occurred_at):
        if t.member_id is not None and t.type == "sale":
            first.setdefault(t.member_id, t.occurred_at)
    members = {m.id: m for m in all_of(Member)}
    assert len(first) >= 50
    for member_id, bought_at in first.items():
        enrolled_at = members[member_id].enrolled_at
        assert enrolled_at <= bought_at
        assert bought_at - enrolled_at <= timedelta(hours=1)
    assert utcnow() - min(m.enrolled_at for m in members.values()) >= timedelta(days=100)


def test_members_have_thai_names_and_valid_thai_mobile_numbers(demo):
    members = all_of(Member)
    assert sum(bool(THAI.search(m.name)) for m in members) >= 30
    assert any(m.name.isascii() for m in members)
    assert len({m.phone for m in members}) == len(members)
    for member in members:
        number = phonenumbers.parse(member.phone)
        assert member.phone.startswith("+66")
        assert phonenumbers.is_valid_number(number)
        assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE


def test_every_receipt_is_processed_and_no_work_is_left_pending(demo):
    assert {t.status for t in all_of(Transaction)} == {"processed"}
    assert not [m for m in all_of(OutboxMessage) if m.status != "done"]
    assert {t.points_pending for t in all_of(Transaction)} == {0}


def test_a_few_sales_are_refunded_and_some_receipts_stay_anonymous_to_be_claimed(demo):
    txns = all_of(Transaction)
    refunds = [t for t in txns if t.type == "refund"]
    assert 3 <= len(refunds) <= 10
    assert all(t.refund_of_id and t.points_awarded < 0 for t in refunds)  # points taken back
    assert any(t.member_id is None and t.type == "sale" for t in txns)


def test_every_journal_entry_balances_and_each_cached_balance_equals_its_postings(demo):
    by_entry: dict[int, int] = defaultdict(int)
    by_member: dict[int, int] = defaultdict(int)
    for posting in all_of(Posting):
        by_entry[posting.entry_id] += posting.points
        if posting.account == "member":
            by_member[posting.member_id] += posting.points
    assert len(by_entry) == db.session.scalar(select(func.count(JournalEntry.id)))
    assert set(by_entry.values()) == {0}
    for member in all_of(Member):
        assert member.points_balance == by_member.get(member.id, 0)


def test_lots_hold_exactly_the_positive_balance_and_none_is_overdrawn(demo):
    moved: dict[int, int] = defaultdict(int)
    for movement in all_of(LotMovement):
        moved[movement.lot_id] += movement.points
    in_lots: dict[int, int] = defaultdict(int)
    for lot in all_of(PointsLot):
        assert lot.remaining == lot.points + moved[lot.id]
        assert 0 <= lot.remaining <= lot.points
        assert lot.expires_at > utcnow() + timedelta(days=365)
        in_lots[lot.member_id] += lot.remaining
    for member in all_of(Member):
        assert in_lots.get(member.id, 0) == max(member.points_balance, 0)


def test_sales_earn_one_point_per_25_baht_of_what_was_not_refunded_plus_campaigns(demo):
    bonus: dict[int, int] = defaultdict(int)
    for application in all_of(CampaignApplication):
        if application.transaction_id is not None:
            bonus[application.transaction_id] += application.points
    for sale in all_of(Transaction):
        if sale.type == "sale" and sale.member_id is not None:
            basis = EarnBasis.from_dict(sale.earn_basis)
            assert sale.base_points == base_points(sale.total_minor - sale.refunded_minor, basis)
            assert sale.points_awarded == sale.base_points + bonus[sale.id]
    assert sum(bonus.values()) > 0


def test_the_campaigns_of_the_brief_are_there_and_the_coffee_one_ran(demo):
    found = {c.name.split(" · ")[0]: c for c in all_of(Campaign)}
    assert {"Welcome bonus", "Birthday gift", "We miss you", "Points expiring reminder"} <= set(
        found
    )
    assert found["Weekend fashion, triple points"].status == "draft"
    coffee = found["Morning coffee, double points"]
    treated = [
        a
        for a in all_of(CampaignApplication)
        if a.campaign_id == coffee.id and a.group == "treated"
    ]
    assert treated
    assert all(a.points > 0 for a in treated)
    welcome = found["Welcome bonus"]
    assert sum(a.campaign_id == welcome.id for a in all_of(CampaignApplication)) == len(
        all_of(Member)
    )


def test_balances_are_plausible_for_six_months_of_shopping(demo):
    balances = [m.points_balance for m in all_of(Member)]
    assert min(balances) >= 0
    assert max(balances) < 2000
    assert sum(b >= 100 for b in balances) >= 15
    earned = sum(e.points for e in all_of(JournalEntry) if e.kind == "earn")
    assert sum(balances) == earned + sum(e.points for e in all_of(JournalEntry) if e.kind != "earn")
    assert sum(balances) < earned


def test_the_catalog_has_a_free_latte_a_voucher_and_a_tote_bag_with_stock(demo):
    rewards = {r.name.split(" · ")[0]: r for r in all_of(Reward)}
    assert rewards["Free latte"].points_cost == 120
    assert rewards["100 THB voucher"].points_cost == 400
    assert rewards["Canvas tote bag"].stock == 40
    for reward in rewards.values():
        taken = [
            r for r in all_of(Redemption) if r.reward_id == reward.id and r.status == "completed"
        ]
        assert reward.issued == len(taken)


def test_redemptions_issue_vouchers_some_used_and_one_cancelled(demo):
    redemptions = all_of(Redemption)
    assert len(redemptions) >= 5
    assert all(r.store_id and r.terminal_id and r.balance_after >= 0 for r in redemptions)
    vouchers = {v.redemption_id: v for v in all_of(Voucher)}
    statuses = {r.status: vouchers[r.id].status for r in redemptions}
    assert statuses["cancelled"] == "void"
    assert {"used", "issued"} <= {v.status for v in vouchers.values()}


def test_seeding_again_says_the_demo_is_there_and_adds_nothing(seeded, demo):
    before = [db.session.scalar(select(func.count(m.id))) for m in (Member, Transaction, Store)]
    again = seeded[0].test_cli_runner().invoke(args=["demo", "seed"])
    assert again.exit_code == 0, again.output
    assert "already there" in again.output
    assert not KEY.search(again.output)
    after = [db.session.scalar(select(func.count(m.id))) for m in (Member, Transaction, Store)]
    assert after == before


def test_the_same_seed_plans_the_same_members_and_receipts():
    now = utcnow()
    first = make_plan(7, now, "Asia/Bangkok", 60, 420)
    assert first == make_plan(7, now, "Asia/Bangkok", 60, 420)
    assert first != make_plan(8, now, "Asia/Bangkok", 60, 420)

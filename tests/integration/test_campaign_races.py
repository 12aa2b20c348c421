"""Campaign limits and edits under load: receipts pushed at once through gunicorn, drained by
two real `flask worker` processes racing each other for the same budgets and members."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.extensions import db
from rewards.campaigns import engine
from rewards.campaigns.planning import Event
from rewards.ledger import journal
from rewards.models import JournalEntry, Transaction
from tests.factories import Program, receipt
from tests.integration.servers import Reply, wait_until
from tests.integration.test_campaign_triggers import (
    Ledger,
    Stack,
    reward,
    running_stack,
)

MEMBERS, RECEIPTS = 20, 60
TOTALS = ["130.00", "99.99", "260.00", "25.00", "1000.50", "75.25"]


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Two workers, taking small batches so that they interleave."""
    log_dir = tmp_path_factory.mktemp("campaign-races")
    with running_stack(database_url, log_dir, workers=2, LOYALTY_OUTBOX_BATCH="4") as started:
        yield started


@pytest.fixture
def ledger(app: Flask) -> Ledger:
    return Ledger(app)


def base_points(total: str) -> int:
    return int(Decimal(total) // 25)


def push(stack: Stack, program: Program, sales: list[tuple[str, str, dict]]) -> list[Reply]:
    """POST (external id, total, member) receipts from 12 tills at once."""
    at = utcnow() - timedelta(minutes=2)  # one program day for every receipt
    headers = program.headers("BKK01")

    def post(sale: tuple[str, str, dict]) -> Reply:
        external_id, total, member = sale
        body = receipt(external_id, total, {"member_no": member["member_no"]}, occurred_at=at)
        return stack.call("POST", "/api/v1/transactions", body, headers)

    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(post, sales))
    assert [r.status for r in replies] == [201] * len(sales), replies
    return replies


def enrol_many(stack: Stack, program: Program, count: int) -> list[dict]:
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _n: stack.enrol(program), range(count)))


def awarded_and_entries(ledger: Ledger) -> dict[int, tuple[int, int]]:
    """Transaction id → (points_awarded, sum of its earn and bonus entries)."""
    awarded = dict(ledger.rows(select(Transaction.id, Transaction.points_awarded)))
    e = JournalEntry
    sums = dict(
        ledger.rows(
            select(e.cause_id, func.sum(e.points))
            .where(e.cause_type == "transaction", e.kind.in_(("earn", "bonus")))
            .group_by(e.cause_id)
        )
    )
    return {t: (points, int(sums.get(str(t), 0))) for t, points in awarded.items()}


def test_budgets_and_per_member_limits_hold_with_two_workers_racing(stack, program, ledger):
    limited = [
        ("First fifteen", 3, {"budget_count": 15}),
        ("A pot of 100 points", 7, {"budget_points": 100}),
        ("Once a day", 5, {"per_member": {"count": 1, "period": "day"}}),
    ]
    first, pot, daily = (
        stack.launch(
            program,
            {
                "name": name,
                "trigger": "transaction.recorded",
                "effects": [{"type": "award_points", "points": points}],
                "limits": limits,
            },
        )
        for name, points, limits in limited
    )
    members = enrol_many(stack, program, MEMBERS)
    sales = [(f"RACE-{n}", TOTALS[n % len(TOTALS)], members[n % MEMBERS]) for n in range(RECEIPTS)]
    replies = push(stack, program, sales)
    stack.settle(ledger, timeout=90)
    assert ledger.transactions("processed") == RECEIPTS

    by_rule = Counter((rule, points) for _cause, _member, points, rule in ledger.bonuses())
    assert by_rule == {
        (f"campaign:{first['id']}:v1", 3): 15,
        (f"campaign:{pot['id']}:v1", 7): 14,  # 98 points: a 15th would pass 100
        (f"campaign:{daily['id']}:v1", 5): MEMBERS,
    }
    once = Counter(a["member_id"] for a in ledger.applications(daily["id"]))
    assert once == {m["id"]: 1 for m in members}
    marketer = program.headers("marketer")
    used = {
        c["id"]: stack.call("GET", f"/api/v1/campaigns/{c['id']}", None, marketer).body[
            "budget_used"
        ]
        for c in (first, pot)
    }
    assert used == {
        first["id"]: {"points": 45, "applications": 15},
        pot["id"]: {"points": 98, "applications": 14},
    }
    earned = awarded_and_entries(ledger)
    assert all(points == entries for points, entries in earned.values()), earned
    base = sum(base_points(total) for _id, total, _member in sales)
    assert sum(points for points, _entries in earned.values()) == base + 45 + 98 + 5 * MEMBERS
    assert {r.body["id"] for r in replies} == set(earned)
    assert ledger.unbalanced() == []


def test_a_campaign_edited_while_receipts_flow_names_each_bonus_v1_or_v2(stack, program, ledger):
    campaign = stack.launch(
        program,
        {
            "name": "Ten, then twenty",
            "trigger": "transaction.recorded",
            "effects": [{"type": "award_points", "points": 10}],
        },
    )
    members = enrol_many(stack, program, 10)
    sales = [(f"EDIT-{n}", TOTALS[n % len(TOTALS)], members[n % 10]) for n in range(40)]
    marketer = program.headers("marketer")
    with ThreadPoolExecutor(1) as background:
        first_wave = background.submit(push, stack, program, sales[:24])
        wait_until(
            lambda: ledger.transactions("processed") >= 4,
            "the workers process the first receipts",
            watch=stack.workers[0],
        )
        edited = stack.call(
            "PATCH",
            f"/api/v1/campaigns/{campaign['id']}",
            {"effects": [{"type": "award_points", "points": 20}]},
            marketer,
        )
        assert (edited.status, edited.body["version"]) == (200, 2), edited.body
        first = first_wave.result()
    second = push(stack, program, sales[24:])
    stack.settle(ledger, timeout=60)

    v1, v2 = (f"campaign:{campaign['id']}:v{n}" for n in (1, 2))
    bonuses = ledger.bonuses()
    assert sorted(cause for cause, *_rest in bonuses) == sorted(
        r.body["id"] for r in first + second
    )
    assert {(rule, points) for _c, _m, points, rule in bonuses} == {(v1, 10), (v2, 20)}
    after_edit = {r.body["id"] for r in second}
    assert {rule for cause, _m, _p, rule in bonuses if cause in after_edit} == {v2}
    versions = {(a["transaction_id"], a["version"]) for a in ledger.applications(campaign["id"])}
    assert versions == {(cause, int(rule[-1])) for cause, _m, _p, rule in bonuses}
    listed = stack.call("GET", f"/api/v1/campaigns/{campaign['id']}/versions", None, marketer)
    assert [(v["version"], v["snapshot"]["effects"]) for v in listed.body] == [
        (1, [{"type": "award_points", "points": 10}]),
        (2, [{"type": "award_points", "points": 20}]),
    ]
    earned = awarded_and_entries(ledger)
    assert all(points == entries for points, entries in earned.values()), earned
    assert ledger.unbalanced() == []


def waiting_on_a_lock(app: Flask) -> bool:
    """Whether some other connection waits on a row lock (PostgreSQL).

    SQLite has no such view; there a request waits for the write lock at its first query."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            time.sleep(0.5)
            return True
        with db.engine.connect() as conn:
            query = text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            return bool(conn.execute(query).scalar())


def test_a_till_redemption_while_the_engine_grants_the_same_reward_both_succeed(
    app, stack, program, ledger
):
    """The engine holds the member, then takes a reward from stock; a redemption of that
    reward at the same moment must wait its turn, not fail."""
    latte, cookie = reward(stack, program, "Free latte", 50), reward(stack, program, "Cookie", 5)
    stack.launch(
        program,
        {
            "name": "A cookie with your latte",
            "trigger": "reward.redeemed",
            "conditions": {"fact": "reward.id", "op": "eq", "value": latte["id"]},
            "effects": [
                {"type": "award_points", "points": 10},
                {"type": "issue_reward", "reward_id": cookie["id"]},
            ],
        },
    )
    member = stack.enrol(program)
    stack.sell(program, "FUND", "2500.00", member)
    stack.settle(ledger)
    event = Event(
        "reward.redeemed",
        "reward.redeemed:latte-at-another-till",
        member["id"],
        utcnow(),
        facts={"reward.id": latte["id"]},
    )
    till: list[Reply] = []
    redeem = threading.Thread(
        target=lambda: till.append(
            stack.call(
                "POST",
                "/api/v1/redemptions",
                {"member_id": member["id"], "reward_id": cookie["id"]},
                program.headers("admin"),
            )
        )
    )
    with app.app_context(), Session(db.engine) as session:
        session.connection()  # SQLite: the write lock, as the worker's batch holds it
        journal.lock_member(session, member["id"])  # PostgreSQL: the member's row
        redeem.start()
        wait_until(lambda: waiting_on_a_lock(app), "the redemption waits for the member")
        settings = engine.settings_from_config(app.config)
        assert engine.handle_event(session, event, settings) == 10
        session.commit()
    redeem.join(timeout=30)

    assert [r.status for r in till] == [201], till
    stack.settle(ledger)
    assert stack.member(program, member["id"])["points_balance"] == 100 + 10 - 5
    assert ledger.count("vouchers") == 2  # the gift and the paid cookie
    assert ledger.unbalanced() == []

"""Simulation equals live: a history of receipts (and of birthdays) goes through a live
campaign on a real worker, then the campaign's simulation over the same days must give what
its report shows; simulating a draft changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from flask import Flask

from rewards.campaigns.planning import in_holdout
from tests.factories import Program, receipt
from tests.integration.test_campaign_triggers import (
    BANGKOK,
    Ledger,
    Stack,
    reward,
    running_stack,
)

BUDGET = 150
PRICES = ["45.00", "130.00", "260.00", "75.50", "320.00", "99.99", "65.00"]
CATEGORIES = ["coffee", "tea", "bakery"]
COFFEE_LOVERS = {
    "name": "Coffee lovers, from the second visit",
    "trigger": "transaction.recorded",
    "conditions": {
        "all": [
            {"fact": "member.nth_purchase", "op": "gte", "value": 2},
            {
                "any": [
                    {"fact": "items.category", "op": "contains", "value": "coffee"},
                    {"fact": "transaction.total", "op": "gte", "value": "300.00"},
                ]
            },
        ]
    },
    "effects": [
        {"type": "award_points", "points": 10},
        {"type": "multiply_points", "factor": 2, "scope": {"category": ["coffee"]}},
    ],
    "limits": {"per_member": {"count": 1, "period": "week"}, "budget_points": BUDGET},
    "holdout_percent": 20,
}
# The most one application can give: 10, plus the coffee line's base points again.
MOST_PER_APPLICATION = 10 + int(Decimal("320.00") * 3 // 25)


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(database_url, tmp_path_factory.mktemp("campaign-simulation")) as started:
        yield started


@pytest.fixture
def ledger(app: Flask) -> Ledger:
    return Ledger(app)


def history(members: list[dict], count: int, start: datetime) -> list[dict]:
    """Receipts 11 hours apart from `start`, varied in member, category, price and size."""
    sales = []
    for n in range(count):
        price, quantity = PRICES[n % len(PRICES)], 1 + n % 3
        items = [
            {
                "sku": f"SKU-{CATEGORIES[n % 3]}",
                "category": CATEGORIES[n % 3],
                "quantity": quantity,
                "unit_price": price,
            }
        ]
        if n % 4 == 0:
            items.append(
                {"sku": "BK-CROISSANT", "category": "bakery", "quantity": 1, "unit_price": "55.00"}
            )
        total = sum(Decimal(i["unit_price"]) * i["quantity"] for i in items)
        member = members[(n * 7) % len(members)]
        sales.append(
            receipt(
                f"H-{n}",
                f"{total:.2f}",
                {"member_no": member["member_no"]},
                items=items,
                occurred_at=start + timedelta(hours=11 * n),
            )
        )
    return sales


def replay(stack: Stack, program: Program, ledger: Ledger, sales: list[dict]) -> None:
    """POST the receipts one after another, in the order they happened, and let them settle."""
    for body in sales:
        sent = stack.call("POST", "/api/v1/transactions", body, program.headers("BKK01"))
        assert sent.status == 201, sent.body
    stack.settle(ledger, timeout=60)


def simulate(stack: Stack, program: Program, campaign_id: int, days: int) -> dict:
    done = stack.call(
        "POST",
        f"/api/v1/campaigns/{campaign_id}/simulate",
        {"days": days},
        program.headers("marketer"),
    )
    assert done.status == 200, done.body
    return done.body


def report(stack: Stack, program: Program, campaign_id: int) -> dict:
    path = f"/api/v1/campaigns/{campaign_id}/report"
    shown = stack.call("GET", path, None, program.headers("marketer"))
    assert shown.status == 200, shown.body
    return shown.body


def as_reported(simulated: dict) -> dict:
    return {
        "reach": simulated["reach"],
        "applications": simulated["applications"],
        "points_issued": simulated["points"],
        "effects": simulated["effects"],
        "held_out": simulated["held_out"],
    }


def live(reported: dict) -> dict:
    return {
        "reach": reported["reach"],
        "applications": reported["applications"],
        "points_issued": reported["points_issued"],
        "effects": reported["effects"],
        "held_out": reported["holdout"]["members"],
    }


def treated_and_held_out(
    stack: Stack, program: Program, campaign_id: int, treated: int, held_out: int
) -> list[dict]:
    """`treated` members the campaign treats, then `held_out` members it holds out: the same
    history whatever ids the database hands out (the holdout is a hash of the ids)."""
    found: dict[bool, list[dict]] = {True: [], False: []}
    while len(found[False]) < treated or len(found[True]) < held_out:
        member = stack.enrol(program)
        found[in_holdout(campaign_id, member["id"], COFFEE_LOVERS["holdout_percent"])].append(
            member
        )
    return found[False][:treated] + found[True][:held_out]


def test_simulating_a_live_campaign_over_its_history_gives_what_its_report_shows(
    stack, program, ledger
):
    campaign = stack.launch(program, COFFEE_LOVERS)
    members = treated_and_held_out(stack, program, campaign["id"], 10, 2)
    start = datetime.now(BANGKOK) - timedelta(days=25)
    replay(stack, program, ledger, history(members, 48, start))

    reported = report(stack, program, campaign["id"])
    assert reported["applications"] > 0
    # Unbudgeted, this history asks for 170 points or more (wherever the weeks start): the
    # budget stopped the campaign, with less left than one more application would take.
    assert BUDGET - MOST_PER_APPLICATION < reported["points_issued"] <= BUDGET
    simulated = simulate(stack, program, campaign["id"], 30)
    assert simulated["events"] == 48
    assert as_reported(simulated) == live(reported)
    assert ledger.unbalanced() == []


def test_simulating_a_draft_changes_nothing(stack, program, ledger):
    gift = reward(stack, program, "Free cookie", 20)
    thanks = {"locales": {"en": {"body": "Thanks, {{ name }}"}}}
    path = "/api/v1/message-templates/thanks"
    assert stack.call("PUT", path, thanks, program.headers("marketer")).status == 200
    draft = stack.call(
        "POST",
        "/api/v1/campaigns",
        {
            "name": "Everything, every time",
            "trigger": "transaction.recorded",
            "effects": [
                {"type": "award_points", "points": 10},
                {"type": "issue_reward", "reward_id": gift["id"]},
                {"type": "send_message", "channel": "sms", "template": "thanks"},
                {"type": "tag_member", "tag": "simulated"},
            ],
        },
        program.headers("marketer"),
    )
    assert draft.status == 201, draft.body
    members = [stack.enrol(program) for _ in range(3)]
    replay(stack, program, ledger, history(members, 9, datetime.now(BANGKOK) - timedelta(days=6)))
    before = ledger.snapshot()

    simulated = simulate(stack, program, draft.body["id"], 30)
    assert (simulated["applications"], simulated["points"]) == (9, 90)
    assert (simulated["rewards"], simulated["messages"], simulated["reach"]) == (9, 9, 3)
    assert ledger.snapshot() == before
    shown = stack.call(
        "GET", f"/api/v1/campaigns/{draft.body['id']}", None, program.headers("admin")
    )
    assert (shown.body["status"], shown.body["version"]) == ("draft", 1)
    assert shown.body["budget_used"] == {"points": 0, "applications": 0}
    stock = stack.call("GET", f"/api/v1/rewards/{gift['id']}", None, program.headers("admin"))
    assert stock.body["issued"] == 0


def test_simulating_a_birthday_campaign_over_the_days_run_gives_what_live_gave(
    stack, program, ledger
):
    campaign = stack.launch(
        program,
        {
            "name": "Birthday treat, first three",
            "trigger": "member.birthday",
            "effects": [{"type": "award_points", "points": 30}],
            "limits": {"budget_count": 3},
        },
    )
    today = datetime.now(BANGKOK).date()
    yesterday = today - timedelta(days=1)
    for born in (yesterday, yesterday, today, today, today + timedelta(days=10)):
        stack.enrol(program, birthdate=born.replace(year=1990).isoformat())
    stack.enrol(program)
    stack.settle(ledger)
    assert stack.run_daily(yesterday) == {"member.birthday": 2}
    assert stack.run_daily(today) == {"member.birthday": 2}
    stack.settle(ledger)

    reported = report(stack, program, campaign["id"])
    assert (reported["applications"], reported["points_issued"]) == (3, 90)
    simulated = simulate(stack, program, campaign["id"], 3)
    assert simulated["events"] == 4
    assert as_reported(simulated) == live(reported)

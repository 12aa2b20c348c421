"""Campaign rules through the API with the embedded engine: one behaviour per effect and fact.

Every sale is quoted first and then recorded, and the quote must equal what the sale earns.
The base rule earns 1 point per 25.00, so a sale of 100.00 earns 4 before any campaign.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from loyalty.db import utcnow
from loyalty.extensions import db
from rewards.campaigns.planning import in_holdout
from rewards.models import Voucher
from tests.api.conftest import problem_of
from tests.factories import Program, enrol, receipt

BANGKOK = ZoneInfo("Asia/Bangkok")
SALE = "transaction.recorded"
_receipts = iter(range(1, 10_000_000))


@pytest.fixture
def marketer(program: Program) -> dict[str, str]:
    return program.headers("marketer")


def define(client: FlaskClient, headers: dict, **body: Any) -> dict:
    """A draft campaign: a sale campaign named "Bonus" unless the body says otherwise."""
    created = client.post(
        "/api/v1/campaigns", json={"name": "Bonus", "trigger": SALE, **body}, headers=headers
    )
    assert created.status_code == 201, created.get_json()
    return created.get_json()


def act(client: FlaskClient, headers: dict, campaign: dict, action: str) -> dict:
    done = client.post(f"/api/v1/campaigns/{campaign['id']}/{action}", headers=headers)
    assert done.status_code == 200, done.get_json()
    return done.get_json()


def launch(client: FlaskClient, headers: dict, **body: Any) -> dict:
    return act(client, headers, define(client, headers, **body), "activate")


def award(points: int) -> list[dict]:
    return [{"type": "award_points", "points": points}]


def get(client: FlaskClient, headers: dict, path: str) -> Any:
    found = client.get(path, headers=headers)
    assert found.status_code == 200, found.get_json()
    return found.get_json()


def line(sku: str, category: str, unit_price: str, quantity: int = 1) -> dict:
    return {"sku": sku, "category": category, "quantity": quantity, "unit_price": unit_price}


def earn(
    client: FlaskClient,
    program: Program,
    member: dict,
    total: str,
    items: list[dict] | None = None,
    at: datetime | None = None,
) -> int:
    """Quote a sale to the member, record it, and return the points it earned (= the quote)."""
    body = receipt(f"R-{next(_receipts)}", total, {"member_no": member["member_no"]})
    body["items"] = items or body["items"]
    if at is not None:
        body["occurred_at"] = at.isoformat()
    till = program.headers("BKK01")
    quote_body = {k: v for k, v in body.items() if k not in ("external_id", "type")}
    quoted = client.post("/api/v1/quote", json=quote_body, headers=till)
    assert quoted.status_code == 200, quoted.get_json()
    sold = client.post("/api/v1/transactions", json=body, headers=till)
    assert sold.status_code == 201, sold.get_json()
    assert sold.get_json()["points_awarded"] == quoted.get_json()["points"], quoted.get_json()
    return sold.get_json()["points_awarded"]


def bangkok(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0, tzinfo=BANGKOK)


def days_ago(days: int) -> datetime:
    return utcnow().astimezone(BANGKOK) - timedelta(days=days)


def test_award_points_adds_a_fixed_bonus(client, program, marketer):
    launch(client, marketer, effects=award(30))
    assert earn(client, program, enrol(client, program), "100.00") == 4 + 30


def test_points_per_amount_without_a_scope_counts_the_whole_total(client, program, marketer):
    launch(client, marketer, effects=[{"type": "points_per_amount", "points": 2, "amount": "10"}])
    basket = [line("CF-LATTE", "coffee", "60.00"), line("BK-CAKE", "bakery", "35.00")]
    assert earn(client, program, enrol(client, program), "95.00", basket) == 3 + 18


@pytest.mark.parametrize(
    ("scope", "bonus"),
    [
        ({"category": ["bakery"]}, 6),  # 35.00 of bakery: 3 × 2
        ({"sku": ["CF-LATTE"]}, 12),  # 60.00 of latte: 6 × 2
        ({"sku": ["BK-CAKE"], "category": ["coffee"]}, 18),  # both lines
        ({"category": ["tea"]}, 0),
    ],
)
def test_points_per_amount_with_a_scope_counts_only_matching_lines(
    client, program, marketer, scope, bonus
):
    effect = {"type": "points_per_amount", "points": 2, "amount": "10.00", "scope": scope}
    launch(client, marketer, effects=[effect])
    basket = [line("CF-LATTE", "coffee", "60.00"), line("BK-CAKE", "bakery", "35.00")]
    assert earn(client, program, enrol(client, program), "95.00", basket) == 3 + bonus


def test_multiply_points_without_a_scope_multiplies_the_base(client, program, marketer):
    launch(client, marketer, effects=[{"type": "multiply_points", "factor": 3}])
    assert earn(client, program, enrol(client, program), "150.00") == 6 * 3


@pytest.mark.parametrize(
    ("scope", "factor", "bonus"),
    [
        ({"sku": ["CF-LATTE"]}, 2, 4),  # the latte's 100.00 earns 4 base points, doubled
        ({"sku": ["BK-CAKE"]}, 2, 2),
        ({"category": ["coffee"]}, "1.5", 2),  # 4 × 0.5
        ({"category": ["bakery"]}, 3, 4),  # 2 × 2
        ({"category": ["tea"]}, 2, 0),
    ],
)
def test_multiply_points_with_a_scope_multiplies_the_matching_lines_base(
    client, program, marketer, scope, factor, bonus
):
    launch(
        client, marketer, effects=[{"type": "multiply_points", "factor": factor, "scope": scope}]
    )
    basket = [line("CF-LATTE", "coffee", "50.00", 2), line("BK-CAKE", "bakery", "50.00")]
    assert earn(client, program, enrol(client, program), "150.00", basket) == 6 + bonus


def vouchers_of(app: Flask, reward_id: int) -> list[tuple[int, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(Voucher.member_id, Voucher.status).where(Voucher.reward_id == reward_id)
        )
        return [tuple(row) for row in rows]


def test_issue_reward_gives_a_voucher_until_the_stock_runs_out(app, client, program, marketer):
    reward = client.post(
        "/api/v1/rewards",
        json={"name": "Free cookie", "points_cost": 500, "stock": 1},
        headers=marketer,
    ).get_json()
    campaign = launch(
        client, marketer, effects=[{"type": "issue_reward", "reward_id": reward["id"]}]
    )
    first, second = enrol(client, program), enrol(client, program)
    assert earn(client, program, first, "100.00") == 4
    assert earn(client, program, second, "100.00") == 4  # out of stock: no voucher, no error
    assert vouchers_of(app, reward["id"]) == [(first["id"], "issued")]
    got = get(client, marketer, f"/api/v1/rewards/{reward['id']}")
    assert (got["stock"], got["issued"]) == (1, 1)
    report = get(client, marketer, f"/api/v1/campaigns/{campaign['id']}/report")
    assert (report["applications"], report["rewards_issued"]) == (2, 1)
    balance = get(client, marketer, f"/api/v1/members/{first['id']}")
    assert balance["points_balance"] == 4  # the voucher cost the member nothing


def test_a_tag_given_on_enrolment_puts_the_member_in_a_tagged_audience(client, program, marketer):
    before = enrol(client, program)
    launch(
        client,
        marketer,
        name="Welcome",
        trigger="member.enrolled",
        effects=[{"type": "tag_member", "tag": "welcomed"}],
    )
    launch(client, marketer, audience={"tags": ["welcomed", "vip"]}, effects=award(25))
    after = enrol(client, program)
    assert earn(client, program, after, "100.00") == 4 + 25
    assert earn(client, program, before, "100.00") == 4


def test_a_tag_given_by_a_sale_counts_from_the_next_sale(client, program, marketer):
    launch(client, marketer, priority=5, effects=[{"type": "tag_member", "tag": "buyer"}])
    launch(client, marketer, audience={"tags": ["buyer"]}, effects=award(7))
    member = enrol(client, program)
    assert earn(client, program, member, "100.00") == 4
    assert earn(client, program, member, "100.00") == 4 + 7


def test_an_audience_of_tiers_leaves_other_tiers_out(app, client, program, marketer):
    ladder = {
        "basis": "spend",
        "window": {"type": "rolling", "months": 12},
        "tiers": [{"code": "member", "threshold": "0"}, {"code": "gold", "threshold": "1000.00"}],
    }
    r = client.put("/api/v1/tiers", json=ladder, headers=program.headers("admin"))
    assert r.status_code == 200, r.get_json()
    launch(client, marketer, audience={"tiers": ["gold"]}, effects=award(50))
    gold, plain = enrol(client, program), enrol(client, program)
    assert earn(client, program, gold, "1000.00") == 40  # reaches gold with this sale
    assert get(client, marketer, f"/api/v1/members/{gold['id']}")["tier"] == "gold"
    assert earn(client, program, gold, "100.00") == 4 + 50
    assert earn(client, program, plain, "100.00") == 4


# Program days in Bangkok: the first two sales of the "day" case fall on one UTC day
# (16:30 and 17:30 UTC) but on two Bangkok days.
def day_sales() -> list[tuple[datetime, int]]:
    day = days_ago(10)
    next_day = day + timedelta(days=1)
    return [(bangkok(day, 23, 30), 10), (bangkok(next_day, 0, 30), 10), (bangkok(next_day, 8), 0)]


def week_sales() -> list[tuple[datetime, int]]:
    today = days_ago(0)
    monday = today - timedelta(days=today.weekday() + 21)
    sunday = monday + timedelta(days=6)
    return [
        (bangkok(monday, 0, 30), 10),
        (bangkok(sunday, 23, 30), 0),
        (bangkok(sunday + timedelta(days=1), 0, 30), 10),
    ]


def month_sales() -> list[tuple[datetime, int]]:
    first = days_ago(0).replace(day=1)
    earlier = (first - timedelta(days=70)).replace(day=1)  # two or three months back
    following = (earlier + timedelta(days=32)).replace(day=1)
    last = following - timedelta(days=1)
    return [
        (bangkok(earlier, 0, 30), 10),
        (bangkok(last, 23, 30), 0),
        (bangkok(following, 0, 30), 10),
    ]


def campaign_sales() -> list[tuple[datetime, int]]:
    return [(bangkok(days_ago(n), 12), bonus) for n, bonus in ((60, 10), (30, 10), (1, 0))]


@pytest.mark.parametrize(
    ("period", "count", "sales"),
    [
        ("day", 1, day_sales),
        ("week", 1, week_sales),
        ("month", 1, month_sales),
        ("campaign", 2, campaign_sales),
    ],
)
def test_a_per_member_limit_counts_within_its_period_in_bangkok(
    client, program, marketer, period, count, sales
):
    limits = {"per_member": {"count": count, "period": period}}
    launch(client, marketer, limits=limits, effects=award(10))
    member, other = enrol(client, program), enrol(client, program)
    got = [earn(client, program, member, "100.00", at=at) - 4 for at, _bonus in sales()]
    assert got == [bonus for _at, bonus in sales()]
    assert earn(client, program, other, "100.00") == 4 + 10  # the limit is per member


def test_a_points_budget_is_never_exceeded(client, program, marketer):
    effect = {"type": "points_per_amount", "points": 1, "amount": "10.00"}
    campaign = launch(client, marketer, limits={"budget_points": 25}, effects=[effect])
    members = [enrol(client, program) for _ in range(3)]
    sales = [(m, "100.00") for m in members] + [(m, "50.00") for m in members]
    got = [earn(client, program, member, total) for member, total in sales]
    assert got == [4 + 10, 4 + 10, 4, 2 + 5, 2, 2]  # the 50.00 fits the last 5 points
    seen = get(client, marketer, f"/api/v1/campaigns/{campaign['id']}")
    assert seen["budget_used"] == {"points": 25, "applications": 3}


def test_an_exclusive_campaign_stops_the_campaigns_below_it(client, program, marketer):
    launch(client, marketer, name="Top", priority=100, effects=award(1))
    exclusive = launch(
        client,
        marketer,
        name="Big spenders only",
        priority=50,
        stackable=False,
        conditions={"fact": "transaction.total", "op": "gte", "value": "500.00"},
        effects=award(10),
    )
    launch(client, marketer, name="Low", priority=10, effects=award(100))
    launch(client, marketer, name="Lowest", priority=-5, effects=award(1000))
    member = enrol(client, program)
    assert earn(client, program, member, "500.00") == 20 + 1 + 10
    assert earn(client, program, member, "100.00") == 4 + 1 + 100 + 1000  # its condition fails
    act(client, marketer, exclusive, "pause")
    assert earn(client, program, member, "500.00") == 20 + 1 + 100 + 1000


def test_a_campaign_applies_only_between_its_start_and_end(client, program, marketer):
    now = utcnow()
    campaign = launch(
        client,
        marketer,
        starts_at=(now - timedelta(days=3)).isoformat(),
        ends_at=(now + timedelta(days=1)).isoformat(),
        effects=award(10),
    )
    member = enrol(client, program)
    assert earn(client, program, member, "100.00", at=now - timedelta(days=4)) == 4
    assert earn(client, program, member, "100.00", at=now - timedelta(days=2)) == 4 + 10
    assert earn(client, program, member, "100.00", at=now - timedelta(minutes=1)) == 4 + 10
    ended = (utcnow() - timedelta(days=1)).isoformat()
    edited = client.patch(
        f"/api/v1/campaigns/{campaign['id']}", json={"ends_at": ended}, headers=marketer
    )
    assert edited.status_code == 200, edited.get_json()
    assert earn(client, program, member, "100.00") == 4
    assert earn(client, program, member, "100.00", at=now - timedelta(days=2)) == 4 + 10


def test_pause_stops_a_campaign_and_activate_resumes_it(client, program, marketer):
    campaign = launch(client, marketer, effects=award(10))
    member = enrol(client, program)
    assert earn(client, program, member, "100.00") == 4 + 10
    assert act(client, marketer, campaign, "pause")["status"] == "paused"
    assert earn(client, program, member, "100.00") == 4
    assert act(client, marketer, campaign, "activate")["status"] == "active"
    assert earn(client, program, member, "100.00") == 4 + 10


def test_an_ended_campaign_stays_ended(client, program, marketer):
    campaign = launch(client, marketer, effects=award(10))
    ended = act(client, marketer, campaign, "end")
    assert ended["status"] == "ended"
    assert ended["ended_at"] is not None
    path = f"/api/v1/campaigns/{campaign['id']}"
    for action in ("activate", "pause", "end"):
        refused = problem_of(client.post(f"{path}/{action}", headers=marketer), 409)
        assert refused["type"].endswith("campaign-state"), refused
    problem_of(client.patch(path, json={"name": "Again"}, headers=marketer), 409)
    assert earn(client, program, enrol(client, program), "100.00") == 4
    assert get(client, marketer, path)["status"] == "ended"


def campaign_count(client: FlaskClient, headers: dict) -> int:
    return len(get(client, headers, "/api/v1/campaigns"))


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (
            {
                "trigger": "member.enrolled",
                "conditions": {"fact": "transaction.total", "op": "gte", "value": "100.00"},
                "effects": award(10),
            },
            422,
            "conditions",
        ),
        ({"trigger": "member.inactive", "effects": award(10)}, 422, "inactive_days"),
        ({"effects": [{"type": "issue_reward", "reward_id": 999_999}]}, 404, None),
    ],
    ids=["a transaction fact on enrolment", "no inactive_days", "an unknown reward"],
)
def test_a_campaign_that_cannot_work_is_refused(client, marketer, body, status, field):
    before = campaign_count(client, marketer)
    refused = client.post(
        "/api/v1/campaigns", json={"name": "Broken", "trigger": SALE, **body}, headers=marketer
    )
    problem = problem_of(refused, status)
    if field is not None:
        assert field in problem["errors"], problem
    assert campaign_count(client, marketer) == before


def test_a_holdout_keeps_a_stable_share_of_members_out(client, program, marketer):
    campaign = launch(client, marketer, holdout_percent=50, effects=award(10))
    members = [enrol(client, program) for _ in range(40)]
    bonuses = {m["id"]: [earn(client, program, m, "100.00") - 4 for _ in range(2)] for m in members}
    held_out = {m for m, got in bonuses.items() if got == [0, 0]}
    treated = {m for m, got in bonuses.items() if got == [10, 10]}
    assert held_out | treated == set(bonuses)  # the same group on every receipt
    assert held_out
    assert treated
    assert held_out == {m for m in bonuses if in_holdout(campaign["id"], m, 50)}
    report = get(client, marketer, f"/api/v1/campaigns/{campaign['id']}/report")
    assert (report["treated"]["members"], report["holdout"]["members"]) == (
        len(treated),
        len(held_out),
    )


def test_only_an_admin_changes_the_base_earning_rule(client, program, marketer):
    base = get(client, marketer, "/api/v1/campaigns")[0]
    path = f"/api/v1/campaigns/{base['id']}"
    rate = {"effects": [{"type": "points_per_amount", "points": 1, "amount": "10.00"}]}
    problem_of(client.patch(path, json=rate, headers=marketer), 403)
    assert earn(client, program, enrol(client, program), "100.00") == 4
    changed = client.patch(path, json=rate, headers=program.headers("admin"))
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["version"] == base["version"] + 1
    assert earn(client, program, enrol(client, program), "100.00") == 10


def test_a_simulation_replays_recent_sales_and_changes_nothing(client, program, marketer):
    first, second = enrol(client, program), enrol(client, program)
    for member, total in ((first, "100.00"), (first, "300.00"), (second, "50.00")):
        earn(client, program, member, total, at=utcnow() - timedelta(days=2))
    effects = [
        {"type": "points_per_amount", "points": 1, "amount": "10.00"},
        {"type": "tag_member", "tag": "simulated"},
    ]
    draft = define(
        client, marketer, effects=effects, limits={"per_member": {"count": 1, "period": "campaign"}}
    )
    ledgers = [f"/api/v1/members/{m['id']}/ledger" for m in (first, second)]
    before = [get(client, marketer, path) for path in ledgers]
    result = client.post(
        f"/api/v1/campaigns/{draft['id']}/simulate", json={"days": 7}, headers=marketer
    )
    assert result.status_code == 200, result.get_json()
    got = result.get_json()
    assert (got["events"], got["reach"], got["applications"], got["points"]) == (3, 2, 2, 10 + 5)
    assert got["effects"] == {"points_per_amount": 2, "tag_member": 2}
    assert [get(client, marketer, path) for path in ledgers] == before
    assert get(client, marketer, f"/api/v1/campaigns/{draft['id']}")["status"] == "draft"
    launch(client, marketer, audience={"tags": ["simulated"]}, effects=award(9))
    assert earn(client, program, first, "100.00") == 4  # the simulation tagged nobody

"""Campaigns through the API: define, launch, earn on receipts, edit live, quote, refund."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from loyalty.db import utcnow
from tests.factories import enrol, receipt

COFFEE_DOUBLE = {
    "name": "Double points on coffee before 10",
    "trigger": "transaction.recorded",
    "conditions": {
        "all": [
            {"fact": "items.category", "op": "contains", "value": "coffee"},
            {"fact": "transaction.hour", "op": "lt", "value": 10},
        ]
    },
    "effects": [{"type": "multiply_points", "factor": 2, "scope": {"category": ["coffee"]}}],
    "priority": 10,
}


def morning(hour: int = 8):
    """Today (or yesterday, if that is still ahead) at `hour` in Bangkok, as UTC."""
    zone = ZoneInfo("Asia/Bangkok")
    local = utcnow().astimezone(zone).replace(hour=hour, minute=0, second=0, microsecond=0)
    if local > utcnow():
        local -= timedelta(days=1)
    return local


@pytest.fixture
def marketer(program):
    return program.headers("marketer")


def launch(client, headers, body) -> dict:
    created = client.post("/api/v1/campaigns", json=body, headers=headers)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["status"] == "draft"
    campaign_id = created.get_json()["id"]
    started = client.post(f"/api/v1/campaigns/{campaign_id}/activate", headers=headers)
    assert started.status_code == 200, started.get_json()
    return started.get_json()


def sell(client, program, external_id, total, member, **extra):
    body = receipt(external_id, total, {"member_no": member["member_no"]}, **extra)
    response = client.post("/api/v1/transactions", json=body, headers=program.headers("BKK01"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_the_base_earning_rule_is_a_built_in_campaign(client, program):
    listed = client.get("/api/v1/campaigns", headers=program.headers("admin")).get_json()
    base = listed[0]
    assert base["builtin"] == "base_earning"
    assert base["status"] == "active"
    assert base["effects"] == [{"type": "points_per_amount", "points": 1, "amount": "25.00"}]


def test_double_points_on_coffee_before_ten(client, program, marketer):
    campaign = launch(client, marketer, COFFEE_DOUBLE)
    member = enrol(client, program)
    early = sell(client, program, "R-1", "130.00", member, occurred_at=morning(8))
    late = sell(client, program, "R-2", "130.00", member, occurred_at=morning(11))
    assert early["points_awarded"] == 10  # 5 base + 5 bonus
    assert late["points_awarded"] == 5
    detail = client.get(f"/api/v1/transactions/{early['id']}", headers=marketer).get_json()
    rules = sorted(e["rule"] for e in detail["effects"])
    assert rules == ["base", f"campaign:{campaign['id']}:v1"]


def test_editing_a_live_campaign_makes_a_version_that_later_effects_name(client, program, marketer):
    campaign = launch(client, marketer, {**COFFEE_DOUBLE, "conditions": {}})
    member = enrol(client, program)
    sell(client, program, "R-1", "100.00", member)
    edited = client.patch(
        f"/api/v1/campaigns/{campaign['id']}",
        json={"effects": [{"type": "award_points", "points": 50}]},
        headers=marketer,
    )
    assert edited.status_code == 200
    assert edited.get_json()["version"] == 2
    second = sell(client, program, "R-2", "100.00", member)
    assert second["points_awarded"] == 4 + 50
    ledger = client.get(f"/api/v1/members/{member['id']}/ledger", headers=marketer).get_json()
    rules = [e["rule"] for e in ledger if e["kind"] == "bonus"]
    assert rules == [f"campaign:{campaign['id']}:v2", f"campaign:{campaign['id']}:v1"]
    versions = client.get(f"/api/v1/campaigns/{campaign['id']}/versions", headers=marketer)
    assert [v["version"] for v in versions.get_json()] == [1, 2]


def test_the_quote_equals_what_the_real_transaction_earns(client, program, marketer):
    launch(client, marketer, COFFEE_DOUBLE)
    launch(
        client,
        marketer,
        {
            "name": "Third purchase bonus",
            "trigger": "transaction.recorded",
            "conditions": {"fact": "member.nth_purchase", "op": "eq", "value": 1},
            "effects": [{"type": "award_points", "points": 30}],
        },
    )
    member = enrol(client, program)
    body = receipt("Q-1", "260.00", {"member_no": member["member_no"]}, occurred_at=morning(9))
    quote_body = {k: v for k, v in body.items() if k not in ("external_id", "type")}
    quoted = client.post("/api/v1/quote", json=quote_body, headers=program.headers("BKK01"))
    assert quoted.status_code == 200, quoted.get_json()
    real = sell(client, program, "Q-1", "260.00", member, occurred_at=morning(9))
    assert quoted.get_json()["points"] == real["points_awarded"] == 10 + 10 + 30
    assert {c["points"] for c in quoted.get_json()["campaigns"]} == {10, 30}
    assert (
        client.get(f"/api/v1/members/{member['id']}", headers=marketer).get_json()["points_balance"]
        == real["points_awarded"]
    )


def test_a_refund_reverses_the_bonus_whose_condition_no_longer_holds(client, program, marketer):
    launch(
        client,
        marketer,
        {
            "name": "Spend 500, get 100",
            "trigger": "transaction.recorded",
            "conditions": {"fact": "transaction.total", "op": "gte", "value": "500.00"},
            "effects": [{"type": "award_points", "points": 100}],
        },
    )
    member = enrol(client, program)
    items = [
        {"sku": "SH-1", "category": "shoes", "quantity": 1, "unit_price": "400.00"},
        {"sku": "SO-1", "category": "socks", "quantity": 2, "unit_price": "50.00"},
    ]
    sale = sell(client, program, "S-1", "500.00", member, items=items)
    assert sale["points_awarded"] == 20 + 100
    refund = receipt(
        "S-1R",
        "50.00",
        None,
        type="refund",
        refund_of="S-1",
        items=[{"sku": "SO-1", "category": "socks", "quantity": 1, "unit_price": "50.00"}],
    )
    done = client.post("/api/v1/transactions", json=refund, headers=program.headers("BKK01"))
    assert done.status_code == 201, done.get_json()
    balance = client.get(f"/api/v1/members/{member['id']}", headers=marketer).get_json()
    assert balance["points_balance"] == 18  # 450.00 earns 18; the 500.00 bonus no longer holds


def test_a_welcome_bonus_on_enrolment(client, program, marketer):
    launch(
        client,
        marketer,
        {
            "name": "Welcome",
            "trigger": "member.enrolled",
            "effects": [
                {"type": "award_points", "points": 100},
                {"type": "tag_member", "tag": "welcomed"},
            ],
        },
    )
    member = enrol(client, program)
    got = client.get(f"/api/v1/members/{member['id']}", headers=marketer).get_json()
    assert got["points_balance"] == 100


def test_budget_count_stops_the_campaign_exactly(client, program, marketer):
    launch(
        client,
        marketer,
        {
            "name": "First three buyers",
            "trigger": "transaction.recorded",
            "effects": [{"type": "award_points", "points": 7}],
            "limits": {"budget_count": 3, "per_member": {"count": 1, "period": "day"}},
        },
    )
    members = [enrol(client, program) for _ in range(3)]
    awarded = []
    for n, member in enumerate(members * 2):
        awarded.append(sell(client, program, f"B-{n}", "25.00", member)["points_awarded"])
    assert awarded == [8, 8, 8, 1, 1, 1]

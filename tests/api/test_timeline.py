"""A member's timeline: every kind of event, newest first, paged without gaps or repeats, and
what each viewer may see."""

from __future__ import annotations

import base64

import pytest

from loyalty.db import utcnow
from tests.api.conftest import problem_of
from tests.api.test_merge import merge, refund, sell
from tests.api.test_pdpa import add_message, add_reward
from tests.factories import enrol

TIERS = {
    "basis": "spend",
    "window": {"type": "rolling", "months": 12},
    "downgrade": "period_end",
    "tiers": [
        {"code": "member", "name": "Member", "threshold": "0", "multiplier": "1"},
        {"code": "silver", "name": "Silver", "threshold": "1000.00", "multiplier": "1"},
    ],
}


def timeline(client, headers, member_id, **query) -> dict:
    r = client.get(f"/api/v1/members/{member_id}/timeline", query_string=query, headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def launch_bonus(client, program) -> None:
    reward = add_reward(client, program)
    marketer = program.headers("marketer")
    body = {
        "name": "Coffee club",
        "trigger": "transaction.recorded",
        "effects": [
            {"type": "award_points", "points": 5},
            {"type": "issue_reward", "reward_id": reward},
        ],
    }
    made = client.post("/api/v1/campaigns", json=body, headers=marketer)
    assert made.status_code == 201, made.get_json()
    started = client.post(f"/api/v1/campaigns/{made.get_json()['id']}/activate", headers=marketer)
    assert started.status_code == 200


@pytest.fixture
def history(app, client, program) -> dict:
    """A member who enrolled, bought twice at the same instant, got a campaign's bonus and
    voucher, reached silver, had a refund and was sent a message."""
    policy = client.put("/api/v1/tiers", json=TIERS, headers=program.headers("admin"))
    assert policy.status_code == 200, policy.get_json()
    launch_bonus(client, program)
    member = enrol(client, program)
    at = utcnow()  # both sales at the same instant
    sell(client, program, "T-1", "600.00", member, occurred_at=at)
    sell(client, program, "T-2", "600.00", member, occurred_at=at)
    refund(client, program, "T-2R", "T-2", "100.00")
    add_message(app, member["id"], "+66800000000")
    return member


def test_every_kind_of_event_appears_newest_first(client, program, history):
    page = timeline(client, program.headers("admin"), history["id"])
    entries = page["entries"]
    assert page["next"] is None
    kinds = [e["kind"] for e in entries]
    assert set(kinds) == {"enrolled", "purchase", "refund", "points", "campaign", "tier", "message"}
    assert kinds.count("purchase") == 2
    assert kinds.count("campaign") == 2
    assert kinds[-1] == "enrolled"
    times = [e["at"] for e in entries]
    assert times == sorted(times, reverse=True)
    tier = next(e for e in entries if e["kind"] == "tier")
    assert (tier["detail"]["from"], tier["detail"]["to"]) == ("member", "silver")
    campaign = next(e for e in entries if e["kind"] == "campaign")
    assert campaign["detail"]["campaign"] == "Coffee club"
    assert [fx["type"] for fx in campaign["detail"]["effects"]] == ["award_points", "issue_reward"]
    purchase = next(e for e in entries if e["kind"] == "purchase")
    assert purchase["detail"]["store"] == "BKK01"
    assert purchase["summary"].startswith("Purchase 600.00 THB at BKK01")
    refunded = next(e for e in entries if e["kind"] == "refund")
    assert refunded["detail"]["total"] == "100.00"
    points = sorted(e["detail"]["points"] for e in entries if e["kind"] == "points")
    assert points == [-4, 5, 5, 24, 24]


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_pages_cover_the_timeline_without_gaps_or_repeats(client, program, history, limit):
    headers = program.headers("admin")
    whole = timeline(client, headers, history["id"], limit=200)["entries"]
    walked, cursor, pages = [], None, 0
    while True:
        query = {"limit": limit, **({"before": cursor} if cursor else {})}
        page = timeline(client, headers, history["id"], **query)
        assert len(page["entries"]) <= limit
        walked.extend(page["entries"])
        cursor, pages = page["next"], pages + 1
        if cursor is None:
            break
    assert walked == whole
    assert pages == -(-len(whole) // limit)


def test_message_texts_and_voucher_codes_only_for_the_member_and_admins(
    client, program, history, shopper
):
    viewers = {
        "admin": program.headers("admin"),
        "member": shopper(history["id"]),
        "cashier": program.headers("cashier"),
        "marketer": program.headers("marketer"),
    }
    for who, headers in viewers.items():
        entries = timeline(client, headers, history["id"])["entries"]
        message = next(e for e in entries if e["kind"] == "message")
        vouchers = [
            fx.get("voucher")
            for e in entries
            if e["kind"] == "campaign"
            for fx in e["detail"]["effects"]
        ]
        private = who in ("admin", "member")
        assert ("body" in message["detail"]) is private, who
        assert (message["detail"].get("body") or "").startswith("Happy") is private, who
        assert message["detail"]["channel"] == "sms"
        assert any(vouchers) is private, who


def test_a_merged_profile_shows_both_histories_and_the_merge(client, program):
    target, source = enrol(client, program), enrol(client, program)
    sell(client, program, "M-1", "100.00", target)
    sell(client, program, "M-2", "200.00", source)
    assert merge(client, program, target["id"], source["id"], "one person").status_code == 200
    entries = timeline(client, program.headers("cashier"), target["id"])["entries"]
    assert entries[0]["kind"] == "merge"
    assert entries[0]["detail"]["from_member_id"] == source["id"]
    assert entries[0]["detail"]["reason"] == "one person"
    purchases = {e["detail"]["external_id"] for e in entries if e["kind"] == "purchase"}
    assert purchases == {"M-1", "M-2"}


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def test_bad_paging_is_refused(client, program, shopper):
    member, other = enrol(client, program), enrol(client, program)
    path = f"/api/v1/members/{member['id']}/timeline"
    admin = program.headers("admin")
    for query, field in (
        ({"before": "not-a-cursor"}, "before"),
        ({"before": "bm90fGF8Y3Vyc29y"}, "before"),  # base64 of "not|a|cursor"
        ({"before": cursor("0001-01-01T00:00:00+05:00|points|1")}, "before"),
        ({"before": cursor("2026-01-01T00:00:00+00:00|points|99999999999999999999")}, "before"),
        ({"before": cursor("2026-01-01T00:00:00|points|1")}, "before"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "ten"}, "limit"),
    ):
        r = client.get(path, query_string=query, headers=admin)
        assert field in problem_of(r, 422)["errors"], query
    problem_of(client.get(path, headers=shopper(other["id"])), 404)
    problem_of(client.get(path, headers=program.headers("BKK01")), 403)
    problem_of(client.get("/api/v1/members/999999999/timeline", headers=admin), 404)

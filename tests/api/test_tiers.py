"""Tiers: the policy in versions, upgrades as members buy, reviews at period end, progress.

Receipts carry the times they happened and the services are called with explicit times, so
the windows and reviews are checked on a frozen clock; the profile endpoint reads the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.jobs import periodic_tasks
from loyalty.models import OutboxMessage
from members.models import Member, Tier, TierChange
from members.tiers import jobs as tier_jobs
from members.tiers import moves as tiering
from members.tiers import policy as tier_policy
from members.tiers import service as tier_service
from tests.api.conftest import problem_of
from tests.factories import Program, enrol, receipt

BANGKOK = ZoneInfo("Asia/Bangkok")
TZ = "Asia/Bangkok"


def ladder(**changes: Any) -> dict:
    """Silver from 1,000.00 (double points), gold from 5,000.00 (triple), over 12 months."""
    doc: dict[str, Any] = {
        "basis": "spend",
        "window": {"type": "rolling", "months": 12},
        "downgrade": "period_end",
        "tiers": [
            {"code": "member", "name": "Member", "threshold": "0", "multiplier": "1"},
            {"code": "silver", "name": "Silver", "threshold": "1000.00", "multiplier": "2"},
            {
                "code": "gold",
                "name": "Gold",
                "threshold": "5000.00",
                "multiplier": "3",
                "privileges": ["Airport lounge"],
            },
        ],
    }
    doc.update(changes)
    return doc


def bkk(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BANGKOK)


def put(client: FlaskClient, program: Program, doc: dict, who: str = "admin"):
    return client.put("/api/v1/tiers", json=doc, headers=program.headers(who))


def set_ladder(client: FlaskClient, program: Program, **changes: Any) -> dict:
    r = put(client, program, ladder(**changes))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def sell(client: FlaskClient, program: Program, member: dict, total: str, at: datetime) -> dict:
    body = receipt(f"T-{next(_serial)}", total, {"member_no": member["member_no"]}, occurred_at=at)
    r = client.post("/api/v1/transactions", json=body, headers=program.headers("BKK01"))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


_serial = iter(range(1, 1_000_000))


def standing(app: Flask, member: dict) -> tuple[str, datetime | None, datetime | None]:
    with app.app_context():
        row = db.session.get(Member, member["id"])
        return row.tier_code, row.tier_since, row.tier_review_at


def changes(app: Flask, member: dict) -> list[tuple]:
    with app.app_context():
        rows = db.session.scalars(
            select(TierChange).where(TierChange.member_id == member["id"]).order_by(TierChange.id)
        )
        return [
            (c.from_tier, c.to_tier, c.reason, c.policy_version, c.qualifying, c.occurred_at)
            for c in rows
        ]


def tier_events(app: Flask) -> list[dict]:
    with app.app_context():
        stmt = select(OutboxMessage.payload).where(OutboxMessage.topic == "tier.changed")
        return list(db.session.scalars(stmt.order_by(OutboxMessage.id)))


def review(app: Flask, at: datetime) -> tiering.ReviewRun:
    with app.app_context():
        return tier_jobs.review_due(db.session, at, TZ)


def progress(app: Flask, member: dict, now: datetime) -> dict:
    with app.app_context():
        row = db.session.get(Member, member["id"])
        return tier_service.tier_progress(db.session, row, now, TZ)


# --- the policy and its versions ------------------------------------------------------------


def test_the_policy_in_force_at_first_is_version_1_with_the_one_tier(client, program):
    r = client.get("/api/v1/tiers", headers=program.headers("marketer"))
    assert r.status_code == 200
    body = r.get_json()
    assert (body["version"], body["basis"], body["downgrade"]) == (1, "spend", "period_end")
    assert body["window"] == {"type": "rolling", "months": 12}
    assert [t["code"] for t in body["tiers"]] == ["member"]


def test_a_new_ladder_is_a_new_version_and_the_history_keeps_the_old_ones(app, client, program):
    body = set_ladder(client, program)
    assert body["version"] == 2
    assert body["created_by"].startswith("admin:")
    assert body["tiers"][2] == {
        "code": "gold",
        "name": "Gold",
        "threshold": "5000.00",
        "multiplier": "3.0",
        "privileges": ["Airport lounge"],
    }
    assert client.get("/api/v1/tiers", headers=program.headers("admin")).get_json() == body
    # the same document again changes nothing
    assert set_ladder(client, program)["version"] == 2
    tiers = ladder()["tiers"]
    tiers[2] = {**tiers[2], "threshold": "8000.00"}
    assert set_ladder(client, program, tiers=tiers)["version"] == 3

    history = client.get("/api/v1/tiers/versions", headers=program.headers("marketer")).get_json()
    assert [v["version"] for v in history] == [3, 2, 1]
    assert [t["threshold"] for t in history[0]["tiers"]] == ["0.00", "1000.00", "8000.00"]
    assert [t["threshold"] for t in history[1]["tiers"]] == ["0.00", "1000.00", "5000.00"]
    assert [t["code"] for t in history[2]["tiers"]] == ["member"]
    with app.app_context():
        rows = db.session.scalars(select(Tier).order_by(Tier.rank))
        assert [(t.code, t.rank, t.threshold_minor, str(t.multiplier)) for t in rows] == [
            ("member", 0, 0, "1.000"),
            ("silver", 1, 100_000, "2.000"),
            ("gold", 2, 800_000, "3.000"),
        ]


def test_a_tier_members_hold_cannot_be_removed(app, client, program):
    set_ladder(client, program)
    member = enrol(client, program)
    sell(client, program, member, "1200.00", utcnow() - timedelta(days=1))
    assert standing(app, member)[0] == "silver"

    r = put(client, program, ladder(tiers=ladder()["tiers"][::2]))  # member and gold
    problem = problem_of(r, 409)
    assert problem["type"].endswith("/tier-in-use")
    assert "silver" in problem["detail"]
    versions = client.get("/api/v1/tiers/versions", headers=program.headers("admin")).get_json()
    assert len(versions) == 2

    body = set_ladder(client, program, tiers=ladder()["tiers"][:2])  # no one holds gold
    assert [t["code"] for t in body["tiers"]] == ["member", "silver"]
    with app.app_context():
        assert db.session.get(Tier, "gold") is None


def test_a_points_ladder_takes_whole_points(client, program):
    tiers = [{"code": "member", "threshold": "0"}, {"code": "vip", "threshold": "100.50"}]
    problem = problem_of(put(client, program, ladder(basis="points", tiers=tiers)), 422)
    assert problem["errors"] == {"tiers": ["points thresholds are whole numbers"]}
    tiers[1]["threshold"] = "100"
    body = set_ladder(client, program, basis="points", tiers=tiers)
    assert [t["threshold"] for t in body["tiers"]] == ["0", "100"]
    assert body["tiers"][1]["name"] == "Vip"


# --- upgrades ---------------------------------------------------------------------------------


def test_a_purchase_that_reaches_a_threshold_mid_window_upgrades_at_once(app, client, program):
    set_ladder(client, program)
    member = enrol(client, program)
    sell(client, program, member, "600.00", bkk(2026, 3, 1, 10))
    assert standing(app, member) == ("member", None, None)
    reached = bkk(2026, 6, 10, 14)
    sell(client, program, member, "500.00", reached)

    # held from the next day for 12 months: reviewed at midnight starting 11 June 2027
    assert standing(app, member) == ("silver", reached, bkk(2027, 6, 11))
    assert changes(app, member) == [("member", "silver", "upgrade", 2, 110_000, reached)]
    assert tier_events(app) == [
        {
            "member_id": member["id"],
            "from": "member",
            "to": "silver",
            "at": reached.astimezone(UTC).isoformat(),
        }
    ]
    profile = client.get(f"/api/v1/members/{member['id']}", headers=program.headers("admin"))
    assert profile.get_json()["tier"] == "silver"


def test_spend_before_the_window_does_not_count(app, client, program):
    set_ladder(client, program)
    member = enrol(client, program)
    sell(client, program, member, "800.00", bkk(2025, 6, 10, 12))  # one day too early
    sell(client, program, member, "300.00", bkk(2026, 6, 10, 12))
    assert standing(app, member)[0] == "member"
    sell(client, program, member, "700.00", bkk(2026, 6, 11, 9))
    assert standing(app, member)[0] == "silver"
    assert changes(app, member)[0][4] == 100_000


def test_a_purchase_can_skip_a_tier(app, client, program):
    set_ladder(client, program)
    member = enrol(client, program)
    sell(client, program, member, "5000.00", bkk(2026, 6, 10, 12))
    assert standing(app, member)[0] == "gold"
    assert [e["to"] for e in tier_events(app)] == ["gold"]


def test_the_tier_multiplier_applies_to_earning_after_an_upgrade(app, client, program):
    set_ladder(client, program)
    member = enrol(client, program)
    now = utcnow()
    assert (
        sell(client, program, member, "1000.00", now - timedelta(hours=2))["points_awarded"] == 40
    )
    assert standing(app, member)[0] == "silver"
    assert sell(client, program, member, "100.00", now - timedelta(hours=1))["points_awarded"] == 8
    assert sell(client, program, member, "4000.00", now)["points_awarded"] == 320  # reaches gold
    assert sell(client, program, member, "100.00", now)["points_awarded"] == 12


def test_a_points_basis_counts_the_points_earned(app, client, program):
    tiers = [{"code": "member", "threshold": "0"}, {"code": "vip", "threshold": "100"}]
    set_ladder(client, program, basis="points", tiers=tiers)
    member = enrol(client, program)
    sell(client, program, member, "2475.00", bkk(2026, 6, 1, 12))  # 99 points
    assert standing(app, member)[0] == "member"
    sell(client, program, member, "25.00", bkk(2026, 6, 2, 12))
    assert standing(app, member)[0] == "vip"
    assert changes(app, member)[0][4] == 100


def test_a_policy_change_applies_from_the_next_evaluation(app, client, program):
    set_ladder(client, program)
    early, waiting, late = (enrol(client, program) for _ in range(3))
    sell(client, program, early, "1000.00", bkk(2026, 6, 1, 12))
    sell(client, program, waiting, "700.00", bkk(2026, 6, 1, 12))
    tiers = ladder()["tiers"]
    tiers[1] = {**tiers[1], "threshold": "500.00"}
    set_ladder(client, program, tiers=tiers)

    assert standing(app, waiting)[0] == "member"  # not until they are evaluated again
    sell(client, program, waiting, "1.00", bkk(2026, 6, 2, 12))
    sell(client, program, late, "600.00", bkk(2026, 6, 2, 12))
    assert [c[3] for c in changes(app, early)] == [2]
    assert [(c[1], c[3], c[4]) for c in changes(app, waiting)] == [("silver", 3, 70_100)]
    assert [(c[1], c[3]) for c in changes(app, late)] == [("silver", 3)]


# --- reviews at period end --------------------------------------------------------------------


def gold_member(app: Flask, client: FlaskClient, program: Program, **policy: Any) -> dict:
    """A member who reached gold on 10 June 2025 (reviewed at midnight starting 11 June 2026)."""
    set_ladder(client, program, **policy)
    member = enrol(client, program)
    sell(client, program, member, "5000.00", bkk(2025, 6, 10, 12))
    assert standing(app, member)[2] == bkk(2026, 6, 11)
    return member


def test_at_period_end_a_member_falls_to_the_tier_the_window_reaches(app, client, program):
    member = gold_member(app, client, program)
    sell(client, program, member, "1200.00", bkk(2025, 12, 1, 12))
    due = bkk(2026, 6, 11)

    assert review(app, due - timedelta(seconds=1)) == tiering.ReviewRun(0, 0, 0)
    assert review(app, due) == tiering.ReviewRun(1, 1, 0)
    assert standing(app, member) == ("silver", due, bkk(2027, 6, 11))
    assert changes(app, member)[-1] == ("gold", "silver", "review", 2, 120_000, due)
    assert tier_events(app)[-1] == {
        "member_id": member["id"],
        "from": "gold",
        "to": "silver",
        "at": due.astimezone(UTC).isoformat(),
    }
    # a second run, or a later one, finds nothing due
    assert review(app, due) == tiering.ReviewRun(0, 0, 0)
    assert review(app, due + timedelta(days=30)) == tiering.ReviewRun(0, 0, 0)
    assert len(tier_events(app)) == 2


def test_the_purchases_that_reached_a_tier_do_not_keep_it(app, client, program):
    member = gold_member(app, client, program)
    sell(client, program, member, "4999.00", bkk(2025, 6, 10, 18))  # the day it was reached
    review(app, bkk(2026, 6, 11))
    assert standing(app, member)[0] == "member"


def test_a_member_who_qualifies_again_keeps_the_tier_for_another_period(app, client, program):
    member = gold_member(app, client, program)
    sell(client, program, member, "5000.00", bkk(2026, 6, 10, 23, 59))  # the period's last day
    assert review(app, bkk(2026, 6, 11, 0, 5)) == tiering.ReviewRun(1, 0, 0)
    assert standing(app, member) == ("gold", bkk(2025, 6, 10, 12), bkk(2027, 6, 11))
    assert len(changes(app, member)) == 1  # only the upgrade
    assert len(tier_events(app)) == 1


def test_one_tier_at_a_time_lowers_a_step_per_period(app, client, program):
    member = gold_member(app, client, program, downgrade="one_tier")
    run = review(app, bkk(2027, 7, 1))  # two periods due: reviewed one after the other
    assert run == tiering.ReviewRun(2, 2, 0)
    assert standing(app, member) == ("member", bkk(2027, 6, 11), None)
    assert [(c[0], c[1], c[2], c[5]) for c in changes(app, member)[1:]] == [
        ("gold", "silver", "review", bkk(2026, 6, 11)),
        ("silver", "member", "review", bkk(2027, 6, 11)),
    ]
    assert [(e["from"], e["to"]) for e in tier_events(app)] == [
        ("member", "gold"),
        ("gold", "silver"),
        ("silver", "member"),
    ]


def test_a_calendar_year_window_counts_the_year_and_reviews_at_the_new_year(app, client, program):
    set_ladder(client, program, window={"type": "calendar_year"})
    member = enrol(client, program)
    sell(client, program, member, "700.00", bkk(2025, 12, 20, 12))
    sell(client, program, member, "700.00", bkk(2026, 1, 5, 12))
    assert standing(app, member)[0] == "member"  # last year's spend does not count
    reached = bkk(2026, 2, 1, 12)
    sell(client, program, member, "400.00", reached)
    assert standing(app, member) == ("silver", reached, bkk(2027, 1, 1))

    assert review(app, bkk(2027, 1, 1)) == tiering.ReviewRun(1, 0, 0)  # 2026 reached silver
    assert standing(app, member)[2] == bkk(2028, 1, 1)
    assert review(app, bkk(2028, 1, 1)) == tiering.ReviewRun(1, 1, 0)  # nothing in 2027
    assert standing(app, member) == ("member", bkk(2028, 1, 1), None)
    assert changes(app, member)[-1][4] == 0


def test_a_tier_held_without_a_review_date_is_given_one(app, client, program):
    set_ladder(client, program)
    member = enrol(client, program)
    with app.app_context():
        db.session.get(Member, member["id"]).tier_code = "gold"
        db.session.commit()
    at = bkk(2026, 6, 10, 12)
    assert review(app, at) == tiering.ReviewRun(0, 0, 1)
    assert standing(app, member) == ("gold", None, bkk(2027, 6, 11))


def test_the_review_runs_from_the_command_line_and_as_a_periodic_task(app, client, program, runner):
    member = gold_member(app, client, program)
    result = runner.invoke(args=["tiers", "review", "--at", "2026-06-10T23:59:59+07:00"])
    assert result.exit_code == 0, result.output
    assert "0 reviews done, 0 tiers changed" in result.output
    result = runner.invoke(args=["tiers", "review", "--at", "2026-06-11T00:00:00+07:00"])
    assert "1 reviews done, 1 tiers changed" in result.output
    assert standing(app, member)[0] == "member"

    bad = runner.invoke(args=["tiers", "review", "--at", "next tuesday"])
    assert bad.exit_code == 2
    with app.app_context():
        run = periodic_tasks(app)["review_tiers"](db.session)
    assert run == tiering.ReviewRun(0, 0, 0)


# --- progress ---------------------------------------------------------------------------------


def test_progress_shows_the_next_tier_and_what_keeps_the_current_one(app, client, program):
    set_ladder(client, program)
    member = enrol(client, program)
    sell(client, program, member, "600.00", bkk(2026, 3, 1, 12))
    sell(client, program, member, "500.00", bkk(2026, 6, 10, 12))  # silver
    sell(client, program, member, "300.00", bkk(2026, 8, 1, 12))

    found = progress(app, member, bkk(2026, 9, 1, 12))
    assert found == {
        "tier": "silver",
        "next_tier": "gold",
        "qualifying_spend": 140_000,
        "spend_to_next": 360_000,
        "basis": "spend",
        "policy_version": 2,
        "window_start": bkk(2025, 9, 2).date(),
        "qualifying": 140_000,
        "to_next": 360_000,
        "to_keep": 70_000,  # only what was spent since the tier was reached counts
        "keep_by": bkk(2027, 6, 11),
    }
    later = progress(app, member, bkk(2027, 3, 2, 12))  # the March sale has left the window
    assert (later["qualifying"], later["to_next"], later["to_keep"]) == (80_000, 420_000, 70_000)


def test_progress_at_the_lowest_tier_has_nothing_to_keep(app, client, program):
    set_ladder(client, program)
    member = enrol(client, program)
    sell(client, program, member, "250.00", bkk(2026, 6, 1, 12))
    found = progress(app, member, bkk(2026, 6, 2, 12))
    assert (found["next_tier"], found["to_next"]) == ("silver", 75_000)
    assert (found["to_keep"], found["keep_by"]) == (None, None)


def test_the_profile_shows_progress_as_decimal_strings(app, client, program):
    set_ladder(client, program)
    member = enrol(client, program)
    now = utcnow()
    reached = now - timedelta(days=100)
    sell(client, program, member, "600.00", now - timedelta(days=200))
    sell(client, program, member, "500.00", reached)
    sell(client, program, member, "300.00", now - timedelta(days=30))
    r = client.get(f"/api/v1/members/{member['id']}", headers=program.headers("cashier"))
    found = r.get_json()["tier_progress"]
    today = tier_policy.program_day(utcnow(), TZ)
    start = tier_policy.period_start(reached, TZ, reached=True)
    due = datetime.combine(tier_policy.add_months(start, 12), time(0), BANGKOK)
    assert found == {
        "tier": "silver",
        "next_tier": "gold",
        "qualifying_spend": "1400.00",
        "spend_to_next": "3600.00",
        "basis": "spend",
        "policy_version": 2,
        "window_start": (tier_policy.add_months(today, -12) + timedelta(days=1)).isoformat(),
        "qualifying": "1400.00",
        "to_next": "3600.00",
        "to_keep": "700.00",
        "keep_by": due.astimezone(UTC).isoformat(),
    }


def test_a_points_profile_shows_progress_in_points(app, client, program):
    tiers = [{"code": "member", "threshold": "0"}, {"code": "vip", "threshold": "100"}]
    set_ladder(client, program, basis="points", tiers=tiers)
    member = enrol(client, program)
    sell(client, program, member, "1000.00", utcnow() - timedelta(hours=1))
    r = client.get(f"/api/v1/members/{member['id']}", headers=program.headers("admin"))
    found = r.get_json()["tier_progress"]
    assert (found["basis"], found["qualifying"], found["to_next"]) == ("points", 40, 60)
    assert (found["qualifying_spend"], found["spend_to_next"]) == ("1000.00", None)


@pytest.mark.parametrize("who", ["marketer", "cashier"])
def test_only_an_admin_sets_the_ladder(client, program, who):
    problem_of(put(client, program, ladder(), who), 403)

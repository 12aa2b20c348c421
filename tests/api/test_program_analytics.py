"""`GET /api/v1/analytics/program`: every figure against a program built through the API with
known numbers — sales, refunds, redemptions and a cancelled one, adjustments — whole and per
store, and as CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.unit_of_work import unit_of_work
from rewards.ledger.expiry import expire_batch
from tests.api.conftest import problem_of
from tests.factories import Program, enrol, receipt


def _post(client: FlaskClient, program: Program, till: str, body: dict) -> dict:
    posted = client.post("/api/v1/transactions", json=body, headers=program.headers(till))
    assert posted.status_code == 201, posted.get_json()
    return posted.get_json()


def _redeem(client: FlaskClient, program: Program, till: str, member: dict, points: int) -> dict:
    code = client.get(
        f"/api/v1/members/{member['id']}/card/code", headers=program.headers("admin")
    ).get_json()["code"]
    body = {"member_id": member["id"], "points": points, "code": code}
    made = client.post("/api/v1/redemptions", json=body, headers=program.headers(till))
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def _adjust(client: FlaskClient, program: Program, member: dict, points: int) -> None:
    path = f"/api/v1/members/{member['id']}/adjustments"
    body = {"points": points, "reason": "goodwill"}
    made = client.post(path, json=body, headers=program.headers("admin"))
    assert made.status_code == 201, made.get_json()


@pytest.fixture
def built(client: FlaskClient, program: Program) -> dict[str, dict]:
    """Five members; m1–m3 and m5 enrolled at BKK01, m4 at BKK02 (1 point per 25.00)."""
    m = {f"m{n}": enrol(client, program, "BKK01") for n in (1, 2, 3)}
    m["m4"] = enrol(client, program, "BKK02")
    m["m5"] = enrol(client, program, "BKK01")
    card = {name: {"member_no": member["member_no"]} for name, member in m.items()}
    _post(client, program, "BKK01", receipt("S1", "400.00", card["m1"]))  # +16
    _post(client, program, "BKK01", receipt("S2", "200.00", card["m2"]))  # +8
    _post(client, program, "BKK02", receipt("S3", "100.00", card["m3"]))  # +4 at the other store
    _post(client, program, "BKK02", receipt("S4", "250.00", card["m4"]))  # +10
    _post(client, program, "BKK01", receipt("S5", "50.00"))  # anonymous
    _post(client, program, "BKK01", receipt("R1", "100.00", None, type="refund", refund_of="S1"))
    _redeem(client, program, "BKK01", m["m2"], 5)
    cancelled = _redeem(client, program, "BKK02", m["m1"], 6)
    undone = client.post(
        f"/api/v1/redemptions/{cancelled['id']}/cancel", headers=program.headers("BKK02")
    )
    assert undone.status_code == 200, undone.get_json()
    _redeem(client, program, "BKK02", m["m4"], 10)
    _post(client, program, "BKK02", receipt("R4", "250.00", None, type="refund", refund_of="S4"))
    _adjust(client, program, m["m2"], -3)
    _adjust(client, program, m["m3"], 20)
    return m


def _report(client: FlaskClient, program: Program, **query: str) -> dict:
    got = client.get(
        "/api/v1/analytics/program", query_string=query, headers=program.headers("marketer")
    )
    assert got.status_code == 200, got.get_json()
    return got.get_json()


def test_the_whole_program(client, program, built):
    report = _report(client, program)
    today = date.fromisoformat(report["to"])
    assert report["from"] == (today - timedelta(weeks=12)).isoformat()
    assert report["members"] == {"total": 5, "new": 5, "active": 4, "active_rate": "0.8000"}
    assert report["points"] == {
        "issued": 16 + 8 + 4 + 10,
        "redeemed": 5 + 6 - 6 + 10,
        "expired": 0,
        "reversed": 4 + 10,
        "adjusted": 20 - 3,
        "outstanding": 12 + 24,  # m1 and m3; m2 has 0, m5 never bought
        "owed": 10,  # m4 spent the points of a sale then refunded
        "pending": 0,
    }
    assert report["redemption_rate"] == "0.3947"  # 15 / 38
    assert report["breakage_rate"] == "0.0000"  # m2's and m4's lots closed, none expired
    assert report["liability"] == {
        "point_value": "0.25",
        "points": 36,
        "value": "9.00",
        "expected_breakage": "0.0000",
        "expected_value": "9.00",
    }
    assert report["by_tier"] == [{"tier": "member", "members": 5, "outstanding": 36}]
    this_week = report["by_week"][-1]
    assert this_week == {
        "week_start": (today - timedelta(days=today.weekday())).isoformat(),
        "issued": 38,
        "redeemed": 15,
        "expired": 0,
        "new_members": 5,
        "active_members": 4,
        "sales": "650.00",  # 1,000.00 of sales less 350.00 refunded
        "member_sales_share": "0.9231",  # 600.00 of it
    }
    assert len(report["by_week"]) in (13, 14)
    assert all(week["issued"] == 0 for week in report["by_week"][:-1])
    assert report["cohorts"][-1] == {
        "month": f"{today:%Y-%m}",
        "members": 5,
        "retained": ["0.8000"],
    }


def test_one_store(client, program, built):
    report = _report(client, program, store="BKK01")
    assert report["members"] == {"total": 4, "new": 4, "active": 2, "active_rate": "0.5000"}
    assert report["points"] == {
        "issued": 16 + 8,
        "redeemed": 5,  # m1's redemption and its cancellation were at BKK02
        "expired": 0,
        "reversed": 4,
        "adjusted": 17,  # adjustments count at the member's enrolment store
        "outstanding": 36,
        "owed": 0,
        "pending": 0,
    }
    assert report["redemption_rate"] == "0.2083"
    this_week = report["by_week"][-1]
    assert (this_week["sales"], this_week["member_sales_share"]) == ("550.00", "0.9091")
    assert (this_week["active_members"], this_week["new_members"]) == (2, 4)
    assert report["cohorts"][-1]["retained"] == ["0.5000"]
    other = _report(client, program, store="BKK02")
    assert other["points"]["issued"] == 14
    assert other["points"]["redeemed"] == 10  # 6 − 6 + 10
    assert other["points"]["owed"] == 10


def test_a_window_before_anything_happened(client, program, built):
    report = _report(client, program, **{"from": "2025-01-01", "to": "2025-01-31"})
    assert report["members"]["total"] == 0
    assert report["members"]["active_rate"] is None
    assert {v for k, v in report["points"].items() if k != "pending"} == {0}
    assert report["redemption_rate"] is None
    assert [w["week_start"] for w in report["by_week"]][:2] == ["2024-12-30", "2025-01-06"]
    assert [c["month"] for c in report["cohorts"]] == ["2025-01"]


def test_the_csv_has_the_same_figures(client, program, built):
    got = client.get(
        "/api/v1/analytics/program.csv",
        query_string={"store": "BKK01"},
        headers=program.headers("admin"),
    )
    assert got.status_code == 200
    assert got.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(got.get_data(as_text=True))))
    assert rows[0] == ["section", "figure", "value"]
    figures = {(section, name): value for section, name, value in rows[1:]}
    assert figures[("points", "issued")] == "24"
    assert figures[("liability", "value")] == "9.00"
    assert figures[("rates", "redemption_rate")] == "0.2083"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"store": "NOPE"}, "store"),
    ],
    ids=["from after to", "over three years", "not a date", "unknown store"],
)
def test_bad_windows_are_422(client, program, query, field):
    got = client.get(
        "/api/v1/analytics/program", query_string=query, headers=program.headers("marketer")
    )
    assert field in str(problem_of(got, 422)["errors"])


@pytest.mark.parametrize("who", ["cashier", "BKK01"])
def test_only_marketers_and_admins_see_it(client, program, who):
    got = client.get("/api/v1/analytics/program", headers=program.headers(who))
    assert got.status_code == 403


def test_expired_points_and_breakage(app, client, program, built):
    expired = 0
    with app.app_context(), unit_of_work():
        while (points := expire_batch(db.session, utcnow() + timedelta(days=25 * 31))) is not None:
            expired += points
    assert expired == 36
    report = _report(client, program)
    assert report["points"]["expired"] == 12 + 4 + 20  # m1's and m3's lots, the adjustment's too
    assert (report["points"]["outstanding"], report["points"]["owed"]) == (0, 10)
    assert report["breakage_rate"] == "0.6207"  # 36 of the 58 points in lots now closed
    assert report["liability"]["expected_breakage"] == "0.6207"
    assert report["by_week"][-1]["expired"] == 36


def test_the_liability_uses_the_settings_until_lots_close(client, program):
    admin = program.headers("admin")
    settings = client.get("/api/v1/program/settings", headers=admin).get_json()
    changed = {**settings, "point_value": "0.50", "expected_breakage": "0.20", "active_days": 30}
    put = client.put("/api/v1/program/settings", json=changed, headers=admin)
    assert put.status_code == 200, put.get_json()
    member = enrol(client, program, "BKK01")
    _post(client, program, "BKK01", receipt("S9", "1000.00", {"member_no": member["member_no"]}))
    report = _report(client, program)
    assert report["breakage_rate"] is None  # no lot has closed
    assert report["liability"] == {
        "point_value": "0.50",
        "points": 40,
        "value": "20.00",
        "expected_breakage": "0.2000",
        "expected_value": "16.00",
    }


def _roll_up(app, lag_passed: bool = False) -> dict:
    """The periodic roll-up as the scheduler runs it; `lag_passed`: as if its last run was
    longer ago than the lag."""
    from loyalty.jobs import periodic_tasks
    from rewards.analytics import rollups
    from rewards.analytics.models import RollupState

    with app.app_context():
        if lag_passed:
            with unit_of_work():
                db.session.get(RollupState, 1).noted_at -= rollups.LAG
        return periodic_tasks(app)["roll_up_analytics"](db.session)


def test_the_figures_are_the_same_once_rolled_up(app, client, program, built, runner):
    queries = {"whole": {}, "BKK02": {"store": "BKK02"}}
    before = {name: _report(client, program, **query) for name, query in queries.items()}
    first = _roll_up(app)  # the first roll-up counts everything there is
    assert (first["sales"], first["members"]) == (7, 5)
    for name, query in queries.items():
        assert _report(client, program, **query) == before[name]
    m4 = {"member_no": built["m4"]["member_no"]}
    _post(client, program, "BKK02", receipt("S6", "75.00", m4))
    later = _report(client, program, store="BKK02")  # not rolled up yet, and counted
    assert later["points"]["issued"] == before["BKK02"]["points"]["issued"] + 3
    assert _roll_up(app)["sales"] == 0  # within the lag: nothing
    assert _roll_up(app, lag_passed=True)["sales"] == 0  # up to what was noted before S6
    assert _report(client, program, store="BKK02") == later
    added = _roll_up(app, lag_passed=True)  # S6 was noted on the run before
    assert (added["sales"], added["members"]) == (1, 1)
    assert _report(client, program, store="BKK02") == later
    result = runner.invoke(args=["analytics", "check"])
    assert result.exit_code == 0, result.output
    assert "rollups agree with the ledger" in result.output


def test_the_roll_up_commands(app, client, program, built, runner):
    report = _report(client, program)
    result = runner.invoke(args=["analytics", "roll-up"])
    assert result.exit_code == 0, result.output
    assert "7 receipts" in result.output
    result = runner.invoke(args=["analytics", "roll-up", "--rebuild"])
    assert result.exit_code == 0, result.output
    assert "5 members counted again" in result.output
    assert _report(client, program) == report
    with app.app_context(), unit_of_work():  # a rollup that drifted from the ledger
        db.session.execute(text("UPDATE rollup_points SET points = points + 1"))
    result = runner.invoke(args=["analytics", "check"])
    assert result.exit_code == 1
    assert "points: rollups" in result.output

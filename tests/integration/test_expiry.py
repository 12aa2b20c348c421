"""Points expiry: lots expire at the end of their date, through `flask points expire` and the
service; redemption spends the lots that expire first; a second run expires nothing more."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select, text

from loyalty.extensions import db
from members.models import Member
from rewards.jobs import expire_points
from rewards.models import JournalEntry, PointsLot, Posting
from tests.factories import Program, enrol, receipt

BANGKOK = ZoneInfo("Asia/Bangkok")
# Earned in October 2024 (Bangkok): expires at the end of October 2026.
OCTOBER_2024 = datetime(2024, 10, 15, 12, 0, tzinfo=BANGKOK)
END_OF_OCTOBER_2026 = datetime(2026, 11, 1, 0, 0, tzinfo=BANGKOK)
# Earned in March 2025: expires at the end of March 2027.
MARCH_2025 = datetime(2025, 3, 20, 18, 0, tzinfo=BANGKOK)
END_OF_MARCH_2027 = datetime(2027, 4, 1, 0, 0, tzinfo=BANGKOK)
SECOND = timedelta(seconds=1)


# -- helpers ----------------------------------------------------------------------------


def earn_at(
    client: FlaskClient, program: Program, member: dict, external_id: str, total: str, at
) -> int:
    body = receipt(external_id, total, {"member_no": member["member_no"]}, occurred_at=at)
    r = client.post("/api/v1/transactions", json=body, headers=program.headers("BKK01"))
    assert r.status_code == 201, r.get_json()
    return r.get_json()["points_awarded"]


def balance(client: FlaskClient, program: Program, member: dict) -> int:
    r = client.get(f"/api/v1/members/{member['id']}", headers=program.headers("admin"))
    return r.get_json()["points_balance"]


def ledger(client: FlaskClient, program: Program, member: dict) -> list[dict]:
    r = client.get(f"/api/v1/members/{member['id']}/ledger", headers=program.headers("admin"))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def redeem(client: FlaskClient, program: Program, member: dict, points: int) -> dict:
    r = client.post(
        "/api/v1/redemptions",
        json={"member_id": member["id"], "points": points},
        headers=program.headers("admin"),
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def expire_cli(runner: FlaskCliRunner, at: datetime | str) -> int:
    when = at if isinstance(at, str) else at.isoformat()
    result = runner.invoke(args=["points", "expire", "--at", when])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("points expired"), result.output
    return int(result.output.split()[-3])


def lot_remaining(app: Flask, member: dict) -> list[int]:
    with app.app_context():
        rows = db.session.scalars(
            select(PointsLot.remaining)
            .where(PointsLot.member_id == member["id"])
            .order_by(PointsLot.expires_at)
        )
        return list(rows)


@pytest.fixture
def member(client: FlaskClient, program: Program) -> dict:
    return enrol(client, program)


# -- the command --------------------------------------------------------------------------


def test_points_expire_at_the_end_of_the_24th_month_after_the_month_earned(
    client, program, runner, member
):
    assert earn_at(client, program, member, "R-OCT", "250.00", OCTOBER_2024) == 10
    assert expire_cli(runner, END_OF_OCTOBER_2026 - SECOND) == 0
    assert balance(client, program, member) == 10
    assert expire_cli(runner, END_OF_OCTOBER_2026) == 10
    assert balance(client, program, member) == 0


def test_the_ledger_shows_the_expiry(client, program, runner, member):
    earn_at(client, program, member, "R-OCT", "250.00", OCTOBER_2024)
    expire_cli(runner, END_OF_OCTOBER_2026)
    newest, earned = ledger(client, program, member)
    assert newest["kind"] == "expire"
    assert newest["points"] == -10
    assert newest["balance_after"] == 0
    assert "expired" in newest["description"]
    assert newest["cause"]["type"] == "expiry"
    assert earned["kind"] == "earn"


def test_running_expiry_twice_expires_nothing_more(app, client, program, runner, member):
    earn_at(client, program, member, "R-OCT", "250.00", OCTOBER_2024)
    assert expire_cli(runner, END_OF_OCTOBER_2026) == 10
    assert expire_cli(runner, END_OF_OCTOBER_2026) == 0
    assert expire_cli(runner, END_OF_OCTOBER_2026 + timedelta(days=30)) == 0
    assert [e["kind"] for e in ledger(client, program, member)] == ["expire", "earn"]
    assert balance(client, program, member) == 0
    assert lot_remaining(app, member) == [0]


def test_only_the_lots_past_their_date_expire(client, program, runner, member):
    earn_at(client, program, member, "R-OCT", "250.00", OCTOBER_2024)
    earn_at(client, program, member, "R-MAR", "100.00", MARCH_2025)
    assert expire_cli(runner, END_OF_OCTOBER_2026) == 10
    assert balance(client, program, member) == 4
    assert expire_cli(runner, END_OF_MARCH_2027 - SECOND) == 0
    assert expire_cli(runner, END_OF_MARCH_2027) == 4
    assert balance(client, program, member) == 0
    assert [e["kind"] for e in ledger(client, program, member)] == [
        "expire",
        "expire",
        "earn",
        "earn",
    ]


def test_expiry_covers_every_member_with_lots_due(client, program, runner):
    first, second = enrol(client, program), enrol(client, program)
    earn_at(client, program, first, "R-1", "250.00", OCTOBER_2024)
    earn_at(client, program, second, "R-2", "75.00", OCTOBER_2024)
    assert expire_cli(runner, END_OF_OCTOBER_2026) == 13
    assert balance(client, program, first) == balance(client, program, second) == 0


def test_a_time_without_an_offset_is_read_as_utc(client, program, runner, member):
    earn_at(client, program, member, "R-OCT", "250.00", OCTOBER_2024)
    assert expire_cli(runner, "2026-10-31T16:59:59") == 0  # 23:59:59 in Bangkok
    assert expire_cli(runner, "2026-10-31T17:00:00") == 10  # midnight in Bangkok


# -- expiry and redemption ---------------------------------------------------------------


def test_redemption_spends_the_lot_that_expires_first(app, client, program, runner, member):
    # The later-expiring lot is earned first: spending follows expiry, not arrival.
    earn_at(client, program, member, "R-MAR", "100.00", MARCH_2025)
    earn_at(client, program, member, "R-OCT", "250.00", OCTOBER_2024)
    assert lot_remaining(app, member) == [10, 4]
    redeem(client, program, member, 6)
    assert lot_remaining(app, member) == [4, 4]
    assert expire_cli(runner, END_OF_OCTOBER_2026) == 4
    assert balance(client, program, member) == 4


def test_a_redemption_larger_than_the_first_lot_continues_into_the_next(
    app, client, program, runner, member
):
    earn_at(client, program, member, "R-MAR", "100.00", MARCH_2025)
    earn_at(client, program, member, "R-OCT", "250.00", OCTOBER_2024)
    redeem(client, program, member, 12)
    assert lot_remaining(app, member) == [0, 2]
    assert expire_cli(runner, END_OF_OCTOBER_2026) == 0
    assert expire_cli(runner, END_OF_MARCH_2027) == 2
    assert balance(client, program, member) == 0


def test_points_spent_before_their_date_do_not_expire(client, program, runner, member):
    earn_at(client, program, member, "R-OCT", "250.00", OCTOBER_2024)
    redeem(client, program, member, 10)
    assert expire_cli(runner, END_OF_OCTOBER_2026) == 0
    assert [e["kind"] for e in ledger(client, program, member)] == ["redeem", "earn"]


def test_a_cancelled_redemption_returns_points_to_their_lot_and_they_expire_with_it(
    app, client, program, runner, member
):
    earn_at(client, program, member, "R-OCT", "250.00", OCTOBER_2024)
    redemption = redeem(client, program, member, 4)
    assert expire_cli(runner, END_OF_OCTOBER_2026) == 6
    r = client.post(
        f"/api/v1/redemptions/{redemption['id']}/cancel", headers=program.headers("admin")
    )
    assert r.status_code == 200, r.get_json()
    assert balance(client, program, member) == 4
    assert lot_remaining(app, member) == [4]
    assert expire_cli(runner, END_OF_OCTOBER_2026) == 4  # the same run again, after the cancel
    assert balance(client, program, member) == 0
    assert [e["kind"] for e in ledger(client, program, member)] == [
        "expire",
        "reverse",
        "expire",
        "redeem",
        "earn",
    ]


def test_a_refund_beyond_the_balance_leaves_nothing_to_expire(client, program, runner, member):
    earn_at(client, program, member, "R-OCT", "250.00", OCTOBER_2024)
    redeem(client, program, member, 10)
    refund = receipt("F-OCT", "250.00", None, type="refund", refund_of="R-OCT")
    r = client.post("/api/v1/transactions", json=refund, headers=program.headers("BKK01"))
    assert r.status_code == 201, r.get_json()
    assert balance(client, program, member) == -10
    assert expire_cli(runner, END_OF_OCTOBER_2026) == 0
    assert balance(client, program, member) == -10


# -- the service ------------------------------------------------------------------------------


def test_the_expiry_service_returns_the_points_it_expired_and_keeps_the_books(
    app, client, program, member
):
    earn_at(client, program, member, "R-OCT", "250.00", OCTOBER_2024)
    earn_at(client, program, member, "R-MAR", "100.00", MARCH_2025)
    with app.app_context():
        assert expire_points(db.session, END_OF_OCTOBER_2026) == 10
        assert expire_points(db.session, END_OF_OCTOBER_2026 + timedelta(hours=1)) == 0
        entry = db.session.scalars(select(JournalEntry).where(JournalEntry.kind == "expire")).one()
        postings = db.session.execute(
            select(Posting.account, Posting.points).where(Posting.entry_id == entry.id)
        ).all()
    assert sorted(postings) == [("expiry", 10), ("member", -10)]
    assert balance(client, program, member) == 4


def test_the_expiry_service_works_in_batches(app, client, program):
    members = [enrol(client, program) for _ in range(5)]
    for n, member in enumerate(members):
        earn_at(client, program, member, f"R-{n}", "50.00", OCTOBER_2024)
    with app.app_context():
        assert expire_points(db.session, END_OF_OCTOBER_2026, batch=2) == 10
    assert [balance(client, program, m) for m in members] == [0] * 5


def _run_concurrently(
    app: Flask, runs: list[Callable[[], int]]
) -> tuple[list[int | Exception], list[threading.Thread]]:
    """Start each run in its own thread and app context; results fill in as they finish."""
    results: list[int | Exception] = [0] * len(runs)

    def work(index: int) -> None:
        with app.app_context():
            try:
                results[index] = runs[index]()
            except Exception as exc:  # reported to the test, not lost in the thread
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(runs))]
    for thread in threads:
        thread.start()
    return results, threads


def _waiting_on_locks(app: Flask, count: int) -> None:
    """Until `count` sessions wait on a lock (PostgreSQL), or a moment passes (SQLite)."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            time.sleep(0.5)
            return
        deadline = time.monotonic() + 10
        with db.engine.connect() as conn:
            while time.monotonic() < deadline:
                waiting = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock'"
                    )
                ).scalar()
                conn.rollback()
                if waiting >= count:
                    return
                time.sleep(0.02)
    raise AssertionError(f"{count} expiry runs never waited on the member's lock")


def test_two_expiry_runs_at_once_expire_each_lot_once(app, client, program, member):
    earn_at(client, program, member, "R-OCT", "250.00", OCTOBER_2024)
    with app.app_context():
        # A ledger write in progress holds the member; both runs find the lot due meanwhile.
        holder = db.engine.connect()
        holder.begin()
        holder.execute(select(Member.id).where(Member.id == member["id"]).with_for_update()).all()
    runs = [
        lambda: expire_points(db.session, END_OF_OCTOBER_2026 + timedelta(seconds=1)),
        lambda: expire_points(db.session, END_OF_OCTOBER_2026 + timedelta(seconds=2)),
    ]
    results, threads = _run_concurrently(app, runs)
    try:
        _waiting_on_locks(app, 2)
    finally:
        holder.commit()
        holder.close()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(isinstance(r, Exception) for r in results), results
    assert sorted(results) == [0, 10]
    assert balance(client, program, member) == 0
    with app.app_context():
        expired = db.session.scalar(
            select(func.count()).select_from(JournalEntry).where(JournalEntry.kind == "expire")
        )
    assert expired == 1

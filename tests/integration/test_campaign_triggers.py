"""Every campaign trigger end to end: the service (gunicorn, on Redis) queues the work, a real
`flask worker` applies the campaigns, and `flask events run-daily` runs as its own process.

One service and one worker serve the whole module; the database is emptied after each test.
The helpers here (`running_stack`, `Stack`, `Ledger`) serve the other campaign modules too.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import func, select, text, update

from loyalty.extensions import db
from loyalty.jobs import DRAIN_JOB, EVENTS_QUEUE
from loyalty.models import OutboxMessage
from loyalty.money import format_minor
from loyalty.unit_of_work import unit_of_work
from members.models import MemberTag
from members.tiers.service import set_policy
from rewards.models import CampaignApplication, JournalEntry, PointsLot
from tests.factories import Program, receipt
from tests.integration.conftest import REDIS_URL, Books
from tests.integration.servers import (
    ROOT,
    Launcher,
    Process,
    Reply,
    http,
    service_env,
    wait_until,
)

BANGKOK = ZoneInfo("Asia/Bangkok")
# Campaign messages are held during quiet hours; these tests look at consent, not the clock.
NO_QUIET_HOURS = {"LOYALTY_MESSAGE_QUIET_START": "00:00", "LOYALTY_MESSAGE_QUIET_END": "00:00"}
COUNTED_TABLES = (
    "journal_entries",
    "postings",
    "points_lots",
    "campaign_applications",
    "messages",
    "member_tags",
    "redemptions",
    "vouchers",
)
_numbers = itertools.count(1)


def bangkok(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=BANGKOK)


# -- the running service, worker and command line ---------------------------------------


@dataclass
class Stack:
    """gunicorn with LOYALTY_REDIS_URL set, and the RQ workers that drain its work."""

    base_url: str
    env: dict[str, str]
    workers: list[Process]

    def call(self, method: str, path: str, body: Any = None, headers: Any = None) -> Reply:
        return http(method, f"{self.base_url}{path}", body, headers)

    def flask(self, *args: str) -> str:
        """`flask --app wsgi …` as its own process, configured as the service is."""
        argv = [sys.executable, "-m", "flask", "--app", "wsgi", *args]
        done = subprocess.run(
            argv, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{argv}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def run_daily(self, day: date) -> dict[str, int]:
        """`flask events run-daily --date …`; the events emitted per trigger."""
        emitted = {}
        for line in self.flask("events", "run-daily", "--date", day.isoformat()).splitlines():
            if line.endswith("events emitted"):
                label, count = line.split(" ", 1)[1].split(": ")
                emitted[label] = int(count.split()[0])
        return emitted

    def settle(self, ledger: Ledger, timeout: float = 30.0) -> None:
        """Wait until the workers have drained every pending piece of work."""
        wait_until(
            lambda: ledger.pending() == 0 and ledger.transactions("queued") == 0,
            "the workers drain the outbox",
            timeout=timeout,
            watch=self.workers[0],
        )
        assert ledger.failed() == [], ledger.failed()

    def force_drain(self) -> None:
        """Enqueue a drain job, as the relay does for pending work no drain has taken."""
        with Redis.from_url(self.env["LOYALTY_REDIS_URL"]) as connection:
            Queue(EVENTS_QUEUE, connection=connection).enqueue(DRAIN_JOB, result_ttl=0)

    def launch(self, program: Program, body: dict) -> dict:
        """Define a campaign as a marketer and activate it."""
        headers = program.headers("marketer")
        created = self.call("POST", "/api/v1/campaigns", body, headers)
        assert created.status == 201, created.body
        started = self.call("POST", f"/api/v1/campaigns/{created.body['id']}/activate", {}, headers)
        assert started.status == 200, started.body
        return started.body

    def enrol(self, program: Program, **fields: Any) -> dict:
        n = next(_numbers)
        body = {"name": f"Member {n}", "phone": f"+6689{n:07d}", **fields}
        enrolled = self.call("POST", "/api/v1/members", body, program.headers("BKK01"))
        assert enrolled.status == 201, enrolled.body
        return enrolled.body

    def sell(self, program: Program, external_id: str, total: str, member: dict, **extra) -> dict:
        """A sale from BKK01's till; the service queues it for the workers."""
        body = receipt(external_id, total, {"member_no": member["member_no"]}, **extra)
        sold = self.call("POST", "/api/v1/transactions", body, program.headers("BKK01"))
        assert sold.status == 201, sold.body
        return sold.body

    def member(self, program: Program, member_id: int) -> dict:
        return self.call("GET", f"/api/v1/members/{member_id}", None, program.headers("admin")).body


@contextmanager
def running_stack(
    database_url: str, log_dir: Path, workers: int = 1, **extra: str
) -> Iterator[Stack]:
    """Start gunicorn and `workers` `flask worker` processes on the test Redis database."""
    redis = Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        redis.ping()
    except RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} does not answer ({exc}); start it to run these tests")
    redis.flushdb()
    launcher = Launcher(log_dir)
    env = service_env(database_url, REDIS_URL, **NO_QUIET_HOURS, **extra)
    try:
        base_url = launcher.gunicorn(env, workers=2, threads=4)
        started = [launcher.worker(env, "--relay-every", "0.5") for _ in range(workers)]
        yield Stack(base_url, env, started)
    finally:
        launcher.close()
        redis.flushdb()
        redis.close()


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(database_url, tmp_path_factory.mktemp("campaign-triggers")) as started:
        yield started


# -- reading the database --------------------------------------------------------------


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class Ledger(Books):
    """The books, plus the outbox, campaign applications and row counts."""

    def rows(self, stmt: Any) -> list[tuple]:
        return [tuple(row) for row in self._rows(stmt)]

    def pending(self) -> int:
        stmt = select(func.count()).select_from(OutboxMessage)
        return self._scalar(stmt.where(OutboxMessage.status == "pending"))

    def failed(self) -> list[tuple[str, str]]:
        stmt = select(OutboxMessage.topic, OutboxMessage.last_error)
        return [tuple(r) for r in self._rows(stmt.where(OutboxMessage.status == "failed"))]

    def count(self, table: str) -> int:
        return self._scalar(select(func.count()).select_from(db.metadata.tables[table]))

    def applications(self, campaign_id: int) -> list[dict[str, Any]]:
        a = CampaignApplication
        stmt = select(a.member_id, a.version, a.group, a.points, a.results, a.transaction_id)
        rows = self._rows(stmt.where(a.campaign_id == campaign_id).order_by(a.id))
        keys = ("member_id", "version", "group", "points", "results", "transaction_id")
        return [{**dict(zip(keys, row, strict=True)), "results": _json(row[4])} for row in rows]

    def bonuses(self) -> list[tuple[int, int, int, str]]:
        """(transaction or campaign id, member id, points, rule) of every campaign bonus."""
        e = JournalEntry
        stmt = select(e.cause_id, e.member_id, e.points, e.rule).where(e.kind == "bonus")
        return [(int(c), m, p, r) for c, m, p, r in self._rows(stmt.order_by(e.id))]

    def snapshot(self) -> dict[str, Any]:
        """Everything an effect changes, to compare before and after a redelivery."""
        counts = {table: self.count(table) for table in COUNTED_TABLES}
        balances = self.rows(text("SELECT id, points_balance, tier_code FROM members ORDER BY id"))
        budgets = self.rows(
            text("SELECT id, points_issued, applications FROM campaigns ORDER BY id")
        )
        return {"counts": counts, "members": balances, "campaigns": budgets}


@pytest.fixture
def ledger(app: Flask) -> Ledger:
    return Ledger(app)


def expiry_day(app: Flask, member_id: int) -> date:
    """The program day on which the member's earliest lot expires."""
    with app.app_context():
        at = db.session.scalar(
            select(func.min(PointsLot.expires_at)).where(PointsLot.member_id == member_id)
        )
    return at.astimezone(BANGKOK).date()


def add_tier(app: Flask, code: str, threshold_minor: int) -> None:
    """A tier above "member" in a new tier policy (the test teardown puts version 1 back)."""
    document = {
        "basis": "spend",
        "window": {"type": "rolling", "months": 12},
        "tiers": [
            {"code": "member", "threshold": "0"},
            {"code": code, "threshold": format_minor(threshold_minor)},
        ],
    }
    with app.app_context(), unit_of_work():
        set_policy(db.session, document, "test")


def tags_of(ledger: Ledger, member_id: int) -> list[str]:
    stmt = select(MemberTag.tag).where(MemberTag.member_id == member_id).order_by(MemberTag.tag)
    return [tag for (tag,) in ledger.rows(stmt)]


def reset_outbox(app: Flask) -> int:
    """Put every outbox row back to pending, as if none had been delivered."""
    with app.app_context():
        changed = db.session.execute(
            update(OutboxMessage).values(status="pending", processed_at=None)
        ).rowcount
        db.session.commit()
        return changed


def bonus_rules(stack: Stack, program: Program, member_id: int) -> list[tuple[str, int]]:
    entries = stack.call(
        "GET", f"/api/v1/members/{member_id}/ledger", None, program.headers("admin")
    ).body
    return [(e["rule"], e["points"]) for e in entries if e["kind"] == "bonus"]


# -- the triggers ----------------------------------------------------------------------


def test_a_queued_sale_gets_its_campaign_bonus_once_the_worker_runs(stack, program, ledger):
    campaign = stack.launch(
        program,
        {
            "name": "Spend 500, get 50",
            "trigger": "transaction.recorded",
            "conditions": {"fact": "transaction.total", "op": "gte", "value": "500.00"},
            "effects": [{"type": "award_points", "points": 50}],
        },
    )
    member = stack.enrol(program)
    big = stack.sell(program, "T-1", "600.00", member)
    small = stack.sell(program, "T-2", "100.00", member)
    # The answer comes before the worker has run (unless it was quicker than the reply).
    assert (big["status"], big["points_awarded"]) in {("queued", 0), ("processed", 24 + 50)}
    stack.settle(ledger)

    shown = stack.call("GET", f"/api/v1/transactions/{big['id']}", None, program.headers("BKK01"))
    assert (shown.body["status"], shown.body["points_awarded"]) == ("processed", 24 + 50)
    rules = sorted((e["rule"], e["points"]) for e in shown.body["effects"])
    assert rules == [("base", 24), (f"campaign:{campaign['id']}:v1", 50)]
    shown = stack.call("GET", f"/api/v1/transactions/{small['id']}", None, program.headers("BKK01"))
    assert shown.body["points_awarded"] == 4
    assert stack.member(program, member["id"])["points_balance"] == 24 + 50 + 4
    assert ledger.bonuses() == [(big["id"], member["id"], 50, f"campaign:{campaign['id']}:v1")]
    assert ledger.unbalanced() == []


def test_an_enrolment_through_the_service_gets_the_welcome_bonus(stack, program, ledger):
    campaign = stack.launch(
        program,
        {
            "name": "Welcome",
            "trigger": "member.enrolled",
            "effects": [
                {"type": "award_points", "points": 100},
                {"type": "tag_member", "tag": "welcomed"},
            ],
        },
    )
    member = stack.enrol(program)
    stack.settle(ledger)

    assert stack.member(program, member["id"])["points_balance"] == 100
    assert bonus_rules(stack, program, member["id"]) == [(f"campaign:{campaign['id']}:v1", 100)]
    assert tags_of(ledger, member["id"]) == ["welcomed"]
    assert ledger.unbalanced() == []


def test_run_daily_gives_birthdays_and_win_backs_once_and_a_second_run_nothing(
    stack, program, ledger
):
    birthday = stack.launch(
        program,
        {
            "name": "Happy birthday",
            "trigger": "member.birthday",
            "effects": [{"type": "award_points", "points": 50}],
        },
    )
    win_back = stack.launch(
        program,
        {
            "name": "We miss you",
            "trigger": "member.inactive",
            "inactive_days": 30,
            "effects": [{"type": "award_points", "points": 40}],
        },
    )
    day = date(2026, 6, 30)
    members = {
        "born_that_day": stack.enrol(program, birthdate="1990-06-30"),
        "born_next_day": stack.enrol(program, birthdate="1990-07-01"),
        "quiet": stack.enrol(program),
        "recent": stack.enrol(program),
        "long_gone": stack.enrol(program),
    }
    for name, quiet_days in {"quiet": 30, "recent": 20, "long_gone": 31}.items():
        at = bangkok(day - timedelta(days=quiet_days))
        stack.sell(program, f"IN-{name}", "250.00", members[name], occurred_at=at)
    stack.settle(ledger)

    assert stack.run_daily(day) == {"member.birthday": 1, "member.inactive:30": 1}
    stack.settle(ledger)
    expected = {
        "born_that_day": 50,
        "born_next_day": 0,
        "quiet": 10 + 40,
        "recent": 10,
        "long_gone": 10,
    }
    balances = {n: stack.member(program, m["id"])["points_balance"] for n, m in members.items()}
    assert balances == expected

    assert stack.run_daily(day) == {"member.birthday": 0, "member.inactive:30": 0}
    stack.settle(ledger)
    balances = {n: stack.member(program, m["id"])["points_balance"] for n, m in members.items()}
    assert balances == expected
    applied = {
        c["id"]: [a["member_id"] for a in ledger.applications(c["id"])]
        for c in (birthday, win_back)
    }
    assert applied == {
        birthday["id"]: [members["born_that_day"]["id"]],
        win_back["id"]: [members["quiet"]["id"]],
    }
    assert ledger.unbalanced() == []


def test_points_expiring_days_before_reach_the_members_holding_them(app, stack, program, ledger):
    campaign = stack.launch(
        program,
        {
            "name": "Use them or lose them",
            "trigger": "points.expiring",
            "days_before": 7,
            "conditions": {"fact": "points.expiring", "op": "gte", "value": 10},
            "effects": [
                {"type": "award_points", "points": 15},
                {"type": "tag_member", "tag": "expiry-warned"},
            ],
        },
    )
    soon, later, few = stack.enrol(program), stack.enrol(program), stack.enrol(program)
    last_month = (datetime.now(BANGKOK).replace(day=1) - timedelta(days=1)).date()
    stack.sell(program, "EX-1", "1000.00", soon, occurred_at=bangkok(last_month))
    stack.sell(program, "EX-2", "1000.00", later, occurred_at=datetime.now(BANGKOK))
    stack.sell(program, "EX-3", "200.00", few, occurred_at=bangkok(last_month, 13))
    stack.settle(ledger)
    day = expiry_day(app, soon["id"]) - timedelta(days=7)
    assert expiry_day(app, later["id"]) > day + timedelta(days=7)

    # `few` has 8 points expiring that day: emitted, but below the campaign's condition.
    assert stack.run_daily(day) == {"points.expiring:7": 2}
    stack.settle(ledger)
    assert stack.member(program, soon["id"])["points_balance"] == 40 + 15
    assert stack.member(program, later["id"])["points_balance"] == 40
    assert stack.member(program, few["id"])["points_balance"] == 8
    assert tags_of(ledger, soon["id"]) == ["expiry-warned"]

    assert stack.run_daily(day) == {"points.expiring:7": 0}
    stack.settle(ledger)
    assert [a["member_id"] for a in ledger.applications(campaign["id"])] == [soon["id"]]
    assert stack.member(program, soon["id"])["points_balance"] == 55
    assert ledger.unbalanced() == []


def test_a_purchase_crossing_a_tier_threshold_emits_tier_changed_and_its_bonus(
    app, stack, program, ledger
):
    add_tier(app, "silver", threshold_minor=100_000)
    campaign = stack.launch(
        program,
        {
            "name": "Welcome to silver",
            "trigger": "tier.changed",
            "conditions": {"fact": "tier.to", "op": "eq", "value": "silver"},
            "effects": [{"type": "award_points", "points": 200}],
        },
    )
    climber, stayer = stack.enrol(program), stack.enrol(program)
    stack.sell(program, "TC-1", "1200.00", climber)
    stack.sell(program, "TC-2", "500.00", stayer)
    stack.settle(ledger)

    up = stack.member(program, climber["id"])
    assert (up["tier"], up["points_balance"]) == ("silver", 48 + 200)
    still = stack.member(program, stayer["id"])
    assert (still["tier"], still["points_balance"]) == ("member", 20)
    assert bonus_rules(stack, program, climber["id"]) == [(f"campaign:{campaign['id']}:v1", 200)]
    assert ledger.unbalanced() == []


def redeem(stack: Stack, program: Program, member: dict, reward_id: int) -> Reply:
    body = {"member_id": member["id"], "reward_id": reward_id}
    return stack.call("POST", "/api/v1/redemptions", body, program.headers("admin"))


def reward(stack: Stack, program: Program, name: str, cost: int) -> dict:
    made = stack.call(
        "POST", "/api/v1/rewards", {"name": name, "points_cost": cost}, program.headers("marketer")
    )
    assert made.status == 201, made.body
    return made.body


def test_redeeming_a_catalog_reward_fires_the_reward_redeemed_campaign(stack, program, ledger):
    latte, cookie = reward(stack, program, "Free latte", 50), reward(stack, program, "Cookie", 5)
    campaign = stack.launch(
        program,
        {
            "name": "A cookie with your free latte",
            "trigger": "reward.redeemed",
            "conditions": {"fact": "reward.id", "op": "eq", "value": latte["id"]},
            "effects": [
                {"type": "award_points", "points": 10},
                {"type": "issue_reward", "reward_id": cookie["id"]},
            ],
        },
    )
    member = stack.enrol(program)
    stack.sell(program, "RR-1", "2500.00", member)
    stack.settle(ledger)

    spent = redeem(stack, program, member, latte["id"])
    assert (spent.status, spent.body["balance_after"]) == (201, 50)
    stack.settle(ledger)
    assert redeem(stack, program, member, cookie["id"]).status == 201  # not the latte: no gift
    stack.settle(ledger)

    assert stack.member(program, member["id"])["points_balance"] == 100 - 50 - 5 + 10
    [applied] = ledger.applications(campaign["id"])
    gift = applied["results"][1]
    assert (gift["type"], gift["reward_id"], gift["status"]) == (
        "issue_reward",
        cookie["id"],
        "issued",
    )
    voucher = stack.call(
        "GET", f"/api/v1/vouchers/{gift['voucher']}", None, program.headers("admin")
    )
    assert (voucher.status, voucher.body["reward_id"]) == (200, cookie["id"])
    assert ledger.count("vouchers") == 3  # the latte, the paid cookie and the gift
    assert ledger.unbalanced() == []


def test_a_message_without_consent_is_refused_and_with_consent_queued(stack, program, ledger):
    template = {"locales": {"en": {"body": "Hi {{ name }}, here are {{ points }} points"}}}
    saved = stack.call(
        "PUT", "/api/v1/message-templates/welcome-sms", template, program.headers("marketer")
    )
    assert saved.status == 200, saved.body
    campaign = stack.launch(
        program,
        {
            "name": "Welcome text",
            "trigger": "member.enrolled",
            "effects": [
                {"type": "award_points", "points": 20},
                {"type": "send_message", "channel": "sms", "template": "welcome-sms"},
            ],
        },
    )
    refused = stack.enrol(program, locale="en", consents={"marketing_sms": False})
    silent = stack.enrol(program, locale="en")
    agreed = stack.enrol(program, name="Malee", locale="en", consents={"marketing_sms": True})
    stack.settle(ledger)

    results = {a["member_id"]: a["results"][1] for a in ledger.applications(campaign["id"])}
    assert results[refused["id"]]["status"] == "refused"
    assert results[refused["id"]]["reason"] == "no consent for marketing_sms"
    assert results[silent["id"]]["status"] == "refused"
    assert results[agreed["id"]]["status"] == "queued"
    rows = ledger.rows(
        text("SELECT member_id, channel, recipient, status, body, campaign_id FROM messages")
    )
    assert rows == [
        (
            agreed["id"],
            "sms",
            agreed["phone"],
            "queued",
            "Hi Malee, here are 20 points",
            campaign["id"],
        )
    ]
    report = stack.call(
        "GET", f"/api/v1/campaigns/{campaign['id']}/report", None, program.headers("marketer")
    ).body
    assert report["messages"]["refused"] == 2
    assert report["messages"]["queued"] == 1
    # Points do not need consent: all three got them.
    assert {
        stack.member(program, m["id"])["points_balance"] for m in (refused, silent, agreed)
    } == {20}


def test_outbox_work_delivered_three_times_applies_each_effect_once(app, stack, program, ledger):
    add_tier(app, "gold", threshold_minor=300_000)
    prize = reward(stack, program, "Tote bag", 30)
    stack.call(
        "PUT",
        "/api/v1/message-templates/hello",
        {"locales": {"en": {"body": "Hello {{ name }}"}}},
        program.headers("marketer"),
    )
    bodies = [
        {
            "name": "Bonus on every sale",
            "trigger": "transaction.recorded",
            "effects": [{"type": "award_points", "points": 5}],
        },
        {
            "name": "Welcome",
            "trigger": "member.enrolled",
            "effects": [
                {"type": "award_points", "points": 100},
                {"type": "tag_member", "tag": "new"},
                {"type": "send_message", "channel": "sms", "template": "hello"},
            ],
        },
        {
            "name": "Gold",
            "trigger": "tier.changed",
            "effects": [{"type": "issue_reward", "reward_id": prize["id"]}],
        },
        {
            "name": "Thanks for redeeming",
            "trigger": "reward.redeemed",
            "effects": [{"type": "award_points", "points": 7}],
        },
        {
            "name": "Birthday",
            "trigger": "member.birthday",
            "effects": [{"type": "award_points", "points": 30}],
        },
    ]
    for body in bodies:
        stack.launch(program, body)
    members = [
        stack.enrol(program, locale="en", birthdate="1991-03-09", consents={"marketing_sms": True})
        for _ in range(3)
    ]
    for n, member in enumerate(members):
        stack.sell(program, f"RD-{n}", "3500.00", member)  # reaches gold
    stack.settle(ledger)
    assert redeem(stack, program, members[0], prize["id"]).status == 201
    assert stack.run_daily(date(2026, 3, 9)) == {"member.birthday": 3}
    stack.settle(ledger)
    first = ledger.snapshot()
    assert first["counts"]["messages"] == 3
    assert first["counts"]["vouchers"] == 3 + 1
    assert [balance for _id, balance, _tier in first["members"]] == [
        100 + 140 + 5 + 30 - 30 + 7,
        100 + 140 + 5 + 30,
        100 + 140 + 5 + 30,
    ]

    for _redelivery in range(2):
        assert reset_outbox(app) > 0
        stack.force_drain()
        stack.settle(ledger)
        assert ledger.snapshot() == first
    assert ledger.unbalanced() == []

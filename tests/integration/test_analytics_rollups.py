"""The analytics rollups against a recount from the ledger, receipts and members, after random
sequences of operations made through the API — enrolments at two stores, sales (backdated up
to a year, some anonymous), refunds, redemptions and their cancellation, adjustments, expiry,
merges and erasures, a change of the active-days setting — with roll-ups at random moments,
immediate or noted and taken later, each taking in at most three ids of each kind.

After every step, the report read from the rollups (and what they do not hold yet) equals the
one counted from the rows themselves: whole and per store, for the default window, two years
and a window that ended months ago.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.settings import get_setting
from loyalty.unit_of_work import unit_of_work
from rewards.analytics import rollups
from rewards.analytics.periods import window
from rewards.analytics.program import Scope
from rewards.analytics.report import program_report, recounted_report
from rewards.jobs import expire_points, program_today
from tests.conftest import empty_database
from tests.factories import enrol, make_program, receipt

STORES = ("BKK01", "BKK02")
TIMEZONE = "Asia/Bangkok"
ROLLUP_SETTINGS = settings(
    max_examples=12,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
_serial = count(1)


class RollupMachine(RuleBasedStateMachine):
    """One program with two stores, driven through the API by a till at each and an admin."""

    app: Flask

    def __init__(self) -> None:
        super().__init__()
        self.context = self.app.app_context()
        self.context.push()
        self.client = self.app.test_client()
        self.program = make_program(self.app)
        self.members: list[dict[str, Any]] = []  # id, member_no, store, open
        self.sales: list[dict[str, Any]] = []  # external_id, store, left_minor
        self.redemptions: list[tuple[int, str]] = []
        self.clock = utcnow()

    def teardown(self) -> None:
        db.session.rollback()
        empty_database()
        db.session.remove()
        self.context.pop()

    def _post(self, path: str, body: dict, who: str, expect: int = 201) -> dict:
        got = self.client.post(path, json=body, headers=self.program.headers(who))
        assert got.status_code == expect, got.get_json()
        return got.get_json()

    def _open(self) -> list[dict[str, Any]]:
        return [m for m in self.members if m["open"]]

    # -- rules --------------------------------------------------------------------------

    @rule(store=st.sampled_from(STORES))
    def enrol(self, store: str) -> None:
        made = enrol(self.client, self.program, store)
        self.members.append({**made, "store": store, "open": True})

    @rule(
        store=st.sampled_from(STORES),
        member=st.integers(-1, 20),
        amount=st.integers(1, 200).map(lambda n: n * 500),
        days_ago=st.sampled_from([0, 0, 1, 6, 8, 30, 45, 95, 200, 380]),
    )
    def sell(self, store: str, member: int, amount: int, days_ago: int) -> None:
        chosen = self._open()
        who = chosen[member % len(chosen)] if chosen and member >= 0 else None
        external_id = f"S{next(_serial)}"
        when = utcnow() - timedelta(days=days_ago, minutes=5)
        card = {"member_no": who["member_no"]} if who else None
        body = receipt(external_id, f"{amount / 100:.2f}", card, occurred_at=when)
        self._post("/api/v1/transactions", body, store)
        self.sales.append({"external_id": external_id, "store": store, "left": amount})

    @precondition(lambda self: any(s["left"] > 0 for s in self.sales))
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        sale = data.draw(st.sampled_from([s for s in self.sales if s["left"] > 0]))
        amount = data.draw(st.integers(1, sale["left"]))
        body = receipt(
            f"R{next(_serial)}",
            f"{amount / 100:.2f}",
            None,
            type="refund",
            refund_of=sale["external_id"],
        )
        self._post("/api/v1/transactions", body, sale["store"])
        sale["left"] -= amount

    @precondition(lambda self: bool(self._open()))
    @rule(data=st.data(), store=st.sampled_from(STORES))
    def redeem(self, data: st.DataObject, store: str) -> None:
        member = data.draw(st.sampled_from(self._open()))
        path = f"/api/v1/members/{member['id']}"
        balance = self.client.get(path, headers=self.program.headers("admin")).get_json()
        points = balance["points_balance"]
        if points <= 0:
            return
        code = self.client.get(f"{path}/card/code", headers=self.program.headers("admin"))
        body = {
            "member_id": member["id"],
            "points": data.draw(st.integers(1, points)),
            "code": code.get_json()["code"],
        }
        made = self.client.post(
            "/api/v1/redemptions", json=body, headers=self.program.headers(store)
        )
        assert made.status_code in (201, 409), made.get_json()  # 409: points held back
        if made.status_code == 201:
            self.redemptions.append((made.get_json()["id"], store))

    @precondition(lambda self: bool(self.redemptions))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        redemption_id, store = data.draw(st.sampled_from(self.redemptions))
        self.redemptions.remove((redemption_id, store))
        self._post(f"/api/v1/redemptions/{redemption_id}/cancel", {}, store, expect=200)

    @precondition(lambda self: bool(self._open()))
    @rule(data=st.data(), points=st.integers(-30, 60).filter(bool))
    def adjust(self, data: st.DataObject, points: int) -> None:
        member = data.draw(st.sampled_from(self._open()))
        body = {"points": points, "reason": "goodwill"}
        path = f"/api/v1/members/{member['id']}/adjustments"
        made = self.client.post(path, json=body, headers=self.program.headers("admin"))
        assert made.status_code in (201, 409), made.get_json()  # 409: below zero

    @rule()
    def expire_a_year_on(self) -> None:
        expire_points(db.session, utcnow() + timedelta(days=800))

    @precondition(lambda self: len(self._open()) >= 2)
    @rule(data=st.data())
    def merge(self, data: st.DataObject) -> None:
        """Two members of one store (a merge across stores leaves older adjustments and
        expiry with the source's store in the rollups: docs/ANALYTICS.md)."""
        target = data.draw(st.sampled_from(self._open()))
        same = [m for m in self._open() if m["store"] == target["store"] and m is not target]
        if not same:
            return
        source = data.draw(st.sampled_from(same))
        body = {"from_member_id": source["id"], "reason": "the same person"}
        self._post(f"/api/v1/members/{target['id']}/merge", body, "admin", expect=200)
        source["open"] = False

    @precondition(lambda self: bool(self._open()))
    @rule(data=st.data())
    def erase(self, data: st.DataObject) -> None:
        member = data.draw(st.sampled_from(self._open()))
        body = {"reason": "asked to be forgotten"}
        self._post(f"/api/v1/members/{member['id']}/erase", body, "admin", expect=200)
        member["open"] = False

    @rule(days=st.sampled_from([30, 90, 120]))
    def set_active_days(self, days: int) -> None:
        admin = self.program.headers("admin")
        now = self.client.get("/api/v1/program/settings", headers=admin).get_json()
        got = self.client.put(
            "/api/v1/program/settings", json={**now, "active_days": days}, headers=admin
        )
        assert got.status_code == 200, got.get_json()

    @rule(lag=st.sampled_from([0, 30]), seconds=st.sampled_from([0, 10, 40]))
    def roll_up(self, lag: int, seconds: int) -> None:
        """A roll-up now, or one with a lag on a clock moved on by `seconds`."""
        self.clock += timedelta(seconds=seconds)
        days = int(get_setting(db.session, "active_days")["days"])
        with unit_of_work():
            rollups.roll_up(
                db.session, ZoneInfo(TIMEZONE), days, self.clock, timedelta(seconds=lag)
            )

    # -- the invariant ------------------------------------------------------------------

    @invariant()
    def rollups_equal_a_recount(self) -> None:
        today = program_today(TIMEZONE)
        days = int(get_setting(db.session, "active_days")["days"])
        store_ids = [None, *self.program.stores.values()]
        windows = [
            (None, None),
            (today - timedelta(days=729), today),
            (today - timedelta(days=160), today - timedelta(days=40)),
        ]
        for first, last in windows:
            for store_id in store_ids:
                scope = Scope(window(first, last, today, TIMEZONE), store_id, days)
                rolled = program_report(db.session, scope)
                counted = recounted_report(db.session, scope)
                differ = {k: (rolled[k], counted[k]) for k in counted if rolled[k] != counted[k]}
                assert not differ, (first, last, store_id, differ)
        db.session.rollback()


def test_rollups_equal_a_recount_after_random_histories(app, monkeypatch):
    monkeypatch.setattr(rollups, "RUN", 3)  # runs that stop part-way, the rest left over
    RollupMachine.app = app
    run_state_machine_as_test(RollupMachine, settings=ROLLUP_SETTINGS)

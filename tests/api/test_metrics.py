"""GET /api/v1/members/{id}/metrics after receipts through POST /transactions, before and after
`profiles refresh` and `clv fit`; GET /api/v1/analytics/clv before and after a fit."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from loyalty.db import utcnow
from loyalty.extensions import db
from members import service
from members.metrics import clv
from members.models import MemberDay
from tests.api.conftest import problem_of
from tests.factories import Program, enrol, receipt

BANGKOK = ZoneInfo("Asia/Bangkok")


def program_today() -> date:
    return utcnow().astimezone(BANGKOK).date()


def days_ago(days: int, hour: int = 10) -> datetime:
    """`hour` o'clock in Bangkok, `days` program days before today."""
    return datetime.combine(program_today() - timedelta(days=days), time(hour), BANGKOK)


def line(sku: str, category: str, price: str) -> dict:
    return {"sku": sku, "category": category, "quantity": 1, "unit_price": price}


class Shop:
    """Posts a member's receipts from a store's till."""

    def __init__(self, client: FlaskClient, program: Program, member: dict) -> None:
        self.client, self.program, self.ref = client, program, {"member_no": member["member_no"]}

    def sale(self, external_id: str, at: datetime, store: str, *items: dict) -> None:
        total = f"{sum(float(i['unit_price']) for i in items):.2f}"
        body = receipt(external_id, total, self.ref, occurred_at=at, items=list(items))
        self.post(body, store)

    def refund(self, external_id: str, of: str, store: str, *items: dict) -> None:
        total = f"{sum(float(i['unit_price']) for i in items):.2f}"
        body = receipt(external_id, total, None, type="refund", refund_of=of, items=list(items))
        self.post(body, store)

    def post(self, body: dict, store: str) -> None:
        r = self.client.post("/api/v1/transactions", json=body, headers=self.program.headers(store))
        assert r.status_code == 201, r.get_json()


@pytest.fixture
def member(client: FlaskClient, program: Program) -> dict:
    """A member with four sales on three program days at two stores, and a partial refund."""
    member = enrol(client, program)
    shop = Shop(client, program, member)
    shop.sale("S-1", days_ago(400), "BKK01", line("CF", "coffee", "300.00"))
    shop.sale(
        "S-2", days_ago(100), "BKK02", line("CF", "coffee", "120.00"), line("BK", "bakery", "80.00")
    )
    shop.sale("S-3", days_ago(100, 11), "BKK02", line("BK", "bakery", "100.00"))
    shop.sale("S-4", days_ago(10), "BKK02", line("TE", "tea", "500.00"))
    shop.refund("S-4R", "S-4", "BKK02", line("TE", "tea", "100.00"))
    return member


def metrics_of(client: FlaskClient, program: Program, member: dict, who: str = "marketer") -> dict:
    r = client.get(f"/api/v1/members/{member['id']}/metrics", headers=program.headers(who))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_live_figures_follow_the_receipts_and_refunds(client, program, member):
    body = metrics_of(client, program, member)

    assert body["member_id"] == member["id"]
    assert body["recency_days"] == 10
    assert body["frequency"] == 3  # two sales on one day are one purchase day
    assert body["monetary"] == "333.33"  # 1000.00 net over three purchase days
    assert body["visits"] == 4
    assert body["lifetime_spend"] == "1000.00"
    assert body["average_basket"] == "250.00"
    assert body["spend_12m"] == "700.00"  # the sale 400 days ago is outside
    assert datetime.fromisoformat(body["first_purchase_at"]) == days_ago(400)
    assert datetime.fromisoformat(body["last_purchase_at"]) == days_ago(10)
    assert body["favourite_categories"] == [
        {"category": "coffee", "spend": "420.00", "visits": 2},
        {"category": "tea", "spend": "400.00", "visits": 1},
        {"category": "bakery", "spend": "180.00", "visits": 2},
    ]
    assert body["favourite_stores"] == [
        {"code": "BKK02", "name": "Thonglor", "spend": "700.00", "visits": 3},
        {"code": "BKK01", "name": "Siam Paragon", "spend": "300.00", "visits": 1},
    ]


def test_scores_are_null_until_the_first_refresh_and_fit(client, program, member):
    body = metrics_of(client, program, member)

    assert body["rfm"] == {"r": None, "f": None, "m": None, "segment": None}
    assert body["clv"] == {"expected_purchases_365": None, "p_alive": None, "value_365": None}
    assert body["refreshed_at"] is None


def test_a_member_who_never_bought_has_empty_figures(client, program):
    newcomer = enrol(client, program)

    body = metrics_of(client, program, newcomer, "cashier")

    assert body["recency_days"] is None
    assert (body["frequency"], body["visits"]) == (0, 0)
    assert (body["monetary"], body["average_basket"]) == (None, None)
    assert (body["lifetime_spend"], body["spend_12m"]) == ("0.00", "0.00")
    assert (body["first_purchase_at"], body["last_purchase_at"]) == (None, None)
    assert (body["favourite_categories"], body["favourite_stores"]) == ([], [])


def test_refresh_fills_the_rfm_scores(client, program, member, runner: FlaskCliRunner):
    other = enrol(client, program)
    shop = Shop(client, program, other)
    shop.sale("O-1", days_ago(50), "BKK01", line("CF", "coffee", "50.00"))
    shop.sale("O-2", days_ago(30), "BKK01", line("CF", "coffee", "50.00"))

    result = runner.invoke(args=["profiles", "refresh"])

    assert result.exit_code == 0, result.output
    body = metrics_of(client, program, member)
    # Two buyers: the member is in the upper tile of recency, frequency and average spend.
    assert body["rfm"] == {"r": 2, "f": 2, "m": 2, "segment": "Hibernating"}
    assert metrics_of(client, program, other)["rfm"]["segment"] == "Lost"
    assert body["refreshed_at"] is not None
    assert body["clv"]["p_alive"] is None


def backdrop(app: Flask, customers: int, seed: int = 4) -> None:
    """Other members' purchase days (random rates and drop-outs), written straight in."""
    rng = np.random.default_rng(seed)
    today = program_today()
    with app.app_context():
        for k in range(customers):
            member_id = service.add_member(
                db.session, service.Enrolment(f"B{k}", external_ref=f"B{k}")
            ).id
            rate, drop = rng.gamma(1.0, 1 / 10), rng.beta(1.0, 3.0)
            t, days = float(rng.integers(100, 300)), set()
            days.add(int(t))
            while (t := t - rng.exponential(1 / rate)) > 0:
                days.add(int(t))
                if rng.random() < drop:
                    break
            for d in days:
                db.session.add(
                    MemberDay(
                        member_id=member_id,
                        day=today - timedelta(days=d),
                        spend_minor=int(rng.integers(5_000, 50_000)),
                        purchases=1,
                        points=0,
                    )
                )
        db.session.commit()


def test_clv_fit_fills_the_predictions(app, client, program, member, runner: FlaskCliRunner):
    backdrop(app, 150)

    result = runner.invoke(args=["clv", "fit"])

    assert result.exit_code == 0, result.output
    body = metrics_of(client, program, member)
    model = client.get("/api/v1/analytics/clv", headers=program.headers("admin")).get_json()
    assert model["converged"] is True
    params = clv.BgNbd(*(float(model[k]) for k in ("r", "alpha", "a", "b")))
    x, t_x, age = 2, 390 / 7, 400 / 7  # purchase days 400, 100 and 10 days ago
    expected = clv.expected_purchases(params, 365 / 7, x, t_x, age)[()]
    assert float(body["clv"]["expected_purchases_365"]) == pytest.approx(expected, abs=1e-4)
    alive = clv.p_alive(params, x, t_x, age)[()]
    assert float(body["clv"]["p_alive"]) == pytest.approx(alive, abs=1e-6)
    assert float(body["clv"]["value_365"]) > 0
    assert body["rfm"]["r"] is None  # scores wait for the refresh


def test_a_shopper_sees_their_own_metrics(client, program, member, shopper):
    r = client.get(f"/api/v1/members/{member['id']}/metrics", headers=shopper(member["id"]))

    assert r.status_code == 200
    assert r.get_json()["visits"] == 4


def test_an_unknown_member_is_not_found(client, program):
    problem = problem_of(
        client.get("/api/v1/members/999999/metrics", headers=program.headers("admin")), 404
    )

    assert "999999" in problem["detail"]


def test_the_clv_model_is_not_found_before_any_fit(client, program):
    problem = problem_of(client.get("/api/v1/analytics/clv", headers=program.headers("admin")), 404)

    assert "clv fit" in problem["detail"]


def test_the_clv_model_shows_the_latest_fit(client, program, member, runner):
    other = enrol(client, program)
    shop = Shop(client, program, other)
    shop.sale("O-1", days_ago(60), "BKK01", line("CF", "coffee", "70.00"))
    shop.sale("O-2", days_ago(20), "BKK01", line("CF", "coffee", "90.00"))
    end = program_today() - timedelta(days=5)
    for start in ("2000-01-01", (end - timedelta(days=200)).isoformat()):
        args = ["clv", "fit", "--as-of", end.isoformat(), "--calibration-start", start]
        assert runner.invoke(args=args).exit_code == 0

    r = client.get("/api/v1/analytics/clv", headers=program.headers("marketer"))

    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["calibration_start"] == (end - timedelta(days=200)).isoformat()
    assert body["calibration_end"] == end.isoformat()
    assert (body["members"], body["repeat_buyers"]) == (2, 2)  # S-1 is before the window
    assert isinstance(body["converged"], bool)
    for name in ("r", "alpha", "a", "b", "p", "q", "gamma", "fit_seconds"):
        assert float(body[name]) >= 0, name
    assert datetime.fromisoformat(body["fitted_at"]) <= utcnow()

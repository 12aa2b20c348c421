"""Redelivery through the running service: receipts, refunds and Idempotency-Keys sent
again, one after another and at the same moment, move points once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from tests.factories import receipt
from tests.integration.servers import Reply


def at_once(times: int, send: Callable[[], object]) -> list:
    """Send the same request from `times` threads released together."""
    start = threading.Barrier(times)

    def one(_n: int):
        start.wait()
        return send()

    with ThreadPoolExecutor(times) as pool:
        return list(pool.map(one, range(times)))


def one_after_another(times: int, send: Callable[[], object]) -> list:
    return [send() for _ in range(times)]


DELIVERIES = {"in a row": one_after_another, "at once": at_once}


@dataclass
class Till:
    """BKK01's till talking to the running service, with one member at the counter."""

    service: str
    headers: dict[str, str]
    call: Callable[..., Reply]
    member: dict = field(default_factory=dict)

    def post(self, path: str, body: dict, **headers: str) -> Reply:
        return self.call("POST", f"{self.service}{path}", body, {**self.headers, **headers})

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.call("GET", f"{self.service}{path}", None, headers or self.headers)

    def balance(self) -> int:
        return self.get(f"/api/v1/members/{self.member['id']}").body["points_balance"]

    def sale(self, external_id: str, total: str) -> dict:
        return receipt(external_id, total, {"member_no": self.member["member_no"]})


@pytest.fixture
def till(service, program, call) -> Till:
    found = Till(service, program.headers("BKK01"), call)
    enrolled = found.post("/api/v1/members", {"name": "Malee", "phone": "0898765432"})
    assert enrolled.status == 201, enrolled.body
    found.member = enrolled.body
    return found


@pytest.mark.parametrize("deliver", DELIVERIES.values(), ids=DELIVERIES.keys())
def test_a_receipt_delivered_three_times_earns_once(till, books, deliver):
    body = till.sale("R-3X", "130.00")
    replies = deliver(3, lambda: till.post("/api/v1/transactions", body))

    assert sorted(r.status for r in replies) == [200, 200, 201], replies
    assert {r.body["id"] for r in replies} == {replies[0].body["id"]}
    # A replay answers with the transaction as it stands: processed, or still being processed.
    assert {(r.body["status"], r.body["points_awarded"]) for r in replies} <= {
        ("processed", 5),
        ("queued", 0),
    }
    assert till.get(f"/api/v1/transactions/{replies[0].body['id']}").body["points_awarded"] == 5
    assert till.balance() == 5
    assert len(books.entries("earn")) == 1
    assert books.unbalanced() == []


@pytest.mark.parametrize("deliver", DELIVERIES.values(), ids=DELIVERIES.keys())
def test_a_refund_delivered_twice_reverses_its_points_once(till, books, deliver):
    assert till.post("/api/v1/transactions", till.sale("R-S", "1000.00")).status == 201
    refund = {**till.sale("R-S-REFUND", "500.00"), "type": "refund", "refund_of": "R-S"}
    replies = deliver(2, lambda: till.post("/api/v1/transactions", refund))

    assert sorted(r.status for r in replies) == [200, 201], replies
    assert {r.body["id"] for r in replies} == {replies[0].body["id"]}
    assert {(r.body["status"], r.body["points_awarded"]) for r in replies} <= {
        ("processed", -20),
        ("queued", 0),
    }
    assert till.get(f"/api/v1/transactions/{replies[0].body['id']}").body["points_awarded"] == -20
    assert till.balance() == 40 - 20
    assert len(books.entries("reverse")) == 1
    assert books.unbalanced() == []


def test_the_same_idempotency_key_sent_at_once_redeems_once(till, books, program):
    assert till.post("/api/v1/transactions", till.sale("R-FUND", "2500.00")).status == 201
    code_path = f"/api/v1/members/{till.member['id']}/card/code"
    code = till.get(code_path, program.headers("cashier")).body["code"]
    body = {"member_id": till.member["id"], "points": 30, "code": code}
    replies = at_once(
        6, lambda: till.post("/api/v1/redemptions", body, **{"Idempotency-Key": "redeem-once"})
    )

    statuses = Counter(r.status for r in replies)
    assert set(statuses) <= {201, 409}, replies
    assert statuses[201] >= 1, replies
    assert len({r.body["id"] for r in replies if r.status == 201}) == 1, replies
    in_flight = [r.body["type"] for r in replies if r.status == 409]
    assert all(kind.endswith("idempotency-in-progress") for kind in in_flight), in_flight
    assert till.balance() == 100 - 30
    assert len(books.entries("redeem")) == 1
    assert books.unbalanced() == []

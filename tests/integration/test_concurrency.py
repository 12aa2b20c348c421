"""Concurrent redemptions through the running service (gunicorn, several processes and
threads) on the suite's database: PostgreSQL in the PostgreSQL run, SQLite in the other."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tests.factories import receipt

TILLS = 20


def test_twenty_concurrent_redemptions_of_100_against_500_points_pay_out_exactly_five(
    service, program, call, books
):
    terminal, cashier = program.headers("BKK01"), program.headers("cashier")
    member = call(
        "POST", f"{service}/api/v1/members", {"name": "Somchai", "phone": "0812345678"}, terminal
    ).body
    funded = call(
        "POST",
        f"{service}/api/v1/transactions",
        receipt("FUND-1", "12500.00", {"member_no": member["member_no"]}),
        terminal,
    )
    assert (funded.status, funded.body["status"]) == (201, "processed"), funded.body
    assert funded.body["member"]["points_balance"] == 500
    code = call("GET", f"{service}/api/v1/members/{member['id']}/card/code", None, cashier)
    body = {"member_id": member["id"], "points": 100, "code": code.body["code"]}
    start = threading.Barrier(TILLS)

    def redeem(_till: int):
        start.wait()
        return call("POST", f"{service}/api/v1/redemptions", body, terminal)

    with ThreadPoolExecutor(TILLS) as pool:
        replies = list(pool.map(redeem, range(TILLS)))

    assert Counter(r.status for r in replies) == {201: 5, 409: 15}, replies
    refused = [r.body["type"] for r in replies if r.status == 409]
    assert all(kind.endswith("insufficient-points") for kind in refused), refused
    paid = sorted(r.body["balance_after"] for r in replies if r.status == 201)
    assert paid == [0, 100, 200, 300, 400]
    shown = call("GET", f"{service}/api/v1/members/{member['id']}", None, cashier)
    assert shown.body["points_balance"] == 0
    assert len(books.entries("redeem")) == 5
    assert books.unbalanced() == []


def test_batches_racing_with_the_same_receipts_record_each_once(service, program, call, books):
    """Eight tills send overlapping batches at once: every receipt is recorded once and earns
    once; each till is told 201 or 200 for each, never 409 or an error."""
    terminal = program.headers("BKK01")
    member = call(
        "POST", f"{service}/api/v1/members", {"name": "Malee", "phone": "0823456789"}, terminal
    ).body
    ref = {"member_no": member["member_no"]}
    shared = [receipt(f"RACE-{i}", "25.00", ref) for i in range(60)]
    start = threading.Barrier(8)

    def send(till: int):
        batch = shared[till * 5 :] + shared[: till * 5]  # the same receipts, in other orders
        start.wait()
        return call("POST", f"{service}/api/v1/transactions/batch", {"receipts": batch}, terminal)

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(send, range(8)))

    assert {r.status for r in replies} == {200}, replies
    statuses = Counter(item["status"] for r in replies for item in r.body["results"])
    assert statuses == {201: 60, 200: 7 * 60}, statuses
    ids = {item["external_id"]: item["id"] for item in replies[0].body["results"]}
    for reply in replies[1:]:
        assert {i["external_id"]: i["id"] for i in reply.body["results"]} == ids
    assert len(books.entries("earn")) == 60
    shown = call("GET", f"{service}/api/v1/members/{member['id']}", None, terminal)
    assert shown.body["points_balance"] == 60
    assert books.unbalanced() == []

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

"""The database failing under a stream of receipts: every connection of the running service
killed (`pg_terminate_backend`) while tills post. Clients see 503 with `Retry-After`, never a
500; the service answers again by itself; every receipt acknowledged is in the ledger once."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, make_url, text

from tests.factories import receipt
from tests.integration.servers import service_env

WEB_NAME = "loyalty-web-faults"


def post(url: str, body: dict, headers: dict[str, str]) -> tuple[int, dict, str | None]:
    """Status, JSON body and Retry-After of one POST."""
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {**headers, "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), error.headers.get("Retry-After")


def kill_service_connections(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": WEB_NAME},
            ).scalar_one()
            conn.commit()
            return killed
    finally:
        engine.dispose()


def test_killed_connections_give_503s_with_retry_after_and_lose_or_double_nothing(
    database_url, launcher, program, client, books
):
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("connections are killed on PostgreSQL")
    named = url.update_query_dict({"application_name": WEB_NAME}).render_as_string(False)
    service = launcher.gunicorn(service_env(named), workers=2, threads=4)
    terminal = program.headers("BKK01")
    member = client.post(
        "/api/v1/members", json={"name": "Anong", "phone": "0834567890"}, headers=terminal
    ).get_json()
    ref = {"member_no": member["member_no"]}
    acknowledged: dict[str, int] = {}
    seen: Counter[int] = Counter()
    lock = threading.Lock()
    stop_killing = threading.Event()
    kills: list[int] = []

    def till(n: int) -> None:
        for i in range(40):
            body = receipt(f"FAULT-{n}-{i}", "25.00", ref)
            for _attempt in range(20):  # a till retries after a 503, as told
                status, answer, retry_after = post(f"{service}/api/v1/transactions", body, terminal)
                with lock:
                    seen[status] += 1
                if status == 503:
                    assert retry_after is not None, answer
                    time.sleep(min(float(retry_after), 0.2))
                    continue
                assert status in (200, 201), (status, answer)
                with lock:
                    acknowledged[body["external_id"]] = answer["id"]
                break

    def killer() -> None:
        for _round in range(3):
            time.sleep(0.4)
            kills.append(kill_service_connections(database_url))
        stop_killing.set()

    with ThreadPoolExecutor(9) as pool:
        tills = [pool.submit(till, n) for n in range(8)]
        pool.submit(killer)
        for done in tills:
            done.result()

    assert stop_killing.is_set()
    assert len(kills) == 3
    assert all(kills), kills  # each round found the service's connections to kill
    assert seen[500] == 0, seen
    assert len(acknowledged) == 8 * 40, seen
    status, _answer, _ = post(
        f"{service}/api/v1/transactions", receipt("FAULT-after", "25.00", ref), terminal
    )
    assert status == 201
    earned = books.entries("earn")
    assert len(earned) == len({cause for cause, _m, _p in earned}) == 8 * 40 + 1
    assert books.balance(member["id"]) == 8 * 40 + 1
    assert books.unbalanced() == []

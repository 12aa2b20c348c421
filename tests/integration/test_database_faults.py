"""The database failing under a stream of receipts: every connection of the running service
killed (`pg_terminate_backend`) while tills post. Clients see 503 with `Retry-After`, never a
500; the service answers again by itself; every receipt acknowledged is in the ledger once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from tests.factories import receipt
from tests.integration.servers import service_env, wait_until

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


@dataclass
class Stream:
    """Tills posting receipts while the database fails, retrying each 503 as told."""

    service: str
    headers: dict[str, str]
    member: dict[str, Any]
    acknowledged: dict[str, int] = field(default_factory=dict)
    seen: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def till(self, n: int, receipts: int = 40, attempts: int = 150) -> None:
        for i in range(receipts):
            body = receipt(f"FAULT-{n}-{i}", "25.00", {"member_no": self.member["member_no"]})
            for _attempt in range(attempts):
                status, answer, retry_after = post(
                    f"{self.service}/api/v1/transactions", body, self.headers
                )
                with self.lock:
                    self.seen[status] += 1
                if status == 503:
                    assert retry_after is not None, answer
                    time.sleep(min(float(retry_after), 0.2))
                    continue
                assert status in (200, 201), (status, answer)
                with self.lock:
                    self.acknowledged[body["external_id"]] = answer["id"]
                break

    def run(self, tills: int, disrupt: Callable[[], None]) -> None:
        with ThreadPoolExecutor(tills + 1) as pool:
            posting = [pool.submit(self.till, n) for n in range(tills)]
            pool.submit(disrupt).result()
            for done in posting:
                done.result()


def _service_url(database_url: str) -> str:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("the database fails on PostgreSQL")
    return url.update_query_dict({"application_name": WEB_NAME}).render_as_string(False)


def _member(client, program) -> dict[str, Any]:
    return client.post(
        "/api/v1/members", json={"name": "Anong", "phone": "0834567890"},
        headers=program.headers("BKK01"),
    ).get_json()  # fmt: skip


def test_killed_connections_give_503s_with_retry_after_and_lose_or_double_nothing(
    database_url, launcher, program, client, books
):
    service = launcher.gunicorn(service_env(_service_url(database_url)), workers=2, threads=4)
    stream = Stream(service, program.headers("BKK01"), _member(client, program))
    kills: list[int] = []

    def killer() -> None:
        for _round in range(3):
            time.sleep(0.4)
            kills.append(kill_service_connections(database_url))

    stream.run(8, killer)
    assert len(kills) == 3
    assert all(kills), kills  # each round found the service's connections to kill
    assert stream.seen[500] == 0, stream.seen
    assert len(stream.acknowledged) == 8 * 40, stream.seen
    ref = {"member_no": stream.member["member_no"]}
    status, _answer, _ = post(
        f"{service}/api/v1/transactions", receipt("FAULT-after", "25.00", ref), stream.headers
    )
    assert status == 201
    earned = books.entries("earn")
    assert len(earned) == len({cause for cause, _m, _p in earned}) == 8 * 40 + 1
    assert books.balance(stream.member["id"]) == 8 * 40 + 1
    assert books.unbalanced() == []


def local_cluster(database_url: str) -> list[str]:
    """`pg_ctlcluster` arguments that restart the suite's server, when it runs on this machine
    and this user may restart it; else the test is skipped, saying why."""
    url = make_url(database_url)
    if url.host not in (None, "127.0.0.1", "localhost", "::1"):
        pytest.skip(f"the suite's PostgreSQL runs on {url.host}, not here")
    if shutil.which("pg_lsclusters") is None or os.geteuid() != 0:
        pytest.skip("restarting PostgreSQL needs pg_ctlcluster and root")
    listed = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True)
    for line in listed.stdout.splitlines():
        version, name, port, *_rest = line.split()
        if int(port) == (url.port or 5432):
            return ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart"]
    pytest.skip(f"no local cluster listens on port {url.port or 5432}")


def test_a_postgresql_restart_under_a_stream_loses_or_doubles_nothing(
    database_url, launcher, program, client, books, redis_url
):
    """gunicorn and an RQ worker; PostgreSQL restarted once and every connection of the web
    service killed once while tills post: only 503s with Retry-After, the service answers
    again by itself, and every acknowledged receipt earns exactly once."""
    restart = local_cluster(database_url)
    env = service_env(_service_url(database_url), redis_url)
    service = launcher.gunicorn(env, workers=2, threads=4)
    worker = launcher.worker(env, "--relay-every", "0.5")
    stream = Stream(service, program.headers("BKK01"), _member(client, program))
    outages: list[str] = []

    def disrupt() -> None:
        time.sleep(0.3)
        done = subprocess.run([*restart, "-m", "fast"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        outages.append("restarted")
        wait_until(lambda: _answers(database_url), "PostgreSQL is back")
        time.sleep(0.3)
        outages.append(f"killed {kill_service_connections(database_url)}")

    stream.run(8, disrupt)
    assert outages[0] == "restarted", outages
    assert stream.seen[500] == 0, stream.seen
    assert stream.seen[503] > 0, stream.seen  # the outage was felt, and answered as it should
    assert len(stream.acknowledged) == 8 * 40, stream.seen
    wait_until(
        lambda: books.transactions("processed") == 8 * 40,
        "every receipt processed by the worker",
        timeout=60,
        watch=worker,
    )
    earned = books.entries("earn")
    causes = {cause for cause, _m, _p in earned}
    assert len(earned) == len(causes) == 8 * 40
    assert causes == {str(i) for i in stream.acknowledged.values()}
    assert books.balance(stream.member["id"]) == 8 * 40
    assert books.unbalanced() == []


def _answers(database_url: str) -> bool:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar_one() == 1
    except OperationalError:
        return False
    finally:
        engine.dispose()

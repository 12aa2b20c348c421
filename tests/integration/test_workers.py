"""Receipts processed by real `flask worker` and `rq worker` processes on Redis: queueing,
crashes, outages."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import create_engine, make_url, text

from loyalty.jobs import DEFAULT_QUEUE, EVENTS_QUEUE
from tests.factories import enrol, receipt
from tests.integration.servers import service_env, wait_until

WORKER_NAME = "loyalty-worker"
TOTALS = ["130.00", "99.99", "2500.00", "25.00", "10.00", "1000.50"]


def points_for(total: str) -> int:
    """The default earn rule: 1 point per 25.00, rounded down per receipt."""
    return int(Decimal(total) // 25)


def post_receipts(client, program, members: list[dict], totals: list[str], prefix: str) -> dict:
    """POST one receipt per total, members in turn; returns {transaction id: (member, total)}."""
    sent = {}
    for i, total in enumerate(totals):
        member = members[i % len(members)]
        body = receipt(f"{prefix}-{i}", total, {"member_no": member["member_no"]})
        r = client.post("/api/v1/transactions", json=body, headers=program.headers("BKK01"))
        assert r.status_code == 201, r.get_json()
        assert r.get_json()["status"] == "queued"
        assert r.get_json()["points_awarded"] == 0
        sent[r.get_json()["id"]] = (member["id"], total)
    return sent


def expected_balances(sent: dict) -> dict[int, int]:
    balances: dict[int, int] = {}
    for member_id, total in sent.values():
        balances[member_id] = balances.get(member_id, 0) + points_for(total)
    return balances


def assert_earned_once(client, program, books, sent: dict) -> None:
    """Every receipt has exactly one earn entry, and every balance is what the receipts earn."""
    causes = sorted(int(cause) for cause, _member, _points in books.entries("earn"))
    assert causes == sorted(t for t, (_m, total) in sent.items() if points_for(total) > 0)
    for member_id, points in expected_balances(sent).items():
        shown = client.get(f"/api/v1/members/{member_id}", headers=program.headers("admin"))
        assert shown.get_json()["points_balance"] == points
        assert shown.get_json()["points_pending"] == 0
    assert books.unbalanced() == []


def worker_database_url(database_url: str) -> str:
    """The worker's database URL, naming its PostgreSQL connections so a test can watch them."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        url = url.update_query_dict({"application_name": WORKER_NAME})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def worker_in_write_transaction(database_url: str) -> Iterator[Callable[[], bool]]:
    """A probe: is a worker inside a transaction that has written and not yet committed?"""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        # The test process writes nothing meanwhile, so a held write lock is the worker's.
        yield lambda: sqlite_write_lock_held(str(url.database))
        return
    engine = create_engine(database_url)
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE application_name = :name AND backend_xid IS NOT NULL"
    )

    def probe() -> bool:
        with engine.connect() as conn:
            return bool(conn.execute(query, {"name": WORKER_NAME}).scalar())

    yield probe
    engine.dispose()


def sqlite_write_lock_held(path: str) -> bool:
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return True
    else:
        conn.execute("ROLLBACK")
        return False
    finally:
        conn.close()


def test_receipts_are_queued_by_the_api_and_processed_by_a_real_worker(
    client, program, app_with_redis, redis_url, launcher, books, database_url
):
    members = [enrol(client, program) for _ in range(3)]
    queued = app_with_redis(redis_url).test_client()
    sent = post_receipts(queued, program, members, TOTALS * 2, "Q")
    # One coalesced drain job waits for a worker, and the points show as pending meanwhile.
    with Redis.from_url(redis_url) as connection:
        assert Queue(EVENTS_QUEUE, connection=connection).count == 1
    for member_id, points in expected_balances(sent).items():
        shown = client.get(f"/api/v1/members/{member_id}", headers=program.headers("admin"))
        assert shown.get_json()["points_pending"] == points
        assert shown.get_json()["points_balance"] == 0
    assert books.transactions("processed") == 0

    worker = launcher.worker(service_env(database_url, redis_url))
    wait_until(lambda: books.transactions("processed") == len(sent), "all processed", watch=worker)

    for transaction_id, (_member_id, total) in sent.items():
        shown = client.get(
            f"/api/v1/transactions/{transaction_id}", headers=program.headers("BKK01")
        )
        assert shown.get_json()["status"] == "processed"
        assert shown.get_json()["points_awarded"] == points_for(total)
    assert_earned_once(client, program, books, sent)


def test_a_plain_rq_worker_processes_receipts_posted_through_the_api(
    client, program, app_with_redis, redis_url, launcher, books, database_url
):
    members = [enrol(client, program) for _ in range(2)]
    queued = app_with_redis(redis_url).test_client()
    sent = post_receipts(queued, program, members, TOTALS, "RQ")
    assert books.transactions("processed") == 0

    env = service_env(database_url, redis_url)
    worker = launcher.rq_worker(env, EVENTS_QUEUE, DEFAULT_QUEUE)
    wait_until(lambda: books.transactions("processed") == len(sent), "all processed", watch=worker)

    assert_earned_once(client, program, books, sent)


def test_rq_cron_relays_to_a_plain_rq_worker_what_no_queued_drain_carries(
    client, program, app_with_redis, redis_url, launcher, books, database_url
):
    members = [enrol(client, program) for _ in range(2)]
    queued = app_with_redis(redis_url).test_client()
    sent = post_receipts(queued, program, members, TOTALS[:3], "LOST")
    with Redis.from_url(redis_url) as connection:
        connection.flushdb()  # the queued drain is lost, as when Redis restarts empty

    env = service_env(database_url, redis_url)
    worker = launcher.rq_worker(env, EVENTS_QUEUE, DEFAULT_QUEUE)
    cron = [sys.executable, "-m", "rq.cli", "cron", "-u", redis_url, "loyalty.cron"]
    launcher.spawn("cron", cron, env)
    wait_until(
        lambda: books.transactions("processed") == len(sent),
        "the cron's relay re-dispatches what is pending",
        timeout=40,
        watch=worker,
    )
    assert_earned_once(client, program, books, sent)


def test_a_worker_killed_mid_batch_loses_nothing_and_a_restarted_one_doubles_nothing(
    client,
    program,
    app_with_redis,
    redis_url,
    launcher,
    books,
    database_url,
    worker_in_write_transaction,
):
    batch, receipts = 8, 80
    members = [enrol(client, program) for _ in range(4)]
    queued = app_with_redis(redis_url).test_client()
    sent = post_receipts(queued, program, members, ["130.00", "99.99", "60.00", "25.00"] * 20, "K")
    assert len(sent) == receipts
    env = service_env(worker_database_url(database_url), redis_url, LOYALTY_OUTBOX_BATCH=str(batch))

    def inside_a_batch_with_more_to_come() -> bool:
        done = books.transactions("processed")
        return 0 < done <= receipts - 2 * batch and worker_in_write_transaction()

    first = launcher.worker(env, "--relay-every", "0.5")
    wait_until(
        inside_a_batch_with_more_to_come,
        "the worker is inside a batch, after committing one and before the last",
        watch=first,
        every=0.001,
    )
    first.kill()
    done_before_kill = books.transactions("processed")
    assert 0 < done_before_kill < receipts
    assert done_before_kill % batch == 0, "only whole batches are committed"

    second = launcher.worker(env, "--relay-every", "0.5")
    wait_until(
        lambda: books.transactions("processed") == receipts,
        "the restarted worker processes the rest",
        timeout=30,
        watch=second,
    )
    assert_earned_once(client, program, books, sent)


def test_receipts_arriving_while_redis_is_down_are_accepted_and_processed_once_it_is_back(
    client, program, app_with_redis, private_redis, launcher, books, database_url
):
    members = [enrol(client, program) for _ in range(2)]
    queued = app_with_redis(private_redis.url).test_client()
    # Work enqueued before the outage is lost with it: this Redis keeps nothing on disk.
    sent = post_receipts(queued, program, members, TOTALS[:3], "BEFORE")
    private_redis.stop()

    assert queued.get("/readyz").status_code == 503
    sent |= post_receipts(queued, program, members, TOTALS * 2, "DURING")
    assert books.transactions("queued") == len(sent)

    private_redis.start()
    worker = launcher.worker(service_env(database_url, private_redis.url), "--relay-every", "0.5")
    wait_until(
        lambda: books.transactions("processed") == len(sent),
        "the relay re-dispatches what is pending",
        timeout=30,
        watch=worker,
    )
    assert queued.get("/readyz").status_code == 200
    assert_earned_once(client, program, books, sent)


def test_two_workers_side_by_side_make_the_same_ledger_as_one(
    client, program, app_with_redis, redis_url, launcher, books, database_url
):
    """The same stream of receipts, once drained by one worker and once by two side by side:
    every receipt earns the same points and every balance is the same."""
    queued = app_with_redis(redis_url).test_client()
    env = service_env(database_url, redis_url)
    ledgers, total = [], 0
    for workers in (1, 2):
        members = [enrol(client, program) for _ in range(4)]
        sent = post_receipts(queued, program, members, TOTALS * 10, f"W{workers}")
        total += len(sent)
        started = [launcher.worker(env) for _ in range(workers)]
        wait_until(
            lambda total=total: books.transactions("processed") == total,
            "processed",
            watch=started[0],
        )
        till = program.headers("BKK01")
        points = [
            client.get(f"/api/v1/transactions/{t}", headers=till).get_json()["points_awarded"]
            for t in sorted(sent)
        ]
        ledgers.append((points, [books.balance(m["id"]) for m in members]))
        for worker in started:
            worker.stop()
    assert ledgers[0] == ledgers[1]
    assert books.unbalanced() == []

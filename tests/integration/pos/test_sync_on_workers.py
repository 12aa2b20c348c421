"""POS syncs and webhooks carried out by real `flask worker` processes on Redis, and the
periodic task that starts the runs that are due."""

from __future__ import annotations

from redis import Redis
from rq import Queue

from loyalty.jobs import DEFAULT_QUEUE, run_periodic
from pos_adapters.jobs import sync_run
from tests.factories import enrol
from tests.fakes.vendor import Shopper
from tests.integration.pos.conftest import CAKE, LATTE, connect, pulled, start_fake
from tests.integration.servers import service_env, wait_until


def runs(client, program, source_id: int) -> list[dict]:
    response = client.get(f"/api/v1/pos-sources/{source_id}/runs", headers=program.headers("admin"))
    return response.get_json()


def all_processed(client, program, source_id: int, count: int) -> bool:
    seen = pulled(client, program, source_id)
    return len(seen) == count and all(t["points_awarded"] > 0 for t in seen.values())


def test_a_sync_asked_through_the_api_is_carried_out_by_a_worker(
    client, program, app_with_redis, redis_url, launcher, database_url, ago
):
    vendor = start_fake("loyverse")
    try:
        member = enrol(client, program, phone="+66811112001")
        for minutes in (30, 20, 10):
            vendor.add_sale(
                vendor.stores[0], [LATTE, CAKE], ago(minutes), shopper=Shopper(phone="0811112001")
            )
        queued = app_with_redis(redis_url).test_client()
        source = connect(queued, program, vendor)
        answer = queued.post(
            f"/api/v1/pos-sources/{source['id']}/sync", json={}, headers=program.headers("admin")
        )
        assert answer.status_code == 202, answer.get_json()
        run_id = answer.get_json()["run_id"]
        assert runs(client, program, source["id"])[0]["state"] == "queued"

        worker = launcher.worker(service_env(database_url, redis_url))
        wait_until(
            lambda: all_processed(client, program, source["id"], 3),
            "pulled and earned",
            watch=worker,
        )
        run = runs(client, program, source["id"])[0]
        assert run["id"] == run_id
        assert (run["state"], run["recorded"], run["error"]) == ("finished", 3, None)
        shown = client.get(f"/api/v1/members/{member['id']}", headers=program.headers("admin"))
        earned = sum(t["points_awarded"] for t in pulled(client, program, source["id"]).values())
        assert shown.get_json()["points_balance"] == earned
    finally:
        vendor.stop()


def test_a_run_handed_to_two_workers_is_carried_out_once(
    client, program, app_with_redis, redis_url, launcher, database_url, ago
):
    vendor = start_fake("odoo")
    try:
        enrol(client, program, phone="+66811112002")
        for minutes in range(40, 0, -4):
            vendor.add_sale(vendor.stores[0], [LATTE], ago(minutes), Shopper(phone="0811112002"))
        queued = app_with_redis(redis_url).test_client()
        source = connect(queued, program, vendor)
        first = queued.post(
            f"/api/v1/pos-sources/{source['id']}/sync", json={}, headers=program.headers("admin")
        ).get_json()["run_id"]
        second = queued.post(
            f"/api/v1/pos-sources/{source['id']}/sync", json={}, headers=program.headers("admin")
        ).get_json()["run_id"]
        with Redis.from_url(redis_url) as connection:  # the same run queued twice more
            for _ in range(2):
                Queue(DEFAULT_QUEUE, connection=connection).enqueue(sync_run, first)
        env = service_env(database_url, redis_url)
        workers = [launcher.worker(env), launcher.worker(env)]
        wait_until(
            lambda: (
                {r["state"] for r in runs(client, program, source["id"])} <= {"finished", "failed"}
            ),
            "both runs ended",
            watch=workers[0],
        )
        ended = {r["id"]: r for r in runs(client, program, source["id"])}
        assert set(ended) == {first, second}
        assert sum(r["recorded"] for r in ended.values()) == 10
        for run in ended.values():
            assert run["error"] in (None, "another sync of this source is running")
        wait_until(
            lambda: all_processed(client, program, source["id"], 10), "earned", watch=workers[1]
        )
    finally:
        vendor.stop()


def test_a_webhook_is_stored_by_the_web_and_recorded_by_a_worker(
    client, program, app_with_redis, redis_url, launcher, database_url, ago
):
    vendor = start_fake("shopify")
    try:
        enrol(client, program, phone="+66811112003")
        sale = vendor.add_sale(
            vendor.stores[0], [CAKE], ago(3), shopper=Shopper(phone="+66811112003")
        )
        queued = app_with_redis(redis_url).test_client()
        source = connect(queued, program, vendor)
        hook = vendor.webhook_for([sale])
        calls = len(vendor.server.seen)
        answer = queued.post(
            f"/api/v1/pos-webhooks/{source['id']}{hook.query}", data=hook.body, headers=hook.headers
        )
        assert answer.get_json() == {"stored": True}
        assert pulled(client, program, source["id"]) == {}  # nothing recorded in the request
        assert len(vendor.server.seen) == calls  # and the vendor was not called

        worker = launcher.worker(service_env(database_url, redis_url))
        wait_until(
            lambda: all_processed(client, program, source["id"], 1), "recorded", watch=worker
        )
        assert set(pulled(client, program, source["id"])) == {sale}
    finally:
        vendor.stop()


def test_the_periodic_task_pulls_each_source_once_its_poll_interval_has_passed(
    app, client, program, ago
):
    vendor = start_fake("square")
    try:
        vendor.add_sale(vendor.stores[0], [LATTE], ago(10))
        source = connect(client, program, vendor)
        paused = connect(client, program, vendor, name="Paused", enabled=False)
        with app.app_context():
            assert run_periodic("sync_pos_sources") == {"runs": 1}
            assert run_periodic("sync_pos_sources") == {"runs": 0}  # not due for 5 minutes
        assert len(pulled(client, program, source["id"])) == 1
        assert runs(client, program, source["id"])[0]["trigger"] == "schedule"
        assert runs(client, program, paused["id"]) == []
    finally:
        vendor.stop()

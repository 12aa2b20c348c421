"""Events per second through one RQ worker with 1, 10 and 100 live campaigns.

    python -m bench.engine [--receipts 5000] [--campaigns 1,10,100] [--members 2000] …

One run: pgbench TPC-B as the yardstick; then, for each campaign count K, a fresh
`loyalty_bench_engine` database migrated with `flask db upgrade`; K transaction.recorded
campaigns (bench/campaign_mix.py) and a welcome campaign launched through the campaign
services; stores, one till each and members made through the services (the welcome campaign
applies as they enrol); R receipts recorded in-process through pos_adapters.ingestion with
Redis set, so that they wait in the outbox; then ONE `flask --app wsgi worker` is started and
timed from its start until every receipt is processed. Prints a table and writes the JSON to
bench/results/. Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import Popen
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import select

from bench import campaign_mix, cpu, engine_figures, fixtures, progress, report, scenarios, stack
from bench.yardstick import run_pgbench
from loyalty import create_app
from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.models import Terminal
from loyalty.unit_of_work import unit_of_work
from members.api import code_policy
from pos_adapters import ingestion
from pos_adapters.schemas import ReceiptSchema

OPENING_HOURS = (7, 21)  # receipts are rung up between these local hours


def campaign_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 0:  # 0: the base earning rule alone
        raise argparse.ArgumentTypeError("a comma-separated list of counts such as 1,10,100")
    return counts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__.split("\n")[0])
    p.add_argument("--receipts", type=int, default=5000, help="receipts queued per campaign count")
    p.add_argument("--campaigns", type=campaign_counts, default=[1, 10, 100], metavar="K,K,…")
    p.add_argument("--members", type=int, default=2000)
    p.add_argument("--stores", type=int, default=4, help="stores, one till each")
    p.add_argument("--days", type=int, default=7, help="receipts spread over this many past days")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--drain-timeout", type=float, default=1800, help="max wait for the worker")
    p.add_argument("--pgbench-scale", type=int, default=10)
    p.add_argument("--pgbench-clients", type=int, default=8)
    p.add_argument("--pgbench-threads", type=int, default=2)
    p.add_argument("--pgbench-duration", type=int, default=30)
    p.add_argument("--skip-pgbench", action="store_true")
    p.add_argument("--database", default="loyalty_bench_engine")
    p.add_argument("--pgbench-database", default="loyalty_bench_pgbench")
    p.add_argument("--redis-db", type=int, default=4)
    return p.parse_args(argv)


def service_config(args: argparse.Namespace) -> stack.ServiceConfig:
    """The worker's environment (no gunicorn in this benchmark)."""
    return stack.ServiceConfig(
        database=args.database,
        redis_db=args.redis_db,
        port=0,
        workers=0,
        worker_class="sync",
        threads=0,
        rq_workers=1,
        secret_key=secrets.token_urlsafe(32),
    )


def prepare(args: argparse.Namespace, config: stack.ServiceConfig, k: int) -> fixtures.Program:
    """A fresh database and Redis db; the campaigns, then stores, tills and members."""
    print(f"K={k}: preparing {args.database}: {k} campaigns, {args.members} members …", flush=True)
    stack.recreate_database(args.database)
    stack.flush_redis(args.redis_db)
    stack.migrate(config)
    url = stack.sqlalchemy_url(args.database)
    docs = campaign_mix.campaign_docs(k, fixtures.store_codes(args.stores), args.receipts)
    campaign_mix.launch(url, [campaign_mix.WELCOME, *docs])
    return fixtures.build_program(url, args.stores, args.stores, args.members, 0, 0)


def sale_time(rng: random.Random, days: int, zone: ZoneInfo, now: datetime) -> datetime:
    """A moment in opening hours on one of the last `days` days (never today: not ahead)."""
    day = now.astimezone(zone).date() - timedelta(days=rng.randint(1, days))
    opens, closes = OPENING_HOURS
    seconds = rng.randrange((closes - opens) * 3600)
    local = datetime(day.year, day.month, day.day, opens, tzinfo=zone)
    return (local + timedelta(seconds=seconds)).astimezone(UTC)


def record_receipts(
    args: argparse.Namespace, config: stack.ServiceConfig, program: fixtures.Program
) -> str:
    """R café receipts recorded as the API records them; each commit queues a drain on Redis
    (one at a time), which no worker takes yet. Returns the program's time zone."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": stack.sqlalchemy_url(args.database),
            "REDIS_URL": f"redis://{stack.REDIS}/{args.redis_db}",
            "SECRET_KEY": config.secret_key,
        }
    )
    rng, schema = random.Random(args.seed), ReceiptSchema()
    with app.app_context():
        zone, tills = ZoneInfo(app.config["TIMEZONE"]), _tills()
        for n in range(args.receipts):
            store_id, terminal_id = tills[n % len(tills)]
            shopper = rng.choice(program.shoppers)
            body = scenarios.receipt(f"E{n + 1}", shopper, rng)
            body["occurred_at"] = sale_time(rng, args.days, zone, utcnow()).isoformat()
            source = ingestion.Source(
                store_id, terminal_id, app.config["CURRENCY"], code_policy(), utcnow()
            )
            with unit_of_work():  # a receipt a commit, as the API records it
                ingestion.record_receipt(db.session, schema.load(body), source)
        db.engine.dispose()
    return str(zone)


def _tills() -> list[tuple[int, int]]:
    rows = db.session.execute(select(Terminal.store_id, Terminal.id).order_by(Terminal.id))
    return [(row.store_id, row.id) for row in rows]


def _cpu_groups(database: str, worker: Popen[bytes] | None, poller: int) -> dict[str, list[int]]:
    """The worker, the server processes of the database except the poller's, and this process."""
    return {
        "rq_worker": [worker.pid] if worker else [],
        "postgres": [pid for pid in cpu.postgres_processes(database) if pid != poller],
        "bench": [os.getpid()],
    }


def _poll(
    conn: psycopg.Connection,
    worker: Popen[bytes],
    deadline: float,
    enough: Callable[[progress.Counts], bool],
) -> progress.Counts:
    while True:
        counts = progress.counts(conn)
        if enough(counts) or time.monotonic() >= deadline:
            return counts
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}; see its log")
        time.sleep(0.1)


def run_worker(args: argparse.Namespace, config: stack.ServiceConfig, log: Path) -> dict[str, Any]:
    """Start one worker on the queued receipts; time and CPU until every one is processed.

    CPU is sampled three times: before the start, when the first batch is committed, and at
    the end, so the figures come both with and without the worker's start-up."""
    with psycopg.connect(stack.libpq_url(args.database), autocommit=True) as conn:
        poller = conn.info.backend_pid
        before = cpu.sample(_cpu_groups(args.database, None, poller))
        started, t0 = datetime.now(UTC), time.monotonic()
        with stack.running_worker(config, log) as worker:
            deadline = t0 + args.drain_timeout
            first = _poll(conn, worker, deadline, lambda c: c.processed > 0)
            first_s = time.monotonic() - t0
            at_first = cpu.sample(_cpu_groups(args.database, worker, poller))
            done = _poll(conn, worker, deadline, lambda c: c.processed == c.recorded)
            elapsed = time.monotonic() - t0
            after = cpu.sample(_cpu_groups(args.database, worker, poller))
    steady = done.processed - first.processed  # none when one batch held every receipt
    return {
        "recorded": done.recorded,
        "processed": done.processed,
        "all_processed": done.processed == done.recorded,
        "elapsed_s": round(elapsed, 2),
        "receipts_per_s": round(done.processed / elapsed, 1),
        "first_batch_s": round(first_s, 2),
        "first_batch_receipts": first.processed,
        "receipts_per_s_after_first_batch": (
            round(steady / max(elapsed - first_s, 1e-9), 1) if steady else None
        ),
        "cpu_per_receipt": cpu.breakdown(before, after, done.processed),
        "cpu_per_receipt_after_first_batch": (
            cpu.breakdown(at_first, after, steady) if steady else None
        ),
        "timeline": engine_figures.timeline(args.database, started),
    }


def run_count(args: argparse.Namespace, config: stack.ServiceConfig, k: int, stamp: str) -> dict:
    """One campaign count: prepare, queue the receipts, run the worker, read the outcome."""
    program = prepare(args, config, k)
    print(f"K={k}: recording {args.receipts} receipts in-process (queued) …", flush=True)
    queued_at = time.monotonic()
    timezone = record_receipts(args, config, program)
    recording_s = round(time.monotonic() - queued_at, 1)
    print(f"K={k}: one worker processing them …", flush=True)
    speed_before = report.python_cpu_ms()
    log = report.RESULTS / f"logs-engine-{stamp}" / f"worker-K{k}.log"
    run = run_worker(args, config, log)
    return {
        "campaigns": k,
        "recording_s": recording_s,
        **run,
        # RQ's job timeout (600 s for a drain) interrupted the drain: read that K with care
        "drain_job_timed_out": "exceeded maximum timeout" in log.read_text(),
        "python_loop_cpu_ms_before_after": [speed_before, report.python_cpu_ms()],
        "written": engine_figures.written(args.database),
        "by_campaign": engine_figures.by_campaign(args.database),
        "integrity": {
            **progress.integrity(args.database),
            **engine_figures.campaign_checks(args.database, timezone),
        },
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results: dict[str, Any] = {"started_at": stamp, "options": vars(args)}
    results["machine"] = report.machine("postgres")
    if not args.skip_pgbench:
        print("pgbench TPC-B …", flush=True)
        results["pgbench"] = run_pgbench(
            args.pgbench_database, args.pgbench_scale, args.pgbench_clients,
            args.pgbench_threads, args.pgbench_duration,
        ).as_dict()  # fmt: skip
    config = service_config(args)
    results["service"] = {"worker": " ".join(stack.worker_command()[2:]), "rq_workers": 1}
    results["runs"] = [run_count(args, config, k, stamp) for k in args.campaigns]
    print(engine_figures.table(results))
    print(f"results: {report.write_json(results, stamp, 'engine')}")
    return results


if __name__ == "__main__":
    main()

"""POS pull benchmark: --receipts sales (default 100,000) pulled from the local fake Loyverse
(`tests/fakes/loyverse.py`, served from this process) by `flask --app wsgi pos sync`, as an
operator runs it, into a fresh `loyalty_bench_pos` PostgreSQL database with base earning only
and no Redis (the command records each page and the engine processes it in the same process,
or in --workers processes in all). Timed from the command's start to its exit, with every
receipt recorded and processed; pgbench TPC-B first in the same run. Talks to 127.0.0.1 only.

    python -m bench.pos [--receipts 100000] [--customers 2000] [--workers 2]
"""

from __future__ import annotations

import argparse
import logging
import resource
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench import commands, progress, report, stack, yardstick
from bench.profile import py_spy_prefix
from loyalty import create_app
from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.unit_of_work import unit_of_work
from members.service import Enrolment, enrol_member
from pos_adapters.sources import create_source
from tests.fakes.loyverse import FakeLoyverse
from tests.fakes.vendor import Line, Shopper

TARGET_PER_S = 3000.0
STORE = "SPG"
MENU = [
    Line("CF-LATTE", "Latte", 1, Decimal("65.00"), "coffee"),
    Line("CF-AMER", "Americano", 2, Decimal("55.00"), "coffee"),
    Line("BK-CROI", "Croissant", 1, Decimal("75.00"), "bakery"),
    Line("DS-CAKE", "Cheesecake", 1, Decimal("120.00"), "dessert"),
]

COUNTS = {
    "transactions": "SELECT count(*) FROM transactions",
    "processed": "SELECT count(*) FROM transactions WHERE status = 'processed'",
    "with_member": "SELECT count(*) FROM transactions WHERE member_id IS NOT NULL",
    "earn_entries": "SELECT count(*) FROM journal_entries WHERE kind = 'earn'",
    "rejections": "SELECT count(*) FROM pos_rejections",
}


def phone(index: int) -> str:
    return f"+6688{index:07d}"


def fill_fake(fake: FakeLoyverse, receipts: int, customers: int) -> None:
    """`receipts` sales over the last days, seven in ten by one of `customers` customers."""
    start = utcnow() - timedelta(days=3)
    step = timedelta(days=2) / receipts
    for i in range(receipts):
        lines = [MENU[i % 4], MENU[(i * 7 + 1) % 4]] if i % 3 else [MENU[i % 4]]
        shopper = Shopper(phone=phone(i % customers)) if i % 10 < 7 else None
        fake.add_sale(fake.stores[0], lines, start + i * step, shopper=shopper)


def prepare(env: dict[str, str], fake: FakeLoyverse, customers: int) -> int:
    """The members behind the fake's customers, and the source; returns the source's id."""
    commands.flask(env, "db", "upgrade")
    commands.flask(env, "stores", "create", STORE, "Siam Paragon")
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": env["LOYALTY_DATABASE_URL"],
            "SECRET_KEY": env["LOYALTY_SECRET_KEY"],
            "REDIS_URL": None,
        }
    )
    with app.app_context():
        with unit_of_work():
            for i in range(customers):
                enrol_member(db.session, Enrolment(name=f"Bench Member {i}", phone=phone(i)))
        with unit_of_work():
            source = create_source(
                db.session,
                {
                    "kind": "loyverse",
                    "name": "Loyverse bench",
                    "base_url": fake.url,
                    "credentials": fake.credentials,
                    "stores": {fake.stores[0]: STORE},
                },
                app.config["SECRET_KEY"],
            )
            source_id = source.id
        db.engine.dispose()
    return source_id


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(args: argparse.Namespace) -> dict[str, Any]:
    pgbench = None if args.skip_pgbench else yardstick.pgbench_tpcb()
    stack.recreate_database(args.database)
    env = commands.environment(args.database)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    fake = FakeLoyverse()
    try:
        loading = time.perf_counter()
        fill_fake(fake, args.receipts, args.customers)
        loading = time.perf_counter() - loading
        source_id = prepare(env, fake, args.customers)
        fake_cpu = _own_cpu_s()
        sync = ["pos", "sync", "--source", str(source_id), "--workers", str(args.workers)]
        prefix = py_spy_prefix(args.profile) if args.profile else ()
        figures = commands.timed_flask(env, *sync, timeout=3 * 3600, prefix=prefix)
        fake_cpu = _own_cpu_s() - fake_cpu
    finally:
        fake.stop()
    figures["summary"] = figures.pop("output")[-1:]
    counts = progress.count_rows(args.database, COUNTS)
    receipts = args.receipts
    return {
        "options": vars(args),
        "machine": report.machine(args.database),
        "pgbench": pgbench,
        "receipts": receipts,
        "fake_loading_s": round(loading, 1),
        **figures,
        "receipts_per_s": round(receipts / figures["seconds"], 1),
        "cpu_ms_per_receipt": {
            "sync_processes": round(1000 * figures["command_cpu_s"] / receipts, 3),
            "fake_vendor": round(1000 * fake_cpu / receipts, 3),
            "postgresql_and_rest": round(
                1000 * (figures["rest_of_machine_cpu_s"] - fake_cpu) / receipts, 3
            ),
        },
        "counts": counts,
        "integrity": progress.integrity(args.database),
        "target_per_s": TARGET_PER_S,
    }


def table(results: dict[str, Any]) -> str:
    per = results["cpu_ms_per_receipt"]
    bad = {k: v for k, v in results["integrity"].items() if v}
    pgbench = results["pgbench"]["tps"] if results["pgbench"] else "skipped"
    return "\n".join(
        [
            f"POS pull (fake Loyverse): {results['receipts']} receipts in {results['seconds']} s "
            f"= {results['receipts_per_s']}/s (target ≥ {results['target_per_s']:.0f}/s)",
            f"  CPU ms per receipt: sync processes {per['sync_processes']}, fake vendor "
            f"{per['fake_vendor']}, PostgreSQL and the rest {per['postgresql_and_rest']}; "
            f"machine busy {results['machine_busy_pct']}%",
            f"  {' / '.join(results['summary'])}",
            f"  counts: {results['counts']}",
            f"  pgbench TPC-B in the same run: {pgbench} tps",
            f"  integrity: {bad or 'ok'}",
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pos", description=__doc__)
    parser.add_argument("--database", default="loyalty_bench_pos")
    parser.add_argument("--receipts", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=1, help="processes of the sync command")
    parser.add_argument("--skip-pgbench", action="store_true", help="no yardstick run")
    parser.add_argument(
        "--profile", type=Path, help="py-spy the sync command into this folded-stacks file"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    results = run(args)
    print(table(results))
    print(f"results: {report.write_json(results, stamp, 'pos')}")
    return results


if __name__ == "__main__":
    main()

"""`python -m bench.analytics`: the program report on a large synthetic program.

1,000,000 members and 10,000,000 receipts made by SQL (bench/profile_data.py) with their ledger
(bench/analytics_data.py) in a fresh database migrated by `flask db upgrade`; then
`GET /api/v1/analytics/program` is asked, as a marketer, for a 12-week window and for two
years, whole and for one store, `--requests` times each after one untimed request; p50 and
p95 per case. The rollups are counted first (`flask analytics roll-up --rebuild`, timed), or
brought up to date on a kept program; pgbench TPC-B before all, in the same run. Writes
bench/results/analytics-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bench import analytics_data, commands, profile_data, profile_refresh, report, stack, yardstick

TARGETS_MS = {"12 weeks": 300, "2 years": 1000}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.analytics", description=__doc__.split("\n")[0]
    )
    p.add_argument("--members", type=int, default=1_000_000)
    p.add_argument("--transactions", type=int, default=10_000_000)
    p.add_argument("--requests", type=int, default=20, help="requests per case")
    p.add_argument("--database", default="loyalty_bench_analytics")
    p.add_argument("--keep-data", action="store_true", help="reuse a program of this size")
    p.add_argument("--skip-pgbench", action="store_true")
    return p.parse_args(argv)


def prepare(args: argparse.Namespace, env: dict[str, str], today: Any) -> dict[str, Any]:
    url = stack.libpq_url(args.database)
    if args.keep_data and profile_data.made_before(url, args.members):
        commands.flask(env, "db", "upgrade")
        made: dict[str, Any] = {"kept": True}
    else:
        stack.recreate_database(args.database)
        commands.flask(env, "db", "upgrade")
        profile_refresh._program(env)
        made = {"program": profile_data.generate(url, args.members, args.transactions, today)}
        made["ledger"] = analytics_data.generate(url)
    return {**made, "rollups": roll_up(env, rebuild=not made.get("kept"))}


def roll_up(env: dict[str, str], rebuild: bool) -> dict[str, Any]:
    """`flask analytics roll-up [--rebuild]`, timed: a kept program's rollups brought up to
    date (counted whole when they are missing), a new one's counted from the whole ledger."""
    started, cpu = time.perf_counter(), os.times()
    options = ["--rebuild"] if rebuild else []
    printed = commands.flask(env, "analytics", "roll-up", *options, timeout=7200)
    after = os.times()
    seconds = time.perf_counter() - started
    print(f"rollups up to date in {seconds:.0f} s: {printed.strip().splitlines()[-1]}", flush=True)
    return {
        "seconds": round(seconds, 1),
        "command_cpu_s": round(
            after.children_user + after.children_system - cpu.children_user - cpu.children_system, 1
        ),
        "printed": printed.strip().splitlines()[-1],
    }


def cases(today: Any) -> dict[str, dict[str, str]]:
    weeks, years = today - timedelta(weeks=12), today - timedelta(days=730)
    store = profile_data.STORES[0]
    return {
        "12 weeks": {"from": weeks.isoformat(), "to": today.isoformat()},
        "12 weeks, one store": {"from": weeks.isoformat(), "to": today.isoformat(), "store": store},
        "2 years": {"from": years.isoformat(), "to": today.isoformat()},
        "2 years, one store": {"from": years.isoformat(), "to": today.isoformat(), "store": store},
    }


def measure(env: dict[str, str], asked: dict[str, dict[str, str]], n: int) -> dict[str, Any]:
    os.environ.update(env)
    from loyalty import create_app, staff
    from loyalty.auth import sign_token
    from loyalty.extensions import db
    from loyalty.unit_of_work import unit_of_work

    app = create_app()
    with app.app_context():
        with unit_of_work():
            user = staff.create_user(
                db.session, f"analyst-{time.time_ns()}@bench.th", "marketer", "bench-pass-123", None
            )
            headers = {"Authorization": f"Bearer {sign_token('staff', {'u': user.id})}"}
        client, found = app.test_client(), {}
        for name, query in asked.items():
            times = []
            client.get("/api/v1/analytics/program", query_string=query, headers=headers)  # warm
            for _ in range(n):
                started = time.perf_counter()
                got = client.get("/api/v1/analytics/program", query_string=query, headers=headers)
                times.append(1000 * (time.perf_counter() - started))
                assert got.status_code == 200, got.get_json()
            times.sort()
            found[name] = {
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[max(0, round(0.95 * len(times)) - 1)], 1),
                "max_ms": round(times[-1], 1),
            }
        db.engine.dispose()
    return found


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    pgbench = None if args.skip_pgbench else yardstick.pgbench_tpcb()
    env = commands.environment(args.database)
    today = datetime.now(ZoneInfo(profile_data.TIMEZONE)).date()
    print(f"preparing {args.members:,} members and {args.transactions:,} receipts …", flush=True)
    data = prepare(args, env, today)
    print(f"asking for the report, {args.requests} times a case …", flush=True)
    figures = measure(env, cases(today), args.requests)
    results = {
        "options": vars(args),
        "machine": report.machine(args.database),
        "pgbench": pgbench,
        "data": data,
        "report": figures,
        "targets_p95_ms": TARGETS_MS,
    }
    if pgbench:
        print(f"pgbench TPC-B (yardstick): {pgbench['tps']:.0f} tps")
    for name, f in figures.items():
        target = next(ms for key, ms in TARGETS_MS.items() if name.startswith(key))
        print(f"  {name:22} p50 {f['p50_ms']:8.1f} ms  p95 {f['p95_ms']:8.1f} ms  (≤ {target})")
    print(f"results: {report.write_json(results, stamp, 'analytics')}")
    return results


if __name__ == "__main__":
    main()

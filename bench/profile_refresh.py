"""`python -m bench.profiles refresh`: the profile jobs on a large synthetic program.

The program is made by SQL (bench/profile_data.py) in a fresh database migrated by
`flask db upgrade`, with four stores and a three-tier ladder; then the jobs run as an operator
runs them, each a `flask --app wsgi …` process timed from start to exit, in the order a new
program meets them: the first RFM refresh (every row inserted), the CLV fit, six segments
created (each evaluated at once, through the service the API uses), a segment refresh, then
the daily case: a second RFM refresh (every row updated) and another segment refresh.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bench import commands, profile_data, report, stack, yardstick

REFRESH_TARGET_S = 60.0
LADDER = {
    "basis": "spend",
    "window": {"type": "rolling", "months": 12},
    "downgrade": "period_end",
    "tiers": [
        {"code": "member", "name": "Member", "threshold": "0", "multiplier": "1.0"},
        {"code": "silver", "name": "Silver", "threshold": "5000.00", "multiplier": "1.25"},
        {"code": "gold", "name": "Gold", "threshold": "20000.00", "multiplier": "1.5"},
    ],
}


def segments(month: int) -> dict[str, dict[str, Any]]:
    """Six segments a marketer would make, over every kind of fact."""
    return {
        "Champions and loyal": {"fact": "rfm_segment", "op": "in", "value": ["Champions", "Loyal"]},
        "Big spenders at risk": {
            "all": [
                {"fact": "rfm_segment", "op": "in", "value": ["At risk", "Cannot lose them"]},
                {"fact": "spend", "op": "gte", "value": "3000.00"},
            ]
        },
        "Coffee lovers to email": {
            "all": [
                {"fact": "category", "op": "contains", "value": "coffee"},
                {"fact": "consent", "op": "contains", "value": "marketing_email"},
                {"fact": "recency_days", "op": "lte", "value": 90},
            ]
        },
        "Tier birthdays this month": {
            "all": [
                {"fact": "tier", "op": "in", "value": ["silver", "gold"]},
                {"fact": "birthday_month", "op": "eq", "value": month},
            ]
        },
        "High lifetime value": {"fact": "clv_value_365", "op": "gte", "value": "1000.00"},
        "Lapsed VIPs at Siam Paragon": {
            "all": [
                {"fact": "tags", "op": "contains", "value": "vip"},
                {"fact": "store", "op": "contains", "value": "SPG"},
                {"fact": "recency_days", "op": "gte", "value": 120},
            ]
        },
    }


def _program(env: dict[str, str]) -> None:
    """The stores and the tier ladder, through the product."""
    for code in profile_data.STORES:
        commands.flask(env, "stores", "create", code, code)
    with _app(env) as (session, _app_obj):
        from loyalty.unit_of_work import unit_of_work
        from members.tiers.service import set_policy

        with unit_of_work(session):
            set_policy(session, LADDER, "bench")


class _app:
    """The service's app on the bench database, for what has no command (segments)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __enter__(self):
        os.environ.update(self.env)
        from loyalty import create_app
        from loyalty.extensions import db

        self.app = create_app()
        self.context = self.app.app_context()
        self.context.push()
        return db.session, self.app

    def __exit__(self, *_exc: object) -> None:
        from loyalty.extensions import db

        db.session.remove()
        db.engine.dispose()
        self.context.pop()


def create_segments(env: dict[str, str], month: int) -> dict[str, Any]:
    """The six segments through `members.segments.service.create_segment`, each timed."""
    from loyalty.db import utcnow
    from loyalty.unit_of_work import unit_of_work
    from members.segments import service

    made = {}
    with _app(env) as (session, app):
        for name, rule in segments(month).items():
            started = time.perf_counter()
            with unit_of_work(session):  # each segment committed, as the API would
                segment = service.create_segment(
                    session, name, rule, "bench", utcnow(), app.config["TIMEZONE"]
                )
            made[name] = {"seconds": round(time.perf_counter() - started, 1), "size": segment.size}
    return made


def run_refresh(args: argparse.Namespace) -> dict[str, Any]:
    pgbench = None if args.skip_pgbench else yardstick.pgbench_tpcb()
    env = commands.environment(args.database)
    now = datetime.now(ZoneInfo(profile_data.TIMEZONE))
    today = now.date().isoformat()
    if args.keep_data and profile_data.made_before(stack.libpq_url(args.database), args.members):
        data = profile_data.reset_scores(stack.libpq_url(args.database))
    else:
        stack.recreate_database(args.database)
        commands.flask(env, "db", "upgrade")
        _program(env)
        data = profile_data.generate(
            stack.libpq_url(args.database), args.members, args.transactions, now.date()
        )
    steps = {
        "rfm_first": commands.timed_flask(env, "profiles", "refresh", "--as-of", today),
        "clv_fit": commands.timed_flask(env, "clv", "fit", "--as-of", today),
    }
    made = create_segments(env, now.month)
    steps["segments_first"] = commands.timed_flask(env, "segments", "refresh")
    steps["rfm_daily"] = commands.timed_flask(env, "profiles", "refresh", "--as-of", today)
    steps["segments_daily"] = commands.timed_flask(env, "segments", "refresh")
    return {
        "part": "refresh",
        "options": vars(args) | {"run": None},
        "machine": report.machine(args.database),
        "pgbench": pgbench,
        "data": data,
        "steps": steps,
        "segments_created": made,
        "refresh_first_s": round(
            steps["rfm_first"]["seconds"] + steps["segments_first"]["seconds"], 1
        ),
        "refresh_daily_s": round(
            steps["rfm_daily"]["seconds"] + steps["segments_daily"]["seconds"], 1
        ),
        "target_s": REFRESH_TARGET_S,
    }


def refresh_table(results: dict[str, Any]) -> str:
    steps, data = results["steps"], results["data"]
    lines = [
        f"Synthetic program: {data['counts']} (made in {data['seconds']} s)",
        f"pgbench TPC-B: {results['pgbench']['tps'] if results['pgbench'] else 'skipped'} tps",
    ]
    for name, step in steps.items():
        lines.append(
            f"  {name:15} {step['seconds']:7.1f} s  command CPU {step['command_cpu_s']} s, rest "
            f"{step['rest_of_machine_cpu_s']} s, busy {step['machine_busy_pct']}%  "
            f"{' / '.join(step['output'][-2:])}"
        )
    for name, made in results["segments_created"].items():
        lines.append(f"  segment {name!r}: {made['size']} members, created in {made['seconds']} s")
    lines.append(
        f"RFM + segment refresh: first {results['refresh_first_s']} s, daily "
        f"{results['refresh_daily_s']} s (target ≤ {results['target_s']:.0f} s)"
    )
    return "\n".join(lines)

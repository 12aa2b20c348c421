"""Periodic jobs for `rq cron loyalty.cron`: the outbox relay, message sending, daily tasks.

Each job runs on the queue, with the timeout and TTLs, that its function declares
(`loyalty.jobs.job`); here is only when it runs, and a longer timeout for the periodic tasks
that need one. Cron lines are in UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rq import cron as rq_cron

from loyalty.jobs import options_of, relay_outbox, run_periodic


@dataclass(frozen=True)
class Periodic:
    """When a task registered with `register_periodic` runs: every `interval` seconds or by a
    `cron` line; `timeout` (s) where it may run longer than `run_periodic` declares."""

    interval: int | None = None
    cron: str | None = None
    timeout: int | None = None


PERIODIC: dict[str, Periodic] = {
    # Due messages go out every 15 s; a run stops taking new batches after a minute.
    "send_messages": Periodic(interval=15, timeout=600),
    # Hourly: the task works out the program's day itself and runs each day once, so the
    # day's events go out within the hour after midnight in any time zone.
    "daily_events": Periodic(cron="10 * * * *"),
    # Hourly: tier reviews fall due at midnight in the program's time zone, whichever it is.
    "review_tiers": Periodic(cron="25 * * * *", timeout=900),
    # Segments hourly (their rules read recency, tags and consents, which change through the day).
    "refresh_segments": Periodic(cron="50 * * * *", timeout=1800),
    "expire_points": Periodic(cron="5 17 * * *"),
    # Analytics rollups: each run adds what was noted on the run before (docs/ANALYTICS.md).
    "roll_up_analytics": Periodic(interval=15, timeout=900),
    # Every minute: a pull of each POS source whose `poll_minutes` have passed, one per worker.
    "sync_pos_sources": Periodic(interval=60),
    # Profile scores daily at 00:20 in Bangkok; the lifetime value model refitted every Sunday.
    "refresh_profiles": Periodic(cron="20 17 * * *", timeout=1800),
    "fit_clv": Periodic(cron="40 17 * * 0", timeout=1800),
}


def schedule(
    fn: Callable[..., Any], *args: Any, name: str = "", timeout: int | None = None, **when: Any
) -> None:
    """Register `fn(*args)` with `rq cron` on the queue, with the timeout and TTLs, that it
    declares (`timeout` overrides the declared one); `when` is interval= or cron=."""
    options = options_of(fn)
    if options.retry is not None:
        raise ValueError(f"rq cron cannot retry {fn.__name__}; schedule a job without retry")
    rq_cron.register(fn, options.queue, args=args, name=name, **options.rq_options(timeout), **when)


schedule(relay_outbox, interval=10)
for task, periodic in PERIODIC.items():
    schedule(
        run_periodic,
        task,
        name=f"periodic:{task}",
        timeout=periodic.timeout,
        interval=periodic.interval,
        cron=periodic.cron,
    )

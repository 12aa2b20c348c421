"""The analytics roll-up as a periodic job (`rq cron loyalty.cron`, every 15 seconds)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

from loyalty.db import utcnow
from loyalty.settings import get_setting
from loyalty.unit_of_work import AnySession, unit_of_work
from rewards.analytics import rollups


def roll_up(session: AnySession, timezone: str, lag: timedelta = rollups.LAG) -> dict[str, int]:
    """Add to the rollups what they do not hold yet, a unit of work per run of ids, until
    nothing more is due; returns the runs' totals."""
    total = {"entries": 0, "sales": 0, "members": 0}
    while True:
        with unit_of_work(session):
            days = int(get_setting(session, "active_days")["days"])
            got = rollups.roll_up(session, ZoneInfo(timezone), days, utcnow(), lag)
        for key in total:
            total[key] += got[key]
        if not got["more"]:
            return total


def rebuild(
    session: AnySession, timezone: str, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Count the rollups again from the ledger, receipts and members, in one unit of work."""
    with unit_of_work(session):
        days = int(get_setting(session, "active_days")["days"])
        return rollups.rebuild(session, ZoneInfo(timezone), days, utcnow(), progress)

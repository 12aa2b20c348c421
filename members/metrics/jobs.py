"""The periodic tasks of profile metrics ("refresh_profiles", "fit_clv"), each one unit of
work."""

from __future__ import annotations

import logging

from loyalty.db import utcnow
from loyalty.unit_of_work import AnySession, unit_of_work
from members.metrics import clv, clv_fit, service
from members.metrics.activity import program_day
from members.models import ClvModel

log = logging.getLogger(__name__)


def refresh_today(session: AnySession, timezone: str) -> int:
    """Refresh every member's profile scores as of today in the program's time zone."""
    now = utcnow()
    with unit_of_work(session):
        return service.refresh_profiles(session, program_day(now, timezone), now)


def fit_today(session: AnySession, timezone: str) -> ClvModel | None:
    """Fit on all history up to today in the program's time zone.

    Returns None, fitting nothing, while no member has bought on two different days.
    """
    now = utcnow()
    try:
        with unit_of_work(session):
            return clv_fit.fit_clv(session, program_day(now, timezone), None, now)
    except clv.NotEnoughHistory as exc:
        log.info("No lifetime value model fitted: %s", exc)
        return None

"""Program settings: business parameters stored in the database, with defaults."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from loyalty.db import transaction_of
from loyalty.models import ProgramSetting

DEFAULTS: dict[str, Any] = {
    # What one point costs the program, for campaign cost figures (0.25 THB).
    "point_value": {"amount_minor": 25},
    # A member is active with a purchase in this many days (program analytics).
    "active_days": {"days": 90},
    # The share of outstanding points expected never to be used, for the liability, until
    # lots have closed and the program's own breakage rate can stand in for it.
    "expected_breakage": {"share": "0"},
    # The share of extra sales that is profit, for a campaign's incremental return.
    "margin": {"share": "0.30"},
    # Points expire at the end of the 24th month after the month they were earned in.
    "points_expiry": {"months": 24},
}


CACHE = "loyalty.settings"


def get_setting(session: Session, key: str) -> Any:
    """A setting as of the session's current transaction, read once per transaction (the
    engine's batch reads it once, not once per receipt)."""
    held = session.info.get(CACHE)
    if held is not None and held[0] is transaction_of(session) and key in held[1]:
        return held[1][key]
    row = session.get(ProgramSetting, key)
    value = row.value if row is not None else DEFAULTS[key]
    _remember(session, key, value)
    return value


def _remember(session: Session, key: str, value: Any) -> None:
    transaction = transaction_of(session)
    if transaction is None:  # nothing was read from the database: nothing to keep
        return
    held = session.info.get(CACHE)
    if held is None or held[0] is not transaction:
        held = session.info[CACHE] = (transaction, {})
    held[1][key] = value


def put_setting(session: Session, key: str, value: Any) -> None:
    """Change a setting in the caller's transaction."""
    if key not in DEFAULTS:
        raise KeyError(key)
    row = session.get(ProgramSetting, key)
    if row is None:
        session.add(ProgramSetting(key=key, value=value))
    else:
        row.value = value
    _remember(session, key, value)

"""Program settings: business parameters stored in the database, with defaults."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from loyalty.models import ProgramSetting

DEFAULTS: dict[str, Any] = {
    # 1 point per 25.00 of the receipt total, rounded down per receipt.
    "earn_rate": {"points": 1, "amount_minor": 2500},
    # Points expire at the end of the 24th month after the month they were earned in.
    "points_expiry": {"months": 24},
}


def get_setting(session: Session, key: str) -> Any:
    row = session.get(ProgramSetting, key)
    return row.value if row is not None else DEFAULTS[key]


def put_setting(session: Session, key: str, value: Any) -> None:
    """Change a setting in the caller's transaction."""
    if key not in DEFAULTS:
        raise KeyError(key)
    row = session.get(ProgramSetting, key)
    if row is None:
        session.add(ProgramSetting(key=key, value=value))
    else:
        row.value = value

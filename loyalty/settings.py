"""Program settings: business parameters stored in the database, with defaults."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, SessionTransaction, scoped_session

from loyalty.models import ProgramSetting

DEFAULTS: dict[str, Any] = {
    # 1 point per 25.00 of the receipt total, rounded down per receipt.
    "earn_rate": {"points": 1, "amount_minor": 2500},
    # Points expire at the end of the 24th month after the month they were earned in.
    "points_expiry": {"months": 24},
}


CACHE = "loyalty.settings"


def get_setting(session: Session, key: str) -> Any:
    """A setting as of the session's current transaction, read once per transaction (the
    engine's batch reads it once, not once per receipt)."""
    held = session.info.get(CACHE)
    if held is not None and held[0] is _transaction(session) and key in held[1]:
        return held[1][key]
    row = session.get(ProgramSetting, key)
    value = row.value if row is not None else DEFAULTS[key]
    _remember(session, key, value)
    return value


def _transaction(session: Session | scoped_session[Session]) -> SessionTransaction | None:
    real = session() if isinstance(session, scoped_session) else session
    return real.get_transaction()


def _remember(session: Session, key: str, value: Any) -> None:
    transaction = _transaction(session)
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

"""Shopper sign-in by a one-time code sent to the member's phone or email."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.errors import RateLimited, Unauthorized
from loyalty.messages import queue_message
from loyalty.unit_of_work import keep_on_failure
from members.models import Member, OneTimeCode

MAX_TRIES = 5


def _hash(destination: str, code: str, pepper: bytes) -> str:
    return hmac.new(pepper, f"{destination}:{code}".encode(), hashlib.sha256).hexdigest()


def _member_for(session: Session, destination: str) -> Member | None:
    column = Member.email if "@" in destination else Member.phone
    member = session.scalar(select(Member).where(column == destination))
    return member if member is not None and member.status == "active" else None


def request_code(
    session: Session, destination: str, pepper: bytes, ttl: int, now: datetime
) -> None:
    """Send a six-digit code when a member has this phone/email; say nothing either way."""
    member = _member_for(session, destination)
    if member is None:
        return
    code = f"{secrets.randbelow(10**6):06d}"
    session.add(
        OneTimeCode(
            destination=destination,
            member_id=member.id,
            code_hash=_hash(destination, code, pepper),
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    channel = "email" if "@" in destination else "sms"
    text = f"Your sign-in code is {code}. It expires in {ttl // 60} minutes."
    queue_message(session, channel, destination, text, subject="Your sign-in code")
    session.flush()


def verify_code(session: Session, destination: str, code: str, pepper: bytes, now: datetime) -> int:
    """The member id for a right code.

    Unauthorized if wrong or expired; RateLimited after five wrong tries.
    """
    stmt = (
        select(OneTimeCode)
        .where(OneTimeCode.destination == destination, OneTimeCode.used_at.is_(None))
        .order_by(OneTimeCode.id.desc())
        .limit(1)
    )
    record = session.scalar(stmt)
    if record is None or record.expires_at <= now:
        raise Unauthorized("The code is wrong or has expired.")
    if record.attempts >= MAX_TRIES:
        raise RateLimited("Too many tries; ask for a new code.")
    if not hmac.compare_digest(record.code_hash, _hash(destination, code, pepper)):
        keep_on_failure(session, partial(_count_wrong_try, record.id))  # the request fails
        raise Unauthorized("The code is wrong or has expired.")
    record.used_at = now
    session.flush()
    assert record.member_id is not None
    return record.member_id


def _count_wrong_try(code_id: int, session: Session) -> None:
    session.execute(
        update(OneTimeCode)
        .where(OneTimeCode.id == code_id)
        .values(attempts=OneTimeCode.attempts + 1)
    )

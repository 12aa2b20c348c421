"""Messages to people: the message outbox, and sending what is due through the senders.

With no sender configured for a channel its messages stay queued, where `messages list`
shows them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from loyalty.db import is_postgres, utcnow
from loyalty.models import OutgoingMessage
from loyalty.senders import Outgoing, Sender

MAX_ATTEMPTS = 5
# A claimed message is not due again before its lease ends; a sender that died mid-send
# leaves it to be sent again then (delivery is at least once).
LEASE = timedelta(minutes=5)
CLAIM_SIZE = 20
log = logging.getLogger(__name__)


def queue_message(
    session: Session, channel: str, recipient: str, body: str, subject: str | None = None
) -> OutgoingMessage:
    """Add a message in the caller's transaction; due at once (no cap, no quiet hours)."""
    message = OutgoingMessage(channel=channel, recipient=recipient, subject=subject, body=body)
    session.add(message)
    return message


def list_messages(
    session: Session, recipient: str | None = None, limit: int = 50
) -> list[OutgoingMessage]:
    stmt = select(OutgoingMessage).order_by(OutgoingMessage.id.desc()).limit(limit)
    if recipient:
        stmt = stmt.where(OutgoingMessage.recipient == recipient)
    return list(session.scalars(stmt))


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4, 8 minutes after the 1st to 4th failed attempt."""
    return timedelta(minutes=2 ** (attempts - 1))


def _detached(message: OutgoingMessage) -> Outgoing:
    # Emails made from a template are HTML (escaped when rendered); one-time codes are text.
    html = message.channel == "email" and message.template is not None
    return Outgoing(
        message.id, message.channel, message.recipient, message.subject, message.body, html
    )


def claim_due(session: Session, channels: list[str], now: datetime, size: int) -> list[Outgoing]:
    """Take due messages, leasing them so no other run takes them (the caller commits the
    lease at once, in a short unit of work)."""
    stmt = (
        select(OutgoingMessage)
        .where(
            OutgoingMessage.status == "queued",
            OutgoingMessage.channel.in_(channels),
            or_(OutgoingMessage.send_after.is_(None), OutgoingMessage.send_after <= now),
        )
        .order_by(OutgoingMessage.id)
        .limit(size)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.scalars(stmt))
    for row in rows:
        row.send_after = now + LEASE
    return [_detached(row) for row in rows]


def record_delivery(session: Session, message_id: int, error: str | None, now: datetime) -> str:
    """Mark a message sent, or count a failed attempt: retried later, failed after the 5th."""
    row = session.get(OutgoingMessage, message_id, populate_existing=True)
    assert row is not None
    if error is None:
        row.status, row.sent_at, row.last_error = "sent", utcnow(), None
    else:
        row.attempts += 1
        row.last_error = error[:2000]
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
        else:
            row.send_after = now + retry_delay(row.attempts)
    return {"sent": "sent", "failed": "failed"}.get(row.status, "retrying")


def deliver(sender: Sender, message: Outgoing) -> str | None:
    """Hand a message to its sender, outside any transaction; the error, if it failed."""
    try:
        sender.send(message)
    except Exception as exc:  # one provider failure must not stop the rest of the run
        log.warning("message %s (%s) not sent: %s", message.id, message.channel, exc)
        return str(exc) or repr(exc)
    return None

"""Messages to people: written to the message outbox, where `messages list` shows them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.models import OutgoingMessage


def queue_message(
    session: Session, channel: str, recipient: str, body: str, subject: str | None = None
) -> OutgoingMessage:
    """Add a message in the caller's transaction. With no provider configured it stays here."""
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

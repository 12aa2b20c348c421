"""Vendor webhooks: a delivery is verified by the vendor's own scheme over the raw body and
stored in the inbox (once per vendor event id) in the request's unit of work; a worker then
records its receipts, fetching them from the vendor when the delivery carries only ids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.db import dialect_insert, utcnow
from loyalty.errors import DomainError, Unauthorized
from loyalty.outbox import emit
from pos_adapters.models import PosInbox
from pos_adapters.recording import record_vendor_receipts
from pos_adapters.sources import get_source
from pos_adapters.sync import SyncSettings, client_for, target_for

TOPIC = "pos.webhook.received"
KEPT_HEADERS = ("content-type", "x-shopify-topic", "x-shopify-event-id", "x-shopify-webhook-id")


class UnreadableWebhook(DomainError):
    slug, title = "unreadable-webhook", "Not a webhook body of this vendor"


def receive(
    session: Session,
    source_id: int,
    headers: Mapping[str, str],
    body: bytes,
    query: Mapping[str, str],
    settings: SyncSettings,
) -> bool:
    """Verify and store a delivery; whether it was new (a redelivered event is stored once).
    A missing or wrong signature raises Unauthorized and stores nothing."""
    source = get_source(session, source_id)
    client = client_for(source, settings)
    if not source.webhook_secret or not client.verify_webhook(headers, body, query):
        raise Unauthorized("The webhook signature is missing or wrong.")
    try:
        event_id = client.webhook_id(headers, body)
    except ValueError as exc:
        raise UnreadableWebhook(str(exc)[:300]) from exc
    if not source.enabled:
        return False  # a disabled source takes nothing in
    kept = {name: headers[name] for name in KEPT_HEADERS if name in headers}
    inbox_id = session.scalar(
        dialect_insert(session, PosInbox.__table__)
        .values(
            source_id=source_id,
            event_id=event_id,
            headers=kept,
            body=body.decode("utf-8", "replace"),
            received_at=utcnow(),
        )
        .on_conflict_do_nothing()
        .returning(PosInbox.__table__.c.id)
    )
    if inbox_id is None:
        return False
    emit(session, TOPIC, {"inbox_id": inbox_id})
    return True


def process(session: Session, inbox_id: int, settings: SyncSettings) -> None:
    """Record the receipts of a stored delivery (an outbox handler: a vendor failure raises,
    and the outbox tries again later)."""
    item = session.scalar(
        select(PosInbox).where(PosInbox.id == inbox_id, PosInbox.processed_at.is_(None))
    )
    if item is None:
        return
    source = get_source(session, item.source_id)
    client = client_for(source, settings)
    event = client.read_webhook(item.headers, item.body.encode())
    receipts = list(event.receipts)
    if event.receipt_ids:
        receipts += client.fetch_receipts(event.receipt_ids)
    target = target_for(session, source, settings, client)
    counts = record_vendor_receipts(session, target, receipts, inbox_id=item.id)
    session.execute(
        update(PosInbox)
        .where(PosInbox.id == item.id)
        .values(processed_at=utcnow(), recorded=counts.recorded, rejected=counts.rejected)
    )


def handlers(settings_of: Any) -> dict[str, Any]:
    """The outbox handler of stored deliveries; `settings_of()` gives the SyncSettings."""
    return {TOPIC: lambda session, payload: process(session, payload["inbox_id"], settings_of())}

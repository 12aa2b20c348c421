"""Sending the due messages (the periodic task "send_messages" and `flask messages send`):
each batch is claimed in a short unit of work, sent outside any transaction, and each
message's outcome is committed on its own, so no lock is held while a provider answers."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from loyalty.db import utcnow
from loyalty.messages import CLAIM_SIZE, claim_due, deliver, record_delivery
from loyalty.senders import Sender, senders_from_config
from loyalty.unit_of_work import AnySession, unit_of_work

RUN_SECONDS = 60.0  # how long one periodic run keeps sending before it leaves the rest


def send_due(
    session: AnySession, senders: Mapping[str, Sender], now: datetime, limit: int
) -> Counter[str]:
    """Send up to `limit` due messages on the channels that have a sender (on PostgreSQL
    concurrent runs skip each other's rows). Returns counts of "sent", "retrying", "failed"."""
    counts: Counter[str] = Counter(sent=0, retrying=0, failed=0)
    channels = sorted(senders)
    while limit > 0:
        with unit_of_work(session):
            batch = claim_due(session, channels, now, min(CLAIM_SIZE, limit))
        if not batch:
            break
        limit -= len(batch)
        for message in batch:
            error = deliver(senders[message.channel], message)
            with unit_of_work(session):
                counts[record_delivery(session, message.id, error, now)] += 1
    return counts


def send_all_due(
    session: AnySession, senders: Mapping[str, Sender], batch: int, seconds: float
) -> Counter[str]:
    """Send due messages in batches until none is due or `seconds` have passed."""
    total: Counter[str] = Counter(sent=0, retrying=0, failed=0)
    deadline = time.monotonic() + seconds
    while True:
        counts = send_due(session, senders, utcnow(), batch)
        total.update(counts)
        if sum(counts.values()) < batch or time.monotonic() >= deadline:
            return total


def send_configured(config: Mapping[str, Any], session: AnySession) -> dict[str, int]:
    """The periodic send: every due message through the configured senders, if any."""
    senders = senders_from_config(config)
    if not senders:
        return {}
    return dict(send_all_due(session, senders, config["MESSAGE_SEND_BATCH"], RUN_SECONDS))

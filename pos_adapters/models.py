"""The tables of pulled POS receipts: each connected POS account (a source), its sync runs and
their rejections, the webhook inbox, and the vendor customers and devices we know."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import BigId, JsonDoc, UTCDateTime, utcnow
from loyalty.extensions import db


class PosSource(db.Model):
    """One shop's account at a POS vendor: how to reach it (credentials encrypted), which of
    its stores are ours, and where the last pull stopped (`cursor`)."""

    __tablename__ = "pos_sources"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(String(500))
    credentials: Mapped[str] = mapped_column(Text)  # Fernet token of the JSON credentials
    webhook_secret: Mapped[str | None] = mapped_column(Text)  # Fernet token
    stores: Mapped[dict[str, str]] = mapped_column(JsonDoc, default=dict)
    poll_minutes: Mapped[int] = mapped_column(Integer, default=5)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a sync is running
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PosSyncRun(db.Model):
    """One pull of a source, asked for (`queued`), `running`, then `finished` or `failed`."""

    __tablename__ = "pos_sync_runs"
    __table_args__ = (Index("ix_pos_sync_runs_source", "source_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("pos_sources.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    trigger: Mapped[str] = mapped_column(String(16), default="api")  # api, schedule, cli
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    recorded: Mapped[int] = mapped_column(Integer, default=0)
    already_there: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class PosRejection(db.Model):
    """A vendor receipt that was not recorded, and why; from a run or from a webhook."""

    __tablename__ = "pos_rejections"
    __table_args__ = (
        Index("ix_pos_rejections_run", "run_id", "id"),
        Index("ix_pos_rejections_vendor_id", "source_id", "vendor_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("pos_sources.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("pos_sync_runs.id", ondelete="CASCADE"))
    inbox_id: Mapped[int | None] = mapped_column(BigInteger)
    vendor_id: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PosInbox(db.Model):
    """A webhook delivery, stored as it came (verified) for a worker to record; one per
    vendor event id, so a redelivery is stored once."""

    __tablename__ = "pos_inbox"
    __table_args__ = (
        Index("ux_pos_inbox_event", "source_id", "event_id", unique=True),
        Index(
            "ix_pos_inbox_pending",
            "id",
            postgresql_where=text("processed_at IS NULL"),
            sqlite_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("pos_sources.id", ondelete="CASCADE"))
    event_id: Mapped[str | None] = mapped_column(String(200))
    headers: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class PosCustomer(db.Model):
    """A vendor customer matched to a member once, for the next receipts."""

    __tablename__ = "pos_customers"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("pos_sources.id", ondelete="CASCADE"), primary_key=True
    )
    vendor_customer_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    matched_by: Mapped[str] = mapped_column(String(16))  # phone, email, card


class PosDevice(db.Model):
    """A vendor device (register) and the terminal that stands for it in our records."""

    __tablename__ = "pos_devices"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("pos_sources.id", ondelete="CASCADE"), primary_key=True
    )
    vendor_device_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))

"""POS transactions as received: sales and refunds, unique per (store, external id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import BigId, JsonDoc, UTCDateTime, utcnow
from loyalty.extensions import db


class Transaction(db.Model):
    __tablename__ = "transactions"
    __table_args__ = (
        UniqueConstraint("store_id", "external_id"),
        Index("ix_transactions_member", "member_id", "occurred_at"),
        # the pending points of a member: its queued sales, read without the table
        Index(
            "ix_transactions_queued",
            "member_id",
            "points_pending",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminals.id"))
    source: Mapped[str] = mapped_column(String(32), default="api")
    external_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(8))
    refund_of_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    currency: Mapped[str] = mapped_column(String(3))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, default=list)
    body_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    points_awarded: Mapped[int] = mapped_column(BigInteger, default=0)  # base + campaigns, net
    base_points: Mapped[int] = mapped_column(BigInteger, default=0)  # the base rule's, net
    points_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    earn_basis: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_processed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

"""Tables of the points ledger, the receipts it earns on, and the rewards catalog."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import BigId, JsonDoc, UTCDateTime, utcnow
from loyalty.extensions import db


class Transaction(db.Model):
    """A sale or refund as a POS sent it, unique per (store, external id), and what it earned."""

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


class JournalEntry(db.Model):
    """One change of points; its postings sum to zero. Never updated, never deleted."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        Index("ix_journal_entries_member", "member_id", "id"),
        # entries after a day (analytics): BRIN on PostgreSQL, entries come in about time order
        Index("ix_journal_entries_occurred", "occurred_at", postgresql_using="brin"),
        # entries that left a balance below zero: few (analytics: who may owe points)
        Index(
            "ix_journal_entries_owing",
            "member_id",
            postgresql_where=text("balance_after < 0"),
            sqlite_where=text("balance_after < 0"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    description: Mapped[str] = mapped_column(String(300), default="")
    cause_type: Mapped[str] = mapped_column(String(32))
    cause_id: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(64), default="")
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminals.id"))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))


class Posting(db.Model):
    """One side of a journal entry: a member's account or a program account."""

    __tablename__ = "postings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account: Mapped[str] = mapped_column(String(32))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    points: Mapped[int] = mapped_column(BigInteger)


class PointsLot(db.Model):
    """Points earned together, with the date they expire; spent earliest-expiring first."""

    __tablename__ = "points_lots"
    __table_args__ = (Index("ix_points_lots_open", "member_id", "expires_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LotMovement(db.Model):
    """Points taken from (negative) or put back into (positive) a lot by an entry."""

    __tablename__ = "lot_movements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("points_lots.id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    points: Mapped[int] = mapped_column(BigInteger)


class Reward(db.Model):
    __tablename__ = "rewards"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    points_cost: Mapped[int] = mapped_column(BigInteger)
    stock: Mapped[int | None] = mapped_column(BigInteger)
    issued: Mapped[int] = mapped_column(BigInteger, default=0)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voucher_days: Mapped[int] = mapped_column(default=30)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Redemption(db.Model):
    """Points spent at the till or by the member, with where and by whom."""

    __tablename__ = "redemptions"
    __table_args__ = (UniqueConstraint("member_id", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    points: Mapped[int] = mapped_column(BigInteger)
    reward_id: Mapped[int | None] = mapped_column(ForeignKey("rewards.id"))
    external_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="completed")
    balance_after: Mapped[int] = mapped_column(BigInteger, default=0)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminals.id"))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    channel: Mapped[str] = mapped_column(String(16))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Voucher(db.Model):
    """The proof of a redeemed reward, shown as a code or QR and used once."""

    __tablename__ = "vouchers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    redemption_id: Mapped[int] = mapped_column(ForeignKey("redemptions.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="issued")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    used_by: Mapped[str | None] = mapped_column(String(64))


class Campaign(db.Model):
    """A campaign: a trigger, an audience, conditions, effects and limits, in versions.

    `definition` holds the current version's rule (see rewards/campaigns/schemas.py); the
    columns are what the engine selects on and the budget counters it updates atomically.
    """

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_live", "status", "trigger"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    builtin: Mapped[str | None] = mapped_column(String(32), unique=True)
    trigger: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    version: Mapped[int] = mapped_column(default=1)
    priority: Mapped[int] = mapped_column(default=0)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    definition: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    points_issued: Mapped[int] = mapped_column(BigInteger, default=0)
    applications: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CampaignVersion(db.Model):
    """A campaign as it was between two edits; effects name the version that caused them."""

    __tablename__ = "campaign_versions"
    __table_args__ = (UniqueConstraint("campaign_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    version: Mapped[int]
    snapshot: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    created_by: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignApplication(db.Model):
    """One campaign meeting one event for one member: applied (treated) or held out.

    Unique per (campaign, event), so a redelivered event never applies a campaign twice.
    """

    __tablename__ = "campaign_applications"
    __table_args__ = (
        UniqueConstraint("campaign_id", "event_key"),
        Index("ix_campaign_applications_member", "campaign_id", "member_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    version: Mapped[int]
    event_key: Mapped[str] = mapped_column(String(120))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    group: Mapped[str] = mapped_column(String(8))  # treated | holdout
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    transaction_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    points: Mapped[int] = mapped_column(BigInteger, default=0)  # net of reversals
    points_issued: Mapped[int] = mapped_column(BigInteger, default=0)
    member_facts: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DailyRun(db.Model):
    """A daily event emitted for a day (birthday, inactivity, expiring points), once."""

    __tablename__ = "daily_runs"

    day: Mapped[date] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(32), primary_key=True)
    param: Mapped[int] = mapped_column(primary_key=True, default=0)
    emitted: Mapped[int] = mapped_column(default=0)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""Tables of the member profile store: members, consents, cards, one-time codes, tiers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Numeric, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from loyalty.db import BigId, JsonDoc, UTCDateTime, utcnow
from loyalty.extensions import db


class Tier(db.Model):
    __tablename__ = "tiers"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    rank: Mapped[int] = mapped_column(default=0)
    threshold_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    multiplier: Mapped[str] = mapped_column(Numeric(6, 3), default=1)


class Member(db.Model):
    """One customer. The cached points balance is kept by the ledger and is its lock row."""

    __tablename__ = "members"
    __table_args__ = (
        # members merged or erased: few, found without reading the others (analytics rollups)
        Index(
            "ix_members_closed",
            "id",
            "merged_into_id",
            postgresql_where=text("status IN ('merged', 'erased')"),
            sqlite_where=text("status IN ('merged', 'erased')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_no: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    birthdate: Mapped[date | None]
    locale: Mapped[str] = mapped_column(String(8), default="th")
    status: Mapped[str] = mapped_column(String(16), default="active")
    tier_code: Mapped[str] = mapped_column(ForeignKey("tiers.code"), default="member")
    external_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    enrolled_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    points_balance: Mapped[int] = mapped_column(BigInteger, default=0)
    lifetime_spend_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    visits: Mapped[int] = mapped_column(default=0)
    first_purchase_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_purchase_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tier_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tier_review_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    consents: Mapped[list[Consent]] = relationship(
        back_populates="member", cascade="all, delete-orphan", lazy="selectin"
    )
    cards: Mapped[list[Card]] = relationship(
        back_populates="member", lazy="selectin", order_by="Card.id"
    )


class Consent(db.Model):
    """Marketing consent per channel, with when it was last given or withdrawn."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("member_id", "channel"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    channel: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool]
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    member: Mapped[Member] = relationship(back_populates="consents")


class Card(db.Model):
    """A membership card: digital (rotating code) or printed (static code)."""

    __tablename__ = "cards"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    card_no: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="digital")
    status: Mapped[str] = mapped_column(String(16), default="active")
    secret: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    member: Mapped[Member] = relationship(back_populates="cards")


class OneTimeCode(db.Model):
    """A shopper sign-in code, stored hashed, with its tries counted."""

    __tablename__ = "one_time_codes"
    __table_args__ = (Index("ix_one_time_codes_destination", "destination", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    destination: Mapped[str] = mapped_column(String(254))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MemberTag(db.Model):
    """A label on a member, set by staff or by a campaign's tag_member effect."""

    __tablename__ = "member_tags"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MemberDay(db.Model):
    """A member's purchases on one program day: spend net of refunds, receipts, points earned.

    Kept by every processed sale and refund (a refund counts on its sale's day); tier windows,
    RFM, CLV and the profile metrics are sums over these rows.
    """

    __tablename__ = "member_days"
    __table_args__ = (Index("ix_member_days_day", "day"),)

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    spend_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    purchases: Mapped[int] = mapped_column(default=0)
    points: Mapped[int] = mapped_column(BigInteger, default=0)


class MemberAffinity(db.Model):
    """What a member spends per category and per store (net of refunds)."""

    __tablename__ = "member_affinities"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # category | store
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    spend_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    purchases: Mapped[int] = mapped_column(default=0)


class MemberMetrics(db.Model):
    """Scores a job computes for each member: rolling spend, favourites, RFM, lifetime value."""

    __tablename__ = "member_metrics"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    spend_12m_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    purchase_days: Mapped[int] = mapped_column(default=0)
    favourite_category: Mapped[str | None] = mapped_column(String(64))
    favourite_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    rfm_r: Mapped[int | None]
    rfm_f: Mapped[int | None]
    rfm_m: Mapped[int | None]
    rfm_segment: Mapped[str | None] = mapped_column(String(32), index=True)
    clv_purchases_365: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    clv_p_alive: Mapped[Decimal | None] = mapped_column(Numeric(8, 6))
    clv_value_365_minor: Mapped[int | None] = mapped_column(BigInteger)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TierPolicyVersion(db.Model):
    """The tier ladder and its policy as set at one time; the highest version is in force."""

    __tablename__ = "tier_policies"

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    created_by: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TierChange(db.Model):
    """A member's move between tiers, with why and under which policy version."""

    __tablename__ = "tier_changes"
    __table_args__ = (Index("ix_tier_changes_member", "member_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    from_tier: Mapped[str] = mapped_column(String(32))
    to_tier: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(16))  # upgrade | review | merge
    policy_version: Mapped[int | None]
    qualifying: Mapped[int] = mapped_column(BigInteger, default=0)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Segment(db.Model):
    """A named rule over profile facts; its members are evaluated in SQL and refreshed."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    rule: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    size: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SegmentMember(db.Model):
    __tablename__ = "segment_members"
    __table_args__ = (Index("ix_segment_members_member", "member_id"),)

    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClvModel(db.Model):
    """A fit of BG/NBD and Gamma-Gamma on the program's history (members/metrics/clv.py)."""

    __tablename__ = "clv_models"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    calibration_start: Mapped[date]
    calibration_end: Mapped[date]
    params: Mapped[dict[str, Any]] = mapped_column(JsonDoc)  # r, alpha, a, b, p, q, gamma
    members: Mapped[int] = mapped_column(default=0)
    repeat_buyers: Mapped[int] = mapped_column(default=0)
    fit_seconds: Mapped[Decimal] = mapped_column(Numeric(10, 3), default=0)
    fitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

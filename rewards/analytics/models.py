"""Rollups of program analytics: sums by program day and store, counts of members by period,
each member's share of those counts, and how far the rollups have read (docs/ANALYTICS.md).

Days are numbered from 1970-01-01 in the program's time zone; store 0 stands for "no store"
in the points and sales sums and for "the whole program" in the member counts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db import JsonDoc, UTCDateTime
from loyalty.extensions import db


class RollupState(db.Model):
    """One row: the last entry, sale, member, lot movement and tier change id the rollups hold
    (`*_id`),
    the ids they will read up to next (`next_*`, noted at `noted_at`), and the active-days
    setting they count by."""

    __tablename__ = "rollup_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entries_id: Mapped[int] = mapped_column(BigInteger, default=0)
    sales_id: Mapped[int] = mapped_column(BigInteger, default=0)
    members_id: Mapped[int] = mapped_column(BigInteger, default=0)
    movements_id: Mapped[int] = mapped_column(BigInteger, default=0)
    tier_changes_id: Mapped[int] = mapped_column(BigInteger, default=0)
    next_entries_id: Mapped[int] = mapped_column(BigInteger, default=0)
    next_sales_id: Mapped[int] = mapped_column(BigInteger, default=0)
    next_members_id: Mapped[int] = mapped_column(BigInteger, default=0)
    next_movements_id: Mapped[int] = mapped_column(BigInteger, default=0)
    next_tier_changes_id: Mapped[int] = mapped_column(BigInteger, default=0)
    noted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active_days: Mapped[int] = mapped_column(Integer, default=0)


class PointsByDay(db.Model):
    """Points posted by ledger entries, summed by day, store, entry kind and cause type."""

    __tablename__ = "rollup_points"

    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    cause_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger, default=0)


class BalancesByDay(db.Model):
    """Points posted by ledger entries, summed by day and their member's enrolment store (0:
    none): the members' balances at the end of any day are a sum."""

    __tablename__ = "rollup_balances"

    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    home_store_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger, default=0)


class ClosedLotsByDay(db.Model):
    """Points in lots that have closed (used up or expired) and the part of them that expired,
    by the day the lot was earned and its store."""

    __tablename__ = "rollup_closed_lots"

    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    closed_points: Mapped[int] = mapped_column(BigInteger, default=0)
    expired_points: Mapped[int] = mapped_column(BigInteger, default=0)


class SalesByDay(db.Model):
    """Sales less refunds, and the members' part of them, by day and store (money in minor
    units)."""

    __tablename__ = "rollup_sales"

    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sales_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    member_sales_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class MemberCount(db.Model):
    """Members counted by kind ("enrol" by day, "week" by Monday and the days of it bought on,
    "month" by enrolment month and month bought in, "active" as +1 where a spell of activity
    starts and -1 the day after it ends; "tier:<code>" the members in a tier now and
    "points:<code>" their points above zero), for the whole program (store 0) or one store."""

    __tablename__ = "rollup_member_counts"

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    store_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cohort: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[int] = mapped_column(Integer, primary_key=True)
    members: Mapped[int] = mapped_column(BigInteger, default=0)


class MemberShare(db.Model):
    """What one member adds to the member counts, as [kind, store, cohort, period, weight]
    rows, so that the member can be counted again when their receipts or status change."""

    __tablename__ = "rollup_member_shares"

    member_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    counts: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)

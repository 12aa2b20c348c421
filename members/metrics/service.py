"""Profile metrics: a member's live purchase figures, and the daily refresh of the stored
scores (rolling spend, favourites, RFM) for every member in a few set-based statements.

A purchase day is a program day with at least one sale (`member_days.purchases > 0`); its
spend is net of refunds. Live figures are read from `members`, `member_days` and
`member_affinities`; scores come from `member_metrics`, which `refresh_profiles` fills.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    select,
    table,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from loyalty.db import CreateTempTableAs, UTCDateTime, dialect_insert, is_postgres
from loyalty.models import Store
from members.metrics import rfm
from members.models import Member, MemberAffinity, MemberDay, MemberMetrics

TOP = 3
REFRESH_WORK_MEM = "64MB"  # per sort or hash of the refresh, on PostgreSQL
SCORED = "refreshed_member_metrics"  # the refresh's temporary table


@dataclass(frozen=True)
class Favourite:
    key: str  # the category, or the store's code
    name: str
    spend_minor: int
    visits: int


@dataclass(frozen=True)
class ProfileMetrics:
    """What the member's history says today, and the scores of the last refresh and fit."""

    member: Member
    today: date
    purchase_days: int
    spend_minor: int  # net, over the purchase days
    spend_12m_minor: int
    last_day: date | None
    categories: list[Favourite]
    stores: list[Favourite]
    scores: MemberMetrics | None

    @property
    def recency_days(self) -> int | None:
        return None if self.last_day is None else (self.today - self.last_day).days

    @property
    def monetary_minor(self) -> int | None:
        """Average spend per purchase day, rounded half up to a minor unit."""
        return _rounded_share(self.spend_minor, self.purchase_days)

    @property
    def average_basket_minor(self) -> int | None:
        return _rounded_share(self.member.lifetime_spend_minor, self.member.visits)


def _rounded_share(total: int, count: int) -> int | None:
    if count <= 0:
        return None
    quotient, remainder = divmod(total, count)
    return quotient + (1 if 2 * remainder >= count else 0)


def year_before(day: date) -> date:
    """The same calendar day a year earlier (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def profile_metrics(session: Session, member: Member, today: date) -> ProfileMetrics:
    """The member's figures as of the program day `today` (12 months: after `year_before`)."""
    d = MemberDay
    in_year = case((d.day > year_before(today), d.spend_minor), else_=0)
    days, spend, spend_12m, last_day = session.execute(
        select(func.count(), func.sum(d.spend_minor), func.sum(in_year), func.max(d.day)).where(
            d.member_id == member.id, d.purchases > 0, d.day <= today
        )
    ).one()
    return ProfileMetrics(
        member=member,
        today=today,
        purchase_days=days,
        spend_minor=spend or 0,
        spend_12m_minor=spend_12m or 0,
        last_day=last_day,
        categories=_favourite_categories(session, member.id),
        stores=_favourite_stores(session, member.id),
        scores=session.get(MemberMetrics, member.id),
    )


def _favourite_categories(session: Session, member_id: int) -> list[Favourite]:
    a = MemberAffinity
    rows = session.execute(
        select(a.key, a.spend_minor, a.purchases)
        .where(a.member_id == member_id, a.kind == "category", a.spend_minor > 0)
        .order_by(a.spend_minor.desc(), a.key)
        .limit(TOP)
    )
    return [Favourite(key, key, spend, visits) for key, spend, visits in rows]


def _favourite_stores(session: Session, member_id: int) -> list[Favourite]:
    a = MemberAffinity
    store_id = cast(a.key, BigInteger)
    rows = session.execute(
        select(Store.code, Store.name, a.spend_minor, a.purchases)
        .join(Store, Store.id == store_id)
        .where(a.member_id == member_id, a.kind == "store", a.purchases > 0)
        .order_by(a.purchases.desc(), a.spend_minor.desc(), store_id)
        .limit(TOP)
    )
    return [Favourite(code, name, spend, visits) for code, name, spend, visits in rows]


# --- the refresh -----------------------------------------------------------------------------

REFRESHED = (
    "spend_12m_minor",
    "purchase_days",
    "favourite_category",
    "favourite_store_id",
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "rfm_segment",
    "refreshed_at",
)


def refresh_profiles(session: Session, today: date, now: datetime) -> int:
    """Recompute every member's rolling spend, purchase days, favourites and RFM scores as of
    the program day `today`: computed into a temporary table, then written with one INSERT …
    SELECT … ON CONFLICT, in the caller's unit of work. Returns the number of members refreshed.
    Idempotent: a second run on the same day writes the same values.

    RFM quintiles (NTILE(5)) rank only the members with a purchase day; ties are split by
    member id, the lower id taking the lower score.
    """
    postgres = is_postgres(session)
    if postgres:  # the statement's sorts of a million members fit in memory, not on disk
        session.execute(text(f"SET LOCAL work_mem = '{REFRESH_WORK_MEM}'"))
    session.execute(CreateTempTableAs(SCORED, _refreshed_rows(today, now, postgres)))
    scored = table(SCORED, *(column(name) for name in ("id", *REFRESHED)))
    stmt = dialect_insert(session, MemberMetrics).from_select(
        ["member_id", *REFRESHED],
        # SQLite reads "SELECT … FROM t ON CONFLICT" only with a WHERE before the upsert.
        select(scored).where(true()),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["member_id"], set_={name: stmt.excluded[name] for name in REFRESHED}
    )
    session.execute(stmt)
    count = session.scalar(select(func.count()).select_from(scored))
    session.execute(text(f"DROP TABLE {SCORED}"))
    return count


def _refreshed_rows(today: date, now: datetime, postgres: bool):
    """One row per member: its id, then the columns of REFRESHED, by those names."""
    d, a = MemberDay, MemberAffinity
    stats = (
        select(
            d.member_id,
            func.sum(case((d.day > year_before(today), d.spend_minor), else_=0)).label("spend_12m"),
            func.count().label("days"),
            func.max(d.day).label("last_day"),
            func.sum(d.spend_minor).label("spend"),
        )
        .where(d.purchases > 0, d.day <= today)
        .group_by(d.member_id)
        .cte("stats")
    )
    scored = _scored(stats)
    first = _first_distinct if postgres else _first
    category = first(a.key.label("value"), "category", (a.spend_minor.desc(), a.key))
    store_id = cast(a.key, BigInteger).label("value")
    store = first(store_id, "store", (a.purchases.desc(), a.spend_minor.desc(), store_id))
    fm = (scored.c.r * 10 + (scored.c.f + scored.c.m) // 2).label("rfm_code")
    return (
        select(
            Member.id.label("id"),
            func.coalesce(stats.c.spend_12m, 0).label("spend_12m_minor"),
            func.coalesce(stats.c.days, 0).label("purchase_days"),
            category.c.value.label("favourite_category"),
            store.c.value.label("favourite_store_id"),
            scored.c.r.label("rfm_r"),
            scored.c.f.label("rfm_f"),
            scored.c.m.label("rfm_m"),
            case(rfm.segment_codes(), value=fm).label("rfm_segment"),
            literal(now, UTCDateTime()).label("refreshed_at"),
        )
        .select_from(Member)
        .outerjoin(stats, stats.c.member_id == Member.id)
        .outerjoin(scored, scored.c.member_id == Member.id)
        .outerjoin(category, and_(category.c.member_id == Member.id, category.c.rank == 1))
        .outerjoin(store, and_(store.c.member_id == Member.id, store.c.rank == 1))
    )


def _scored(stats):
    """R, F and M quintiles over the members with purchase days."""
    average = cast(stats.c.spend, Float(53)) / cast(stats.c.days, Float(53))

    def quintile(*order):
        return func.ntile(5, type_=Integer).over(order_by=(*order, stats.c.member_id))

    return select(
        stats.c.member_id,
        quintile(stats.c.last_day).label("r"),
        quintile(stats.c.days).label("f"),
        quintile(average).label("m"),
    ).cte("scored")


def _first(value, kind: str, order):
    """Each member's top category or store affinity (rank 1) by `order`."""
    a = MemberAffinity
    positive = a.spend_minor > 0 if kind == "category" else a.purchases > 0
    rank = func.row_number().over(partition_by=a.member_id, order_by=order).label("rank")
    return select(a.member_id, value, rank).where(a.kind == kind, positive).subquery()


def _first_distinct(value, kind: str, order):
    """`_first` on PostgreSQL, with DISTINCT ON: read in one pass and sorted, where the
    ROW_NUMBER form was planned as an index scan in member order that read the table at random
    (8 s instead of 3 for a million members' categories)."""
    a = MemberAffinity
    positive = a.spend_minor > 0 if kind == "category" else a.purchases > 0
    rank = literal(1, Integer).label("rank")
    return (
        select(a.member_id, value, rank)
        .where(a.kind == kind, positive)
        .ext(distinct_on(a.member_id))
        .order_by(a.member_id, *order)
        .subquery()
    )

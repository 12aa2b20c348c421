"""Earning services: points for a purchase, and their reversal when it is refunded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from loyalty.bulk import update_rows
from loyalty.db import one_of, per_transaction
from loyalty.settings import get_setting
from members.models import Member, Tier
from rewards.campaigns.service import (
    BASE_EARNING,
    BASE_MISSING,
    UnknownCampaign,
    base_rate,
    rate_of,
)
from rewards.earning.points import EarnBasis, refund_reversal
from rewards.ledger import journal, lots
from rewards.models import Campaign, JournalEntry

BASE_RULE = "base"


@dataclass(frozen=True)
class Purchase:
    """A processed receipt as the ledger sees it."""

    transaction_id: int
    member_id: int
    total_minor: int
    occurred_at: datetime
    store_id: int | None
    external_id: str


RATE_CACHE = "rewards.earning.rate"


def earn_rate(session: Session) -> tuple[int, int]:
    """The base earning rule's rate, read once per transaction (a batch reads it once)."""
    return per_transaction(session, RATE_CACHE, lambda: base_rate(session))


def earn_basis(session: Session, member_id: int) -> EarnBasis:
    """The base earning rule's rate with the member's tier multiplier, as of now: one query,
    not the Member (whose cards and consents load with it), then its Tier, then the rule."""
    multiplier = (
        select(Tier.multiplier)
        .join(Member, Member.tier_code == Tier.code)
        .where(Member.id == member_id)
        .scalar_subquery()
    )
    found = session.execute(
        select(Campaign.definition, multiplier).where(Campaign.builtin == BASE_EARNING)
    ).one_or_none()
    if found is None:
        raise UnknownCampaign(BASE_MISSING)
    points, amount_minor = rate_of(found[0])
    tier = Decimal(str(found[1])) if found[1] is not None else Decimal(1)
    return EarnBasis(points, amount_minor, tier)


def earn_bases(session: Session, member_ids: set[int]) -> dict[int, EarnBasis]:
    """`earn_basis` for many members, with one query."""
    points, amount_minor = earn_rate(session)
    rows = session.execute(
        select(Member.id, Tier.multiplier)
        .join(Tier, Member.tier_code == Tier.code, isouter=True)
        .where(one_of(session, Member.id, member_ids))
    )
    found = {member_id: multiplier for member_id, multiplier in rows}
    return {
        member_id: EarnBasis(
            points,
            amount_minor,
            Decimal(str(found[member_id])) if found.get(member_id) is not None else Decimal(1),
        )
        for member_id in member_ids
    }


def multipliers(session: Session) -> dict[str, Decimal]:
    """Each tier's earning multiplier, by tier code."""
    rows = session.execute(select(Tier.code, Tier.multiplier))
    return {code: Decimal(str(multiplier)) for code, multiplier in rows}


def points_expiry(session: Session, at: datetime, timezone: str) -> datetime:
    return lots.expiry_for(at, int(get_setting(session, "points_expiry")["months"]), timezone)


def count_purchase(session: Session, purchase: Purchase) -> None:
    """Count the visit and spend on the member (and hold its row for the rest of the work)."""
    session.execute(
        update(Member)
        .where(Member.id == purchase.member_id)
        .values(
            lifetime_spend_minor=Member.lifetime_spend_minor + purchase.total_minor,
            visits=Member.visits + 1,
            first_purchase_at=func.coalesce(Member.first_purchase_at, purchase.occurred_at),
            last_purchase_at=case(
                (Member.last_purchase_at.is_(None), purchase.occurred_at),
                (Member.last_purchase_at < purchase.occurred_at, purchase.occurred_at),
                else_=Member.last_purchase_at,
            ),
        )
    )


def count_purchases(session: Session, purchases: list[Purchase]) -> None:
    """`count_purchase` for many sales at once: one UPDATE of each member's visits, spend and
    first and last purchase (the caller holds their rows)."""
    totals: dict[int, list] = {}
    for p in purchases:
        held = totals.setdefault(p.member_id, [0, 0, p.occurred_at, p.occurred_at])
        held[0] += p.total_minor
        held[1] += 1
        held[2], held[3] = min(held[2], p.occurred_at), max(held[3], p.occurred_at)
    members = Member.__table__.c
    latest = members.last_purchase_at
    update_rows(
        session,
        Member.__table__,
        "id",
        [
            {
                "id": m,
                "lifetime_spend_minor": spend,
                "visits": n,
                "first_purchase_at": first,
                "last_purchase_at": last,
            }
            for m, (spend, n, first, last) in totals.items()
        ],
        lambda v: {
            "lifetime_spend_minor": members.lifetime_spend_minor + v["lifetime_spend_minor"],
            "visits": members.visits + v["visits"],
            "first_purchase_at": func.coalesce(members.first_purchase_at, v["first_purchase_at"]),
            "last_purchase_at": case(
                (latest.is_(None), v["last_purchase_at"]),
                (latest < v["last_purchase_at"], v["last_purchase_at"]),
                else_=latest,
            ),
        },
    )


def credit_base(
    session: Session, purchase: Purchase, points: int, timezone: str
) -> JournalEntry | None:
    """Post the base earning for a sale once (key: the transaction and the base rule).

    Returns None when the sale earns nothing.
    """
    spec = base_entry(purchase, points)
    if (existing := journal.find_entry(session, spec.key)) is not None:
        return existing
    if points <= 0:
        return None
    return journal.credit(session, spec, points_expiry(session, purchase.occurred_at, timezone))


def base_entry(purchase: Purchase, points: int) -> journal.Entry:
    """The journal entry of a sale's base earning; its key makes it once per sale."""
    return journal.Entry(
        member_id=purchase.member_id,
        kind="earn",
        points=points,
        account="issuance",
        key=f"earn:txn:{purchase.transaction_id}:{BASE_RULE}",
        cause_type="transaction",
        cause_id=str(purchase.transaction_id),
        description=f"Purchase {purchase.external_id}",
        rule=BASE_RULE,
        store_id=purchase.store_id,
    )


@dataclass(frozen=True)
class Refund:
    transaction_id: int
    sale: Purchase
    refund_minor: int
    refunded_before_minor: int
    awarded_net: int  # what the sale still holds in points before this refund


def reverse_for_refund(session: Session, refund: Refund, basis: EarnBasis) -> JournalEntry | None:
    """Reverse the points of the refunded part, once per refund transaction.

    May take the balance below zero (the points were already spent).
    """
    key = f"reverse:txn:{refund.transaction_id}:{BASE_RULE}"
    if (existing := journal.find_entry(session, key)) is not None:
        return existing
    session.execute(
        update(Member)
        .where(Member.id == refund.sale.member_id)
        .values(lifetime_spend_minor=Member.lifetime_spend_minor - refund.refund_minor)
    )
    points = refund_reversal(
        refund.sale.total_minor,
        refund.refunded_before_minor,
        refund.refund_minor,
        refund.awarded_net,
        basis,
    )
    if points <= 0:
        return None
    spec = journal.Entry(
        member_id=refund.sale.member_id,
        kind="reverse",
        points=points,
        account="issuance",
        key=key,
        cause_type="transaction",
        cause_id=str(refund.transaction_id),
        description=f"Refund of {refund.sale.external_id}",
        rule=BASE_RULE,
        store_id=refund.sale.store_id,
    )
    return journal.debit(session, spec, allow_negative=True)

"""Earning services: points for a purchase, and their reversal when it is refunded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.settings import get_setting
from members.models import Member, Tier
from rewards import journal, lots
from rewards.models import JournalEntry
from rewards.points import EarnBasis, base_points, refund_reversal

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


def earn_basis(session: Session, member_id: int) -> EarnBasis:
    """The program's earn rate with the member's tier multiplier, as of now."""
    rate = get_setting(session, "earn_rate")
    # one query, not the Member (whose cards and consents load with it) and then its Tier
    found = session.scalar(
        select(Tier.multiplier)
        .join(Member, Member.tier_code == Tier.code)
        .where(Member.id == member_id)
    )
    multiplier = Decimal(str(found)) if found is not None else Decimal(1)
    return EarnBasis(int(rate["points"]), int(rate["amount_minor"]), multiplier)


def points_expiry(session: Session, at: datetime, timezone: str) -> datetime:
    return lots.expiry_for(at, int(get_setting(session, "points_expiry")["months"]), timezone)


def earn_for_purchase(
    session: Session, purchase: Purchase, basis: EarnBasis, timezone: str
) -> JournalEntry | None:
    """Post the base earning for a sale once (key: the transaction and the base rule).

    Also counts the visit and spend on the member. Returns None when the sale earns nothing.
    """
    key = f"earn:txn:{purchase.transaction_id}:{BASE_RULE}"
    if (existing := journal.find_entry(session, key)) is not None:
        return existing
    _count_purchase(session, purchase.member_id, purchase.total_minor, 1)
    points = base_points(purchase.total_minor, basis)
    if points <= 0:
        return None
    spec = journal.Entry(
        member_id=purchase.member_id,
        kind="earn",
        points=points,
        account="issuance",
        key=key,
        cause_type="transaction",
        cause_id=str(purchase.transaction_id),
        description=f"Purchase {purchase.external_id}",
        rule=BASE_RULE,
        store_id=purchase.store_id,
    )
    return journal.credit(session, spec, points_expiry(session, purchase.occurred_at, timezone))


def _count_purchase(session: Session, member_id: int, spend_minor: int, visits: int) -> None:
    session.execute(
        update(Member)
        .where(Member.id == member_id)
        .values(
            lifetime_spend_minor=Member.lifetime_spend_minor + spend_minor,
            visits=Member.visits + visits,
        )
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
    _count_purchase(session, refund.sale.member_id, -refund.refund_minor, 0)
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

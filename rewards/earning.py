"""Earning services: points for a purchase, and their reversal when it is refunded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from loyalty.db import per_transaction
from loyalty.settings import get_setting
from members.models import Member, Tier
from rewards import journal, lots
from rewards.campaigns import base_rate
from rewards.models import JournalEntry
from rewards.points import EarnBasis, refund_reversal

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


def _base_rate(session: Session) -> tuple[int, int]:
    """The base earning rule's rate, read once per transaction (a batch reads it once)."""
    return per_transaction(session, RATE_CACHE, lambda: base_rate(session))


def earn_basis(session: Session, member_id: int) -> EarnBasis:
    """The base earning rule's rate with the member's tier multiplier, as of now."""
    points, amount_minor = _base_rate(session)
    # one query, not the Member (whose cards and consents load with it) and then its Tier
    found = session.scalar(
        select(Tier.multiplier)
        .join(Member, Member.tier_code == Tier.code)
        .where(Member.id == member_id)
    )
    multiplier = Decimal(str(found)) if found is not None else Decimal(1)
    return EarnBasis(points, amount_minor, multiplier)


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


def credit_base(
    session: Session, purchase: Purchase, points: int, timezone: str
) -> JournalEntry | None:
    """Post the base earning for a sale once (key: the transaction and the base rule).

    Returns None when the sale earns nothing.
    """
    key = f"earn:txn:{purchase.transaction_id}:{BASE_RULE}"
    if (existing := journal.find_entry(session, key)) is not None:
        return existing
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

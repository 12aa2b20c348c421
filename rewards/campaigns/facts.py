"""The facts campaigns read: about the member (from the profile) and about the sale.

Values are JSON-ready (amounts as decimal strings) so an application can keep the member's
facts it was decided on, and a refund can re-decide on the same ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.money import format_minor, to_minor
from members.models import Member, MemberTag
from members.segments.service import member_segment_ids
from rewards.campaigns import rules
from rewards.campaigns.planning import Basket


def lines_of(items: Iterable[Mapping[str, Any]]) -> tuple[rules.Line, ...]:
    """Receipt items (as stored on a transaction) as rule lines."""
    return tuple(
        rules.Line(
            sku=item["sku"],
            category=item.get("category") or "",
            quantity=Decimal(str(item["quantity"])),
            amount_minor=to_minor(Decimal(str(item["quantity"])) * Decimal(item["unit_price"])),
        )
        for item in items
    )


def remaining_lines(
    sold: tuple[rules.Line, ...], refunded: tuple[rules.Line, ...]
) -> tuple[rules.Line, ...]:
    """What is left of a sale's lines after refunded lines are taken off, by SKU."""
    taken: dict[str, list[Decimal]] = {}
    for line in refunded:
        entry = taken.setdefault(line.sku, [Decimal(0), Decimal(0)])
        entry[0] += line.quantity
        entry[1] += line.amount_minor
    left = []
    for line in sold:
        quantity, amount = taken.get(line.sku, [Decimal(0), Decimal(0)])
        use_q, use_a = min(quantity, line.quantity), min(amount, line.amount_minor)
        if line.sku in taken:
            taken[line.sku] = [quantity - use_q, amount - use_a]
        if line.quantity - use_q > 0 and line.amount_minor - use_a > 0:
            left.append(
                rules.Line(
                    line.sku, line.category, line.quantity - use_q, int(line.amount_minor - use_a)
                )
            )
    return tuple(left)


def basket_facts(basket: Basket, at: datetime, timezone: str) -> dict[str, Any]:
    local = at.astimezone(ZoneInfo(timezone))
    return {
        "transaction.total": format_minor(basket.total_minor),
        "transaction.store": basket.store_code,
        "transaction.hour": local.hour,
        "transaction.weekday": local.isoweekday(),
        "items.sku": sorted({line.sku for line in basket.lines}),
        "items.category": sorted({line.category for line in basket.lines if line.category}),
        "items.quantity": str(sum((line.quantity for line in basket.lines), Decimal(0))),
    }


def profile_facts(
    *,
    tier: str,
    visits: int,
    spend_minor: int,
    enrolled_at: datetime,
    birthdate: date | None,
    at: datetime,
    timezone: str,
    tags: list[str] | None = None,
    segments: list[int] | None = None,
) -> dict[str, Any]:
    """The member facts from profile values as they stood at `at`; tags and segments only
    when given (read only for campaigns that need them)."""
    zone = ZoneInfo(timezone)
    enrolled_on = enrolled_at.astimezone(zone).date()
    facts: dict[str, Any] = {
        "member.tier": tier,
        "member.visits": visits,
        "member.nth_purchase": visits,
        "member.lifetime_spend": format_minor(spend_minor),
        "member.days_since_enrolment": max(0, (at.astimezone(zone).date() - enrolled_on).days),
        "member.birthday_month": birthdate.month if birthdate else None,
    }
    if tags is not None:
        facts["member.tags"] = sorted(tags)
    if segments is not None:
        facts["member.segments"] = sorted(segments)
    return facts


def member_tags(session: Session, member_id: int) -> list[str]:
    return list(session.scalars(select(MemberTag.tag).where(MemberTag.member_id == member_id)))


def member_facts(
    session: Session,
    member_id: int,
    at: datetime,
    timezone: str,
    *,
    with_tags: bool,
    with_segments: bool = False,
    purchase_minor: int | None = None,
) -> dict[str, Any]:
    """The member's facts now; `purchase_minor` counts a sale not yet recorded (a quote)."""
    row = session.execute(
        select(
            Member.tier_code,
            Member.visits,
            Member.lifetime_spend_minor,
            Member.enrolled_at,
            Member.birthdate,
        ).where(Member.id == member_id)
    ).one()
    visits, spend = row.visits, row.lifetime_spend_minor
    if purchase_minor is not None:
        visits, spend = visits + 1, spend + purchase_minor
    return profile_facts(
        tier=row.tier_code,
        visits=visits,
        spend_minor=spend,
        enrolled_at=row.enrolled_at,
        birthdate=row.birthdate,
        at=at,
        timezone=timezone,
        tags=member_tags(session, member_id) if with_tags else None,
        segments=member_segment_ids(session, member_id) if with_segments else None,
    )

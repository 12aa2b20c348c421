"""Which member a pulled sale belongs to, in this order: the vendor customer already linked to
a member; the customer's phone (E.164) or email; a member card number written in the receipt
note; else nobody (the receipt stays anonymous and claimable). A first match by phone, email
or card links the vendor customer to the member for next time."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.db import dialect_insert, one_of, utcnow
from members.cards.codes import is_valid_card_no
from members.models import Card, Member
from members.phone import InvalidPhone, normalise_phone
from pos_adapters.models import PosCustomer
from pos_adapters.vendor import Customer, VendorReceipt

CARD_NO = re.compile(r"\d[\d -]{6,22}\d")


@dataclass(frozen=True)
class Match:
    member_id: int
    by: str  # customer, phone, email, card


def match_members(
    session: Session,
    source_id: int,
    sales: Iterable[VendorReceipt],
    customer: Callable[[str], Customer | None],
) -> dict[str, Match]:
    """The member of each sale that has one, by vendor id; `customer` fetches a vendor
    customer's details (cached by the caller) when the receipt carries only an id."""
    sales = list(sales)
    linked = _linked(session, source_id, {s.customer_id for s in sales if s.customer_id})
    found: dict[str, Match] = {}
    wanted: dict[str, tuple[str | None, str | None, list[str]]] = {}
    for sale in sales:
        if sale.customer_id and sale.customer_id in linked:
            found[sale.vendor_id] = Match(linked[sale.customer_id], "customer")
            continue
        phone, email = sale.phone, sale.email
        if sale.customer_id and not (phone or email):
            details = customer(sale.customer_id)
            if details is not None:
                phone, email = details.phone, details.email
        wanted[sale.vendor_id] = (_e164(phone), _email(email), _card_numbers(sale.note))
    by_phone, by_email, by_card = _members(session, wanted.values())
    links: dict[str, Match] = {}
    for sale in sales:
        if sale.vendor_id not in wanted:
            continue
        phone, email, cards = wanted[sale.vendor_id]
        match = (
            (Match(by_phone[phone], "phone") if phone in by_phone else None)
            or (Match(by_email[email], "email") if email in by_email else None)
            or next((Match(by_card[c], "card") for c in cards if c in by_card), None)
        )
        if match is not None:
            found[sale.vendor_id] = match
            if sale.customer_id:
                links.setdefault(sale.customer_id, match)
    _link(session, source_id, links)
    return found


def _linked(session: Session, source_id: int, customer_ids: set[str]) -> dict[str, int]:
    if not customer_ids:
        return {}
    rows = session.execute(
        select(PosCustomer.vendor_customer_id, PosCustomer.member_id)
        .join(Member, Member.id == PosCustomer.member_id)
        .where(
            PosCustomer.source_id == source_id,
            one_of(session, PosCustomer.vendor_customer_id, customer_ids),
            Member.status == "active",
        )
    )
    return {row.vendor_customer_id: row.member_id for row in rows}


def _members(
    session: Session, wanted: Iterable[tuple[str | None, str | None, list[str]]]
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Active members by phone, by email and by active card number: one query each."""
    wanted = list(wanted)
    phones = {p for p, _e, _c in wanted if p}
    emails = {e for _p, e, _c in wanted if e}
    cards = {c for _p, _e, cs in wanted for c in cs}
    active = Member.status == "active"
    by_phone = by_email = by_card = {}
    if phones:
        rows = session.execute(
            select(Member.phone, Member.id).where(one_of(session, Member.phone, phones), active)
        )
        by_phone = {row.phone: row.id for row in rows}
    if emails:
        rows = session.execute(
            select(Member.email, Member.id).where(one_of(session, Member.email, emails), active)
        )
        by_email = {row.email.lower(): row.id for row in rows}
    if cards:
        rows = session.execute(
            select(Card.card_no, Card.member_id)
            .join(Member, Member.id == Card.member_id)
            .where(one_of(session, Card.card_no, cards), Card.status == "active", active)
        )
        by_card = {row.card_no: row.member_id for row in rows}
    return by_phone, by_email, by_card


def _link(session: Session, source_id: int, links: dict[str, Match]) -> None:
    """Vendor customers linked to their members, in one statement (a link made meanwhile by
    another run stands)."""
    if not links:
        return
    session.execute(
        dialect_insert(session, PosCustomer.__table__)
        .values(
            [
                {
                    "source_id": source_id,
                    "vendor_customer_id": customer_id,
                    "member_id": match.member_id,
                    "matched_by": match.by,
                    "linked_at": utcnow(),
                }
                for customer_id, match in links.items()
            ]
        )
        .on_conflict_do_nothing()
    )


def _e164(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return normalise_phone(raw)
    except InvalidPhone:
        return None


def _email(raw: str | None) -> str | None:
    return raw.strip().lower() if raw and "@" in raw else None


def _card_numbers(note: str | None) -> list[str]:
    """Card numbers typed in a note: runs of digits (spaces and dashes allowed between them)
    whose check digit is right."""
    if not note:
        return []
    runs = (re.sub(r"[ -]", "", m.group()) for m in CARD_NO.finditer(note))
    return [run for run in runs if is_valid_card_no(run)]

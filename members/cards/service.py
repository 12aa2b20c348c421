"""Card services: issuing, replacing and blocking cards; making and resolving their codes."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from loyalty.bulk import insert_rows
from loyalty.db import one_of, reserve_ids, transaction_of, utcnow
from loyalty.errors import Conflict, InvalidInput
from members.cards import codes as card_codes
from members.errors import CardBlocked, CardReplaced, CodeExpired, CodeInvalid, UnknownMember
from members.models import Card, Member


@dataclass(frozen=True)
class CodePolicy:
    """What signs and times card codes: the program key and the rotation step."""

    program_key: bytes
    step_seconds: int = 30


@dataclass(frozen=True)
class Resolved:
    member: Member
    card: Card
    kind: str  # digital | static


def issue_card(session: Session, member: Member, kind: str = "digital") -> Card:
    """Give the member a new active card (in the caller's transaction)."""
    if kind not in ("digital", "printed"):
        raise InvalidInput("kind", "must be digital or printed")
    card = Card(
        member=member,
        kind=kind,
        card_no=f"tmp-{uuid.uuid4().hex[:14]}",
        secret=secrets.token_hex(32),
    )
    session.add(card)
    session.flush()
    card.card_no = card_codes.make_card_no(card.id)
    return card


def issue_cards(session: Session, member_ids: list[int], kind: str = "digital") -> None:
    """`issue_card` for many new members at once (an import): one insert."""
    cards = Card.__table__
    ids = reserve_ids(session, cards, len(member_ids))
    insert_rows(
        session,
        cards,
        [
            {
                "id": card_id,
                "member_id": member_id,
                "kind": kind,
                "card_no": card_codes.make_card_no(card_id),
                "secret": secrets.token_hex(32),
            }
            for card_id, member_id in zip(ids, member_ids, strict=True)
        ],
    )


def active_card(member: Member) -> Card | None:
    """The member's first active card by issue (a merge can leave several active)."""
    return next((c for c in member.cards if c.status == "active"), None)


def replace_card(session: Session, member: Member, kind: str | None = None) -> Card:
    """Retire the active card (its codes die with it) and issue a new one."""
    old = active_card(member)
    if old is not None:
        old.status, old.status_changed_at = "replaced", utcnow()
    card = issue_card(session, member, kind or (old.kind if old else "digital"))
    session.flush()
    return card


def set_card_blocked(session: Session, member: Member, card_no: str, blocked: bool) -> Card:
    card = next((c for c in member.cards if c.card_no == card_no), None)
    if card is None:
        raise UnknownMember(f"Member has no card {card_no}.")
    if card.status == "replaced":
        raise Conflict("A replaced card cannot change status.")
    card.status, card.status_changed_at = ("blocked" if blocked else "active"), utcnow()
    session.flush()
    return card


def current_code(card: Card, policy: CodePolicy, now: datetime) -> tuple[str, datetime | None]:
    """The text to put in the card's QR code, and when it expires (None: static)."""
    if card.kind == "printed":
        return card_codes.static_code(card.card_no, policy.program_key), None
    return card_codes.digital_code(
        card.card_no, bytes.fromhex(card.secret), now, policy.step_seconds
    )


def _card_state(card: Card) -> None:
    if card.status == "blocked":
        raise CardBlocked("This card is blocked.")
    if card.status == "replaced":
        raise CardReplaced("This card was replaced; use the new one.")
    if card.member.status == "erased":
        raise CodeInvalid("Code not recognised.")


PRELOADED = "members.cards.preloaded"


def _with_member() -> Any:
    # the member in the same query; its cards and consents only if someone asks
    return joinedload(Card.member).lazyload("*")


def preload_cards(session: Session, codes: Iterable[str]) -> None:
    """Read the cards behind many scanned codes in one query, for `resolve_code` in the same
    database transaction (a batch of receipts)."""
    numbers = {parsed.card_no for code in codes if (parsed := card_codes.parse_code(code))}
    if not numbers:
        return
    found = session.scalars(
        select(Card).where(one_of(session, Card.card_no, numbers)).options(_with_member())
    )
    held = {card.card_no: card for card in found.unique()}
    session.info[PRELOADED] = (transaction_of(session), numbers, held)


def _card(session: Session, card_no: str) -> Card | None:
    """The card and its member: preloaded in this transaction, or read now."""
    preloaded = session.info.get(PRELOADED)
    current = preloaded is not None and preloaded[0] is transaction_of(session)
    if current and card_no in preloaded[1]:
        return preloaded[2].get(card_no)
    return session.scalar(select(Card).where(Card.card_no == card_no).options(_with_member()))


def resolve_code(session: Session, code: str, policy: CodePolicy, now: datetime) -> Resolved:
    """The member behind a scanned code. CodeInvalid (forged/unknown), CodeExpired, CardBlocked."""
    parsed = card_codes.parse_code(code)
    if parsed is None or not card_codes.is_valid_card_no(parsed.card_no):
        raise CodeInvalid("This is not a membership card code.")
    card = _card(session, parsed.card_no)
    if card is None:
        raise CodeInvalid("No card has this code.")
    if parsed.kind == "static":
        if not card_codes.static_code_valid(parsed, policy.program_key):
            raise CodeInvalid("This code is forged.")
    else:
        state = card_codes.digital_code_state(
            parsed, bytes.fromhex(card.secret), now, policy.step_seconds
        )
        if state == "forged":
            raise CodeInvalid("This code is forged.")
        if state == "expired":
            raise CodeExpired("This code has expired; ask for the current one.")
    _card_state(card)
    return Resolved(card.member, card, parsed.kind)


def authorise_redemption(
    session: Session, member_id: int, code: str, policy: CodePolicy, now: datetime
) -> Resolved:
    """A redemption at the till needs the member's current rotating code, not a static one."""
    resolved = resolve_code(session, code, policy, now)
    if resolved.member.id != member_id:
        raise InvalidInput("code", "belongs to another member")
    if resolved.kind != "digital":
        raise InvalidInput("code", "a printed card's code cannot authorise a redemption")
    return resolved

"""Member services: enrolment, profile reads and updates, consent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty.bulk import insert_rows
from loyalty.db import reserve_ids, utcnow
from loyalty.errors import InvalidInput
from loyalty.outbox import emit, emit_each
from members.cards.codes import luhn_check_digit
from members.cards.service import issue_card, issue_cards
from members.errors import DuplicateMember, UnknownMember
from members.models import Consent, Member
from members.phone import InvalidPhone, normalise_phone

CONSENT_CHANNELS = ("marketing_email", "marketing_sms", "marketing_line", "marketing_push")


@dataclass
class Enrolment:
    name: str
    phone: str | None = None
    email: str | None = None
    birthdate: date | None = None
    locale: str = "th"
    consents: dict[str, bool] = field(default_factory=dict)
    external_ref: str | None = None
    store_id: int | None = None
    card_kind: str = "digital"
    enrolled_at: datetime | None = None  # when migrating a member from another system


def _phone(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return normalise_phone(raw)
    except InvalidPhone as exc:
        raise InvalidInput("phone", str(exc)) from exc


def _check_unique(session: Session, phone: str | None, email: str | None, own_id: int = 0) -> None:
    clauses = [c for c in (phone and Member.phone == phone, email and Member.email == email) if c]
    if not clauses:
        return
    clash = session.scalar(select(Member.id).where(or_(*clauses), Member.id != own_id))
    if clash:
        raise DuplicateMember("A member with this phone or email is already enrolled.")


def member_no_for(member_id: int) -> str:
    body = f"{member_id:09d}"
    return body + luhn_check_digit(body)


def enrol_member(session: Session, enrolment: Enrolment) -> Member:
    """Enrol a member with a card; emits member.enrolled. DuplicateMember on phone/email."""
    member = add_member(session, enrolment)
    session.flush()
    return member


def add_member(session: Session, enrolment: Enrolment) -> Member:
    """Enrol a member in the caller's unit of work (an import adds many per commit). A phone
    or an email is required, except for a member imported from another system
    (`external_ref` set), who may have no contact details yet."""
    phone = _phone(enrolment.phone)
    email = enrolment.email.strip().lower() if enrolment.email else None
    if not phone and not email and not enrolment.external_ref:
        raise InvalidInput("phone", "a phone or an email is required")
    _check_unique(session, phone, email)
    member = Member(
        member_no=f"tmp-{uuid.uuid4().hex[:14]}",
        name=enrolment.name.strip(),
        phone=phone,
        email=email,
        birthdate=enrolment.birthdate,
        locale=enrolment.locale,
        external_ref=enrolment.external_ref,
        enrolled_store_id=enrolment.store_id,
        enrolled_at=enrolment.enrolled_at or utcnow(),
    )
    try:
        with session.begin_nested():  # a savepoint: the caller's unit survives a lost race
            session.add(member)
    except IntegrityError as exc:  # a concurrent enrolment took the phone or email
        raise DuplicateMember("A member with this phone or email is already enrolled.") from exc
    member.member_no = member_no_for(member.id)
    _apply_consents(member, enrolment.consents)
    issue_card(session, member, enrolment.card_kind)
    emit(session, "member.enrolled", {"member_id": member.id})
    return member


def add_imported_members(session: Session, enrolments: list[Enrolment]) -> list[int]:
    """Enrol many members imported from another system at once, in the caller's transaction,
    each as `add_member` would (a card, member.enrolled): they have an `external_ref` and no
    phone, email or consents yet. Returns their ids, in the order given."""
    assert all(e.external_ref and not (e.phone or e.email or e.consents) for e in enrolments)
    if not enrolments:
        return []
    members = Member.__table__
    now = utcnow()
    ids = reserve_ids(session, members, len(enrolments))
    insert_rows(
        session,
        members,
        [
            {
                "id": member_id,
                "member_no": member_no_for(member_id),
                "name": e.name.strip(),
                "birthdate": e.birthdate,
                "locale": e.locale,
                "external_ref": e.external_ref,
                "enrolled_store_id": e.store_id,
                "enrolled_at": e.enrolled_at or now,
            }
            for member_id, e in zip(ids, enrolments, strict=True)
        ],
    )
    for kind in sorted({e.card_kind for e in enrolments}):
        issue_cards(
            session, [i for i, e in zip(ids, enrolments, strict=True) if e.card_kind == kind], kind
        )
    emit_each(session, "member.enrolled", "member_id", ids)
    return ids


def _apply_consents(member: Member, consents: dict[str, bool]) -> None:
    current = {c.channel: c for c in member.consents}
    for channel, granted in consents.items():
        if channel not in CONSENT_CHANNELS:
            raise InvalidInput(f"consents.{channel}", "unknown channel")
        existing = current.get(channel)
        if existing is None:
            member.consents.append(Consent(channel=channel, granted=granted))
        elif existing.granted != granted:
            existing.granted, existing.changed_at = granted, utcnow()


def get_member(session: Session, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None:
        raise UnknownMember(f"No member {member_id}.")
    return member


def find_member(
    session: Session, *, member_no: str | None = None, phone: str | None = None
) -> Member:
    """The member with this member number or phone; UnknownMember otherwise."""
    if member_no:
        stmt = select(Member).where(Member.member_no == member_no)
    else:
        stmt = select(Member).where(Member.phone == _phone(phone))
    member = session.scalar(stmt)
    for _hop in range(8):  # a merged profile answers for the one it was merged into
        if member is None or member.status != "merged" or member.merged_into_id is None:
            break
        member = session.get(Member, member.merged_into_id)
    if member is None or member.status != "active":
        raise UnknownMember("No such member.")
    return member


def is_active(session: Session, member_id: int) -> bool:
    """Whether the member may earn, redeem and sign in (not merged away, not erased)."""
    return session.scalar(select(Member.status).where(Member.id == member_id)) == "active"


def update_member(session: Session, member_id: int, changes: dict[str, Any]) -> Member:
    """Change profile fields and consents; phone/email stay unique."""
    member = get_member(session, member_id)
    if "phone" in changes:
        changes["phone"] = _phone(changes["phone"])
    if "email" in changes and changes["email"]:
        changes["email"] = changes["email"].strip().lower()
    _check_unique(session, changes.get("phone"), changes.get("email"), own_id=member.id)
    try:
        with session.begin_nested():  # a concurrent change may take the phone or email
            for name in ("name", "phone", "email", "birthdate", "locale"):
                if name in changes:
                    setattr(member, name, changes[name])
            _apply_consents(member, changes.get("consents") or {})
    except IntegrityError as exc:
        raise DuplicateMember("A member with this phone or email is already enrolled.") from exc
    return member

"""The profile store's sections of a member's data export (PDPA): JSON-ready values."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.models import OutgoingMessage, Store
from loyalty.money import format_minor
from members.hooks import ExportSection
from members.models import (
    Card,
    Consent,
    Member,
    MemberAffinity,
    MemberDay,
    MemberMetrics,
    MemberTag,
    Segment,
    SegmentMember,
    TierChange,
)


def iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def profile(session: Session, member_id: int) -> dict[str, Any]:
    member = session.get(Member, member_id)
    assert member is not None
    store = session.get(Store, member.enrolled_store_id) if member.enrolled_store_id else None
    return {
        **{k: getattr(member, k) for k in ("id", "member_no", "name", "phone", "email")},
        **{k: getattr(member, k) for k in ("locale", "status", "external_ref", "visits")},
        "birthdate": iso(member.birthdate),
        "tier": member.tier_code,
        "tier_since": iso(member.tier_since),
        "enrolled_at": iso(member.enrolled_at),
        "enrolled_store": store.code if store else None,
        "points_balance": member.points_balance,
        "lifetime_spend": format_minor(member.lifetime_spend_minor),
        "first_purchase_at": iso(member.first_purchase_at),
        "last_purchase_at": iso(member.last_purchase_at),
        "merged_into_id": member.merged_into_id,
        "erased_at": iso(member.erased_at),
    }


def consents(session: Session, member_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Consent).where(Consent.member_id == member_id).order_by(Consent.channel)
    )
    return [
        {"channel": c.channel, "granted": c.granted, "changed_at": iso(c.changed_at)} for c in rows
    ]


def cards(session: Session, member_id: int) -> list[dict[str, Any]]:
    """The member's cards; never their secrets."""
    rows = session.scalars(select(Card).where(Card.member_id == member_id).order_by(Card.id))
    return [
        {
            "card_no": c.card_no,
            "kind": c.kind,
            "status": c.status,
            "issued_at": iso(c.issued_at),
            "status_changed_at": iso(c.status_changed_at),
        }
        for c in rows
    ]


def tags(session: Session, member_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(MemberTag).where(MemberTag.member_id == member_id).order_by(MemberTag.tag)
    )
    return [{"tag": t.tag, "created_at": iso(t.created_at)} for t in rows]


def tier_history(session: Session, member_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(TierChange)
        .where(TierChange.member_id == member_id)
        .order_by(TierChange.occurred_at, TierChange.id)
    )
    return [
        {
            "from": t.from_tier,
            "to": t.to_tier,
            "reason": t.reason,
            "policy_version": t.policy_version,
            "occurred_at": iso(t.occurred_at),
        }
        for t in rows
    ]


def metrics(session: Session, member_id: int) -> dict[str, Any]:
    """The scores computed about the member, and the purchase summaries they come from."""
    row = session.get(MemberMetrics, member_id)
    days = session.scalars(
        select(MemberDay).where(MemberDay.member_id == member_id).order_by(MemberDay.day)
    )
    affinities = session.scalars(
        select(MemberAffinity)
        .where(MemberAffinity.member_id == member_id)
        .order_by(MemberAffinity.kind, MemberAffinity.key)
    )
    return {
        "scores": _scores(row) if row is not None else None,
        "purchase_days": [
            {
                "day": iso(d.day),
                "spend": format_minor(d.spend_minor),
                "purchases": d.purchases,
                "points": d.points,
            }
            for d in days
        ],
        "affinities": [
            {
                "kind": a.kind,
                "key": a.key,
                "spend": format_minor(a.spend_minor),
                "purchases": a.purchases,
            }
            for a in affinities
        ],
    }


def _scores(row: MemberMetrics) -> dict[str, Any]:
    def text(value: Any) -> str | None:
        return str(value) if value is not None else None

    return {
        "spend_12m": format_minor(row.spend_12m_minor),
        "purchase_days": row.purchase_days,
        "favourite_category": row.favourite_category,
        "rfm": {"r": row.rfm_r, "f": row.rfm_f, "m": row.rfm_m, "segment": row.rfm_segment},
        "clv": {
            "expected_purchases_365": text(row.clv_purchases_365),
            "p_alive": text(row.clv_p_alive),
            "value_365": format_minor(row.clv_value_365_minor),
        },
        "refreshed_at": iso(row.refreshed_at),
    }


def segments(session: Session, member_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Segment.id, Segment.name, SegmentMember.entered_at)
        .join(SegmentMember, SegmentMember.segment_id == Segment.id)
        .where(SegmentMember.member_id == member_id)
        .order_by(Segment.id)
    )
    return [{"id": r.id, "name": r.name, "entered_at": iso(r.entered_at)} for r in rows]


def messages(session: Session, member_id: int) -> list[dict[str, Any]]:
    """Messages sent to the member as a member (sign-in codes are not kept with them)."""
    rows = session.scalars(
        select(OutgoingMessage)
        .where(OutgoingMessage.member_id == member_id)
        .order_by(OutgoingMessage.id)
    )
    return [
        {
            "channel": m.channel,
            "recipient": m.recipient,
            "subject": m.subject,
            "body": m.body,
            "status": m.status,
            "template": m.template,
            "campaign_id": m.campaign_id,
            "created_at": iso(m.created_at),
            "sent_at": iso(m.sent_at),
        }
        for m in rows
    ]


OWN_SECTIONS: dict[str, ExportSection] = {
    "profile": profile,
    "consents": consents,
    "cards": cards,
    "tags": tags,
    "tier_history": tier_history,
    "metrics": metrics,
    "segments": segments,
    "messages": messages,
}

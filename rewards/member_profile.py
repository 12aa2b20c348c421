"""The ledger's and campaigns' part in member merges, timelines, exports and erasure.

Registered into `members.hooks` by `rewards.init_app`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from members import hooks as profile_hooks
from members.hooks import TimelineEntry, TimelineWindow
from members.models import Member
from members.privacy.export import iso
from members.privacy.row_moves import reassign
from rewards import catalog
from rewards.ledger import journal
from rewards.models import (
    Campaign,
    CampaignApplication,
    JournalEntry,
    PointsLot,
    Posting,
    Redemption,
    Reward,
    Voucher,
)

MERGE_ACCOUNT = "merge"
FORFEIT_ACCOUNT = "forfeiture"


def init_app(app: Flask) -> None:
    for name, step in (
        ("ledger", merge_ledger),
        ("redemptions", merge_redemptions),
        ("vouchers", lambda s, src, dst: reassign(s, Voucher, src, dst)),
        ("campaign_applications", lambda s, src, dst: reassign(s, CampaignApplication, src, dst)),
    ):
        profile_hooks.register_merge_step(app, name, step)
    profile_hooks.register_timeline_source(app, "points", points_timeline)
    profile_hooks.register_timeline_source(app, "campaigns", campaigns_timeline)
    profile_hooks.register_export_section(app, "ledger", ledger_export)
    profile_hooks.register_export_section(app, "points_lots", lots_export)
    profile_hooks.register_export_section(app, "redemptions", redemptions_export)
    profile_hooks.register_export_section(app, "campaigns", campaigns_export)
    profile_hooks.register_erase_step(app, "points_forfeited", forfeit_points)
    profile_hooks.register_erase_step(app, "vouchers_voided", void_vouchers)


# -- merge -----------------------------------------------------------------------------


def _entry(member_id: int, points: int, key: str, text: str) -> journal.Entry:
    return journal.Entry(
        member_id=member_id,
        kind="merge",
        points=points,
        account=MERGE_ACCOUNT,
        key=key,
        cause_type="merge",
        cause_id=key.split(":")[1],
        description=text,
    )


def _settle(session: Session, source_id: int, target_id: int) -> None:
    """When one balance is negative and the other positive, the positive one pays the debt
    first, through the merge account (two entries that net to zero there), so the lots of the
    merged account hold exactly its positive balance, as everywhere else."""
    balances = dict(
        session.execute(
            select(Member.id, Member.points_balance).where(Member.id.in_([source_id, target_id]))
        ).all()
    )
    ordered = sorted((source_id, target_id), key=lambda member: balances[member])
    debtor, creditor = ordered
    debt = min(-balances[debtor], balances[creditor])
    if debt <= 0:
        return
    key = f"merge:{source_id}:into:{target_id}"
    text = f"Balances settled on merging member {source_id} into {target_id}"
    journal.credit(session, _entry(debtor, debt, f"{key}:credit", text), utcnow())
    journal.debit(session, _entry(creditor, debt, f"{key}:debit", text))


def merge_ledger(session: Session, source_id: int, target_id: int) -> int:
    """The source's journal entries, postings and lots become the target's, and its cached
    balance moves with them: every entry still sums to zero and each balance is still the
    sum of its postings. Returns the entries moved."""
    _settle(session, source_id, target_id)
    moved = reassign(session, JournalEntry, source_id, target_id)
    reassign(session, Posting, source_id, target_id)
    reassign(session, PointsLot, source_id, target_id)
    balance = session.scalar(select(Member.points_balance).where(Member.id == source_id)) or 0
    session.execute(
        update(Member)
        .where(Member.id == target_id)
        .values(points_balance=Member.points_balance + balance)
    )
    session.execute(update(Member).where(Member.id == source_id).values(points_balance=0))
    return moved


def merge_redemptions(session: Session, source_id: int, target_id: int) -> int:
    """Redemptions move; an external id the target also used gets a suffix, since a till's
    redemption id is unique per member."""
    taken = select(Redemption.external_id).where(
        Redemption.member_id == target_id, Redemption.external_id.is_not(None)
    )
    clashes = session.execute(
        select(Redemption.id, Redemption.external_id).where(
            Redemption.member_id == source_id, Redemption.external_id.in_(taken)
        )
    ).all()
    for redemption_id, external_id in clashes:
        session.execute(
            update(Redemption)
            .where(Redemption.id == redemption_id)
            .values(external_id=f"{external_id[:36]}~merged-{redemption_id}")
            .execution_options(synchronize_session=False)
        )
    return reassign(session, Redemption, source_id, target_id)


# -- erase -----------------------------------------------------------------------------


def forfeit_points(session: Session, member_id: int, now: datetime) -> int:
    """An erased member's account closes: what is left of the balance is forfeited by an
    entry against the forfeiture account (a negative balance stays as it is)."""
    balance = session.scalar(select(Member.points_balance).where(Member.id == member_id)) or 0
    if balance <= 0:
        return 0
    journal.debit(
        session,
        journal.Entry(
            member_id=member_id,
            kind="forfeit",
            points=balance,
            account=FORFEIT_ACCOUNT,
            key=f"forfeit:erasure:{member_id}",
            cause_type="erasure",
            cause_id=str(member_id),
            description="Forfeited when the member's personal data was erased",
            occurred_at=now,
        ),
    )
    return balance


def void_vouchers(session: Session, member_id: int, _now: datetime) -> int:
    """Unused vouchers of an erased member are voided (their rewards go back in stock)."""
    issued = session.scalars(
        select(Voucher).where(Voucher.member_id == member_id, Voucher.status == "issued")
    ).all()
    for voucher in issued:
        catalog.void_voucher(session, voucher)
    return len(issued)


# -- timeline --------------------------------------------------------------------------


def _signed(points: int) -> str:
    return f"+{points}" if points > 0 else str(points)


def points_timeline(session: Session, window: TimelineWindow) -> list[TimelineEntry]:
    e = JournalEntry
    stmt = window.page(select(e), e.member_id, e.occurred_at, e.id)
    return [
        TimelineEntry(
            at=entry.occurred_at,
            kind="points",
            summary=f"{_signed(entry.points)} points ({entry.kind}): {entry.description}",
            detail={
                "entry_id": entry.id,
                "kind": entry.kind,
                "points": entry.points,
                "balance_after": entry.balance_after,
                "cause": {"type": entry.cause_type, "id": entry.cause_id},
            },
            source="points",
            ref=entry.id,
        )
        for entry in session.scalars(stmt)
    ]


def _effects(results: list[dict[str, Any]], private: bool) -> list[dict[str, Any]]:
    """What the campaign did; voucher codes only for the member and admins."""
    hidden = () if private else ("voucher",)
    return [{k: v for k, v in result.items() if k not in hidden} for result in results]


def campaigns_timeline(session: Session, window: TimelineWindow) -> list[TimelineEntry]:
    a = CampaignApplication
    stmt = select(a, Campaign.name).join(Campaign, Campaign.id == a.campaign_id)
    rows = session.execute(window.page(stmt, a.member_id, a.occurred_at, a.id))
    return [
        TimelineEntry(
            at=application.occurred_at,
            kind="campaign",
            summary=_campaign_summary(name, application),
            detail={
                "campaign_id": application.campaign_id,
                "campaign": name,
                "version": application.version,
                "group": application.group,
                "points": application.points,
                "transaction_id": application.transaction_id,
                "effects": _effects(application.results, window.private),
            },
            source="campaigns",
            ref=application.id,
        )
        for application, name in rows
    ]


def _campaign_summary(name: str, application: CampaignApplication) -> str:
    if application.group == "holdout":
        return f"{name}: held out (control group)"
    points = f", {_signed(application.points)} points" if application.points else ""
    return f"{name}: applied{points}"


# -- export ----------------------------------------------------------------------------


def ledger_export(session: Session, member_id: int) -> list[dict[str, Any]]:
    entries = session.scalars(
        select(JournalEntry).where(JournalEntry.member_id == member_id).order_by(JournalEntry.id)
    )
    return [
        {
            "id": e.id,
            "occurred_at": iso(e.occurred_at),
            "kind": e.kind,
            "points": e.points,
            "balance_after": e.balance_after,
            "description": e.description,
            "cause": {"type": e.cause_type, "id": e.cause_id},
            "store_id": e.store_id,
        }
        for e in entries
    ]


def lots_export(session: Session, member_id: int) -> list[dict[str, Any]]:
    """Points earned together and when what is left of them expires."""
    lots = session.scalars(
        select(PointsLot).where(PointsLot.member_id == member_id).order_by(PointsLot.id)
    )
    return [
        {
            "points": lot.points,
            "remaining": lot.remaining,
            "earned_at": iso(lot.earned_at),
            "expires_at": iso(lot.expires_at),
        }
        for lot in lots
    ]


def redemptions_export(session: Session, member_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Redemption, Voucher, Reward.name)
        .outerjoin(Voucher, Voucher.redemption_id == Redemption.id)
        .outerjoin(Reward, Reward.id == Redemption.reward_id)
        .where(Redemption.member_id == member_id)
        .order_by(Redemption.id)
    )
    return [
        {
            "id": r.id,
            "points": r.points,
            "reward": name,
            "status": r.status,
            "channel": r.channel,
            "store_id": r.store_id,
            "created_at": iso(r.created_at),
            "cancelled_at": iso(r.cancelled_at),
            "voucher": _voucher(voucher),
        }
        for r, voucher, name in rows
    ]


def _voucher(voucher: Voucher | None) -> dict[str, Any] | None:
    if voucher is None:
        return None
    return {
        "code": voucher.code,
        "status": voucher.status,
        "expires_at": iso(voucher.expires_at),
        "used_at": iso(voucher.used_at),
    }


def campaigns_export(session: Session, member_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(CampaignApplication, Campaign.name)
        .join(Campaign, Campaign.id == CampaignApplication.campaign_id)
        .where(CampaignApplication.member_id == member_id)
        .order_by(CampaignApplication.id)
    )
    return [
        {
            "campaign_id": a.campaign_id,
            "campaign": name,
            "group": a.group,
            "points": a.points,
            "occurred_at": iso(a.occurred_at),
            "facts": a.member_facts,
            "effects": a.results,
        }
        for a, name in rows
    ]

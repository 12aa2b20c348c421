"""Redemption services: spending points (optionally on a reward) and cancelling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import InvalidInput
from loyalty.outbox import emit
from members.errors import MemberNotActive
from members.models import Member
from members.service import is_active
from rewards import catalog
from rewards.earning.service import points_expiry
from rewards.errors import (
    ExternalIdConflict,
    RedemptionNotCancellable,
    RewardUnavailable,
    UnknownRedemption,
)
from rewards.ledger import journal
from rewards.models import JournalEntry, Redemption, Reward, Voucher


@dataclass(frozen=True)
class Till:
    """Where and by whom a redemption is made."""

    channel: str  # terminal | cashier | admin | shopper
    store_id: int | None = None
    terminal_id: int | None = None
    staff_user_id: int | None = None


def _replay(
    session: Session, member_id: int, external_id: str, points: int, reward_id: int | None
) -> Redemption | None:
    found = session.scalar(
        select(Redemption).where(
            Redemption.member_id == member_id, Redemption.external_id == external_id
        )
    )
    if found is not None and (found.points != points or found.reward_id != reward_id):
        raise ExternalIdConflict("This external_id was used for a different redemption.")
    return found


def redeem_points(
    session: Session,
    member_id: int,
    points: int | None,
    till: Till,
    reward_id: int | None = None,
    external_id: str | None = None,
) -> tuple[Redemption, bool]:
    """Spend points; returns (redemption, created). A replayed external_id returns the first.

    Raises InsufficientPoints (never below zero), RewardUnavailable, ExternalIdConflict.
    """
    reward = catalog.get_reward(session, reward_id) if reward_id else None
    points = points if points is not None else (reward.points_cost if reward else None)
    if points is None or points <= 0:
        raise InvalidInput("points", "must be a positive number of points")
    if reward is not None and points != reward.points_cost:
        raise InvalidInput("points", f"this reward costs {reward.points_cost} points")
    if external_id and (first := _replay(session, member_id, external_id, points, reward_id)):
        return first, False
    # the member's row first, as the engine takes it (member, then reward): no lock cycle
    journal.lock_member(session, member_id)
    if not is_active(session, member_id) and session.get(Member, member_id) is not None:
        raise MemberNotActive("A merged or erased profile cannot redeem.")
    if reward is not None:
        catalog.reserve_reward(session, reward, utcnow())
    redemption = Redemption(
        member_id=member_id,
        points=points,
        reward_id=reward_id,
        external_id=external_id,
        store_id=till.store_id,
        terminal_id=till.terminal_id,
        staff_user_id=till.staff_user_id,
        channel=till.channel,
    )
    session.add(redemption)
    session.flush()
    entry = journal.debit(session, _entry(redemption, "redeem", "Redeemed", till))
    redemption.balance_after = entry.balance_after
    if reward is not None:
        catalog.issue_voucher(session, reward, redemption)
        emit(
            session,
            "reward.redeemed",
            {"redemption_id": redemption.id, "member_id": member_id, "reward_id": reward.id},
        )
    session.flush()
    return redemption, True


def reward_name(session: Session, voucher: Voucher) -> str:
    reward = session.get(Reward, voucher.reward_id)
    return reward.name if reward else ""


def grant_reward(
    session: Session, member_id: int, reward_id: int, campaign_id: int, now: datetime
) -> Voucher | None:
    """A reward given by a campaign: a voucher at no points, or None when out of stock or
    window. Runs inside the caller's transaction."""
    reward = session.get(Reward, reward_id)
    if reward is None:
        return None
    try:
        with session.begin_nested():
            catalog.reserve_reward(session, reward, now)
    except RewardUnavailable:
        return None
    redemption = Redemption(
        member_id=member_id,
        points=0,
        reward_id=reward_id,
        channel="campaign",
        campaign_id=campaign_id,
        balance_after=0,
    )
    session.add(redemption)
    session.flush()
    return catalog.issue_voucher(session, reward, redemption)


def _entry(redemption: Redemption, kind: str, text: str, till: Till) -> journal.Entry:
    return journal.Entry(
        member_id=redemption.member_id,
        kind=kind,
        points=redemption.points,
        account="redemption",
        key=f"{kind}:redemption:{redemption.id}",
        cause_type="redemption",
        cause_id=str(redemption.id),
        description=f"{text} (redemption {redemption.id})",
        store_id=till.store_id,
        terminal_id=till.terminal_id,
        staff_user_id=till.staff_user_id,
    )


def get_redemption(session: Session, redemption_id: int) -> Redemption:
    found = session.get(Redemption, redemption_id)
    if found is None:
        raise UnknownRedemption(f"No redemption {redemption_id}.")
    return found


def cancel_redemption(
    session: Session, redemption_id: int, till: Till, timezone: str
) -> Redemption:
    """Give the points back to the lots they came from; void the unused voucher.

    RedemptionNotCancellable if already cancelled or its voucher was used.
    """
    redemption = get_redemption(session, redemption_id)
    if redemption.channel == "campaign":
        raise RedemptionNotCancellable("A campaign's gift has no points to give back.")
    journal.lock_member(session, redemption.member_id)  # before the reward row, as redeeming
    claimed = session.execute(
        update(Redemption)
        .where(Redemption.id == redemption_id, Redemption.status == "completed")
        .values(status="cancelled", cancelled_at=utcnow())
    ).rowcount
    if not claimed:
        raise RedemptionNotCancellable("This redemption is already cancelled.")
    voucher = session.scalar(select(Voucher).where(Voucher.redemption_id == redemption_id))
    if voucher is not None:
        catalog.void_voucher(session, voucher)
    debit_entry = journal.find_entry(session, f"redeem:redemption:{redemption.id}")
    assert isinstance(debit_entry, JournalEntry)
    spec = _entry(redemption, "reverse", "Cancelled", till)
    expires_at = points_expiry(session, utcnow(), timezone)
    entry = journal.credit(session, spec, expires_at, restore_from=debit_entry.id)
    redemption.balance_after = entry.balance_after
    session.flush()
    session.refresh(redemption)
    return redemption


def voucher_of(session: Session, redemption: Redemption) -> Voucher | None:
    return session.scalar(select(Voucher).where(Voucher.redemption_id == redemption.id))

"""The rewards catalog and vouchers: stock, validity windows, using a voucher once."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import InvalidInput
from rewards.errors import RewardUnavailable, UnknownReward, UnknownVoucher, VoucherNotUsable
from rewards.models import Redemption, Reward, Voucher

VOUCHER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
EDITABLE = (
    "name",
    "description",
    "points_cost",
    "stock",
    "starts_at",
    "ends_at",
    "voucher_days",
    "active",
)


def create_reward(session: Session, fields: dict[str, Any]) -> Reward:
    _check_window(fields.get("starts_at"), fields.get("ends_at"))
    reward = Reward(**{k: v for k, v in fields.items() if k in EDITABLE})
    session.add(reward)
    session.flush()
    return reward


def update_reward(session: Session, reward_id: int, fields: dict[str, Any]) -> Reward:
    reward = get_reward(session, reward_id)
    merged = {k: fields.get(k, getattr(reward, k)) for k in ("starts_at", "ends_at")}
    _check_window(merged["starts_at"], merged["ends_at"])
    if fields.get("stock") is not None and fields["stock"] < reward.issued:
        raise InvalidInput("stock", f"{reward.issued} are already issued")
    for key in EDITABLE:
        if key in fields:
            setattr(reward, key, fields[key])
    session.flush()
    return reward


def _check_window(starts_at: datetime | None, ends_at: datetime | None) -> None:
    if starts_at and ends_at and ends_at <= starts_at:
        raise InvalidInput("ends_at", "must be after starts_at")


def get_reward(session: Session, reward_id: int) -> Reward:
    reward = session.get(Reward, reward_id)
    if reward is None:
        raise UnknownReward(f"No reward {reward_id}.")
    return reward


def list_rewards(session: Session, available_at: datetime | None = None) -> list[Reward]:
    """The catalog; with `available_at`, only rewards that can be redeemed then."""
    stmt = select(Reward).order_by(Reward.points_cost, Reward.id)
    if available_at is not None:
        stmt = stmt.where(
            Reward.active.is_(True),
            or_(Reward.starts_at.is_(None), Reward.starts_at <= available_at),
            or_(Reward.ends_at.is_(None), Reward.ends_at > available_at),
            or_(Reward.stock.is_(None), Reward.issued < Reward.stock),
        )
    return list(session.scalars(stmt))


def reserve_reward(session: Session, reward: Reward, now: datetime) -> None:
    """Take one from stock, atomically; RewardUnavailable when inactive, out of window or stock."""
    if (
        not reward.active
        or (reward.starts_at and reward.starts_at > now)
        or (reward.ends_at and reward.ends_at <= now)
    ):
        raise RewardUnavailable("This reward cannot be redeemed now.")
    taken = session.execute(
        update(Reward)
        .where(Reward.id == reward.id, or_(Reward.stock.is_(None), Reward.issued < Reward.stock))
        .values(issued=Reward.issued + 1)
    ).rowcount
    if not taken:
        raise RewardUnavailable("This reward is out of stock.")


def _voucher_code() -> str:
    return "V" + "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(11))


def issue_voucher(session: Session, reward: Reward, redemption: Redemption) -> Voucher:
    voucher = Voucher(
        code=_voucher_code(),
        reward_id=reward.id,
        member_id=redemption.member_id,
        redemption_id=redemption.id,
        expires_at=utcnow() + timedelta(days=reward.voucher_days),
    )
    session.add(voucher)
    return voucher


def void_voucher(session: Session, voucher: Voucher) -> None:
    """Void an unused voucher and put its reward back in stock."""
    voided = session.execute(
        update(Voucher)
        .where(Voucher.id == voucher.id, Voucher.status == "issued")
        .values(status="void")
    ).rowcount
    if not voided:
        from rewards.errors import RedemptionNotCancellable

        raise RedemptionNotCancellable("Its voucher was already used.")
    session.execute(
        update(Reward).where(Reward.id == voucher.reward_id).values(issued=Reward.issued - 1)
    )
    session.refresh(voucher)


def get_voucher(session: Session, code: str) -> Voucher:
    voucher = session.scalar(select(Voucher).where(Voucher.code == code.strip().upper()))
    if voucher is None:
        raise UnknownVoucher("No voucher has this code.")
    return voucher


def use_voucher(session: Session, code: str, store_id: int | None, used_by: str) -> Voucher:
    """Mark a voucher used, once; VoucherNotUsable if used, void or expired."""
    voucher = get_voucher(session, code)
    now = utcnow()
    if voucher.status == "issued" and voucher.expires_at <= now:
        raise VoucherNotUsable("This voucher has expired.")
    used = session.execute(
        update(Voucher)
        .where(Voucher.id == voucher.id, Voucher.status == "issued")
        .values(status="used", used_at=now, used_store_id=store_id, used_by=used_by)
    ).rowcount
    if not used:
        raise VoucherNotUsable(f"This voucher is {voucher.status}.")
    session.flush()
    session.refresh(voucher)
    return voucher

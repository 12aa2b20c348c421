"""The POS links' part in member merges and erasure (`members.hooks`): a merged member's
vendor customers follow it; an erased member's are forgotten."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from sqlalchemy.orm import Session

from members import hooks as profile_hooks
from members.privacy.row_moves import drop, reassign
from pos_adapters.models import PosCustomer


def init_app(app: Flask) -> None:
    profile_hooks.register_merge_step(app, "pos_customers", merge_links)
    profile_hooks.register_erase_step(app, "pos_customers", erase_links)


def merge_links(session: Session, source_id: int, target_id: int) -> int:
    return reassign(session, PosCustomer, source_id, target_id)


def erase_links(session: Session, member_id: int, _now: datetime) -> int:
    return drop(session, PosCustomer, member_id)

"""Tier rules: which tier a qualifying spend reaches and how far the next one is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class TierStep:
    code: str
    name: str
    threshold_minor: int
    multiplier: Decimal


def tier_for_spend(ladder: Sequence[TierStep], spend_minor: int) -> TierStep:
    """The highest tier whose threshold the spend reaches (the ladder sorted by threshold)."""
    reached = [t for t in ladder if t.threshold_minor <= spend_minor]
    return reached[-1] if reached else ladder[0]


def progress(ladder: Sequence[TierStep], current_code: str, spend_minor: int) -> dict:
    """Next tier and the spend (minor units) still needed to reach it."""
    above = [t for t in ladder if t.threshold_minor > spend_minor]
    nxt = above[0] if above else None
    return {
        "tier": current_code,
        "qualifying_spend_minor": spend_minor,
        "next_tier": nxt.code if nxt else None,
        "spend_to_next_minor": (nxt.threshold_minor - spend_minor) if nxt else None,
    }

"""Lot rules: when points expire and which lots a debit takes from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo


def expiry_for(earned_at: datetime, months: int, timezone: str) -> datetime:
    """The end of the `months`-th month after the month of `earned_at`, in the program's zone."""
    local = earned_at.astimezone(ZoneInfo(timezone))
    index = local.year * 12 + (local.month - 1) + months + 1  # the month after the last one
    first_after = datetime.combine(
        datetime(index // 12, index % 12 + 1, 1).date(), time.min, tzinfo=ZoneInfo(timezone)
    )
    return first_after.astimezone(UTC)


def allocate(open_lots: Sequence[tuple[int, int]], points: int) -> list[tuple[int, int]]:
    """Take `points` from (lot_id, remaining) pairs in the order given (earliest expiry first).

    Returns (lot_id, taken) pairs; takes less than asked only if the lots run out.
    """
    taken: list[tuple[int, int]] = []
    left = points
    for lot_id, remaining in open_lots:
        if left <= 0:
            break
        take = min(remaining, left)
        if take > 0:
            taken.append((lot_id, take))
            left -= take
    return taken


def lot_share_of_credit(points: int, balance_after: int) -> int:
    """How much of a credit lands in lots: a negative balance is paid off first."""
    return max(0, min(points, balance_after))


def lot_share_of_debit(points: int, balance_before: int) -> int:
    """How much of a debit comes out of lots: beyond a zero balance there are none."""
    return max(0, min(points, balance_before))

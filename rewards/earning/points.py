"""Earning rules: points for a receipt, and what a refund takes back."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal


@dataclass(frozen=True)
class EarnBasis:
    """The rate and multiplier a sale earned at; a refund is recomputed on the same basis."""

    points: int
    amount_minor: int
    multiplier: Decimal = Decimal(1)

    def as_dict(self) -> dict[str, str | int]:
        return {
            "points": self.points,
            "amount_minor": self.amount_minor,
            "multiplier": str(self.multiplier),
        }

    @classmethod
    def from_dict(cls, data: dict) -> EarnBasis:
        return cls(int(data["points"]), int(data["amount_minor"]), Decimal(str(data["multiplier"])))


def base_points(total_minor: int, basis: EarnBasis) -> int:
    """`points` per whole `amount` of the total, rounded down per receipt, times the multiplier."""
    if total_minor <= 0:
        return 0
    units = total_minor // basis.amount_minor
    return int((Decimal(units * basis.points) * basis.multiplier).to_integral_value(ROUND_FLOOR))


def refund_reversal(
    sale_total_minor: int,
    refunded_before_minor: int,
    refund_minor: int,
    awarded_net: int,
    basis: EarnBasis,
) -> int:
    """Points to reverse for a refund: the sale is recomputed on what is left of it."""
    left = max(0, sale_total_minor - refunded_before_minor - refund_minor)
    return max(0, awarded_net - base_points(left, basis))

"""Money as integer minor units inside, decimal strings at the edge, Decimal in between."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# Currencies with two minor digits that the program accepts.
CURRENCIES = frozenset({"THB", "USD", "SGD", "MYR", "EUR", "GBP", "HKD", "PHP", "AUD", "CNY"})
MAX_AMOUNT = Decimal("99999999.99")


def to_minor(amount: Decimal) -> int:
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def from_minor(minor: int) -> Decimal:
    return (Decimal(minor) / 100).quantize(Decimal("0.01"))


def format_minor(minor: int | None) -> str | None:
    return None if minor is None else f"{from_minor(minor):.2f}"

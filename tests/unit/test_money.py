"""Money: integer minor units inside, decimal strings at the edge, Decimal in between."""

from decimal import Decimal

import pytest

from loyalty.money import CURRENCIES, MAX_AMOUNT, format_minor, from_minor, to_minor


@pytest.mark.parametrize(
    ("amount", "minor"),
    [
        ("130.00", 13000),
        ("130", 13000),
        ("0.01", 1),
        ("0", 0),
        ("25.5", 2550),
        ("99999999.99", 9999999999),
    ],
)
def test_an_amount_becomes_whole_minor_units(amount, minor):
    assert to_minor(Decimal(amount)) == minor
    assert isinstance(to_minor(Decimal(amount)), int)


@pytest.mark.parametrize(
    ("amount", "minor"),
    [("0.005", 1), ("0.004", 0), ("1.235", 124), ("1.245", 125), ("-0.005", -1)],
)
def test_fractions_of_a_minor_unit_round_half_up(amount, minor):
    assert to_minor(Decimal(amount)) == minor


def test_minor_units_become_an_exact_two_place_decimal():
    assert from_minor(13000) == Decimal("130.00")
    assert str(from_minor(13000)) == "130.00"
    assert str(from_minor(5)) == "0.05"
    assert str(from_minor(-250)) == "-2.50"


@pytest.mark.parametrize(
    ("minor", "text"),
    [(13000, "130.00"), (5, "0.05"), (0, "0.00"), (9999999999, "99999999.99")],
)
def test_the_api_shows_amounts_as_two_place_decimal_strings(minor, text):
    assert format_minor(minor) == text


def test_a_missing_amount_stays_missing():
    assert format_minor(None) is None


def test_amounts_round_trip_exactly_without_floats():
    for text in ("0.10", "0.20", "0.30", "1234567.89", str(MAX_AMOUNT)):
        assert format_minor(to_minor(Decimal(text))) == text
    assert to_minor(Decimal("0.10")) + to_minor(Decimal("0.20")) == to_minor(Decimal("0.30"))


def test_the_program_currency_is_among_the_two_decimal_currencies():
    assert "THB" in CURRENCIES
    assert "JPY" not in CURRENCIES  # no minor unit: not representable as two places

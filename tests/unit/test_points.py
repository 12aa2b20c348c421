"""Earning rules: points for a receipt, and what a refund takes back."""

from decimal import Decimal

import pytest

from rewards.earning.points import EarnBasis, base_points, refund_reversal

DEFAULT = EarnBasis(points=1, amount_minor=2500)


@pytest.mark.parametrize(
    ("total_minor", "points"),
    [
        (13000, 5),  # 130.00 THB
        (2500, 1),  # exactly 25.00
        (2499, 0),  # 24.99 earns nothing
        (4999, 1),  # rounded down, not to the nearest
        (5000, 2),
        (1, 0),
        (0, 0),
        (9999999999, 3999999),  # the largest amount a receipt may carry
    ],
)
def test_a_receipt_earns_one_point_per_whole_25_baht_rounded_down(total_minor, points):
    assert base_points(total_minor, DEFAULT) == points


def test_a_negative_total_earns_nothing():
    assert base_points(-2500, DEFAULT) == 0


def test_rounding_is_per_receipt_not_per_item():
    # Two 24.00 items on one receipt earn a point; on two receipts they would earn none.
    assert base_points(4800, DEFAULT) == 1
    assert base_points(2400, DEFAULT) + base_points(2400, DEFAULT) == 0


def test_the_rate_is_data_points_per_amount():
    assert base_points(13000, EarnBasis(points=2, amount_minor=1000)) == 26
    assert base_points(999, EarnBasis(points=2, amount_minor=1000)) == 0


@pytest.mark.parametrize(
    ("multiplier", "points"),
    [
        (Decimal("1"), 5),
        (Decimal("1.5"), 7),  # 7.5 rounds down
        (Decimal("2"), 10),
        (Decimal("1.25"), 6),  # 6.25
        (Decimal("0.5"), 2),  # 2.5
    ],
)
def test_a_tier_multiplier_applies_to_the_receipts_points_and_rounds_down(multiplier, points):
    basis = EarnBasis(points=1, amount_minor=2500, multiplier=multiplier)
    assert base_points(13000, basis) == points


def test_the_multiplier_applies_after_rounding_to_whole_units():
    # 49.99 is one whole unit: 1 x 1.5 = 1, not floor(1.9996 x 1.5) = 2.
    assert base_points(4999, EarnBasis(1, 2500, Decimal("1.5"))) == 1


def test_an_earn_basis_survives_being_stored_as_json_values():
    basis = EarnBasis(points=3, amount_minor=2000, multiplier=Decimal("1.250"))
    stored = basis.as_dict()
    assert stored == {"points": 3, "amount_minor": 2000, "multiplier": "1.250"}
    assert EarnBasis.from_dict(stored) == basis


def test_a_full_refund_reverses_every_point_of_the_sale():
    assert refund_reversal(13000, 0, 13000, 5, DEFAULT) == 5


def test_a_partial_refund_reverses_the_difference_recomputed_on_what_is_left():
    # 130.00 earned 5; after refunding 30.00, 100.00 is left and earns 4: reverse 1.
    assert refund_reversal(13000, 0, 3000, 5, DEFAULT) == 1


def test_a_small_refund_that_leaves_the_points_unchanged_reverses_nothing():
    # 125.00 left still earns 5.
    assert refund_reversal(13000, 0, 500, 5, DEFAULT) == 0


def test_repeated_small_refunds_add_up_to_the_points_of_what_is_left():
    sale, awarded, refunded = 13000, 5, 0
    reversed_total = 0
    for refund in (500, 500, 500, 500):  # 20.00 in four steps leaves 110.00: 4 points
        reversal = refund_reversal(sale, refunded, refund, awarded, DEFAULT)
        awarded -= reversal
        refunded += refund
        reversed_total += reversal
    assert reversed_total == 1
    assert awarded == base_points(sale - refunded, DEFAULT) == 4


def test_refunding_the_rest_of_a_partly_refunded_sale_reverses_what_it_still_holds():
    # 30.00 refunded earlier (1 point reversed, 4 held); refund the remaining 100.00.
    assert refund_reversal(13000, 3000, 10000, 4, DEFAULT) == 4


def test_a_refund_reverses_at_the_multiplier_the_sale_earned_at():
    gold = EarnBasis(1, 2500, Decimal("2"))
    # 130.00 earned 10 at x2; 80.00 left earns 3 x 2 = 6: reverse 4.
    assert refund_reversal(13000, 0, 5000, 10, gold) == 4


def test_a_refund_never_reverses_more_than_the_sale_still_holds():
    # The sale's points were already reversed elsewhere: nothing more to take.
    assert refund_reversal(13000, 0, 13000, 0, DEFAULT) == 0
    assert refund_reversal(13000, 0, 3000, 2, DEFAULT) == 0


def test_a_refund_larger_than_what_is_left_is_treated_as_refunding_everything_left():
    assert refund_reversal(13000, 10000, 5000, 1, DEFAULT) == 1

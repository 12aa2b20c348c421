"""The campaign rule language: conditions over facts and the points effects are worth."""

from decimal import Decimal

import pytest

from rewards.campaigns.rules import (
    Line,
    condition_problems,
    evaluate,
    extra_for_multiplier,
    points_per_amount,
    scoped_amount,
)

FACTS = {
    "transaction.total": Decimal("130.00"),
    "transaction.store": "BKK01",
    "transaction.hour": 9,
    "transaction.weekday": 0,
    "items.sku": ["CF-LATTE", "BK-CROISSANT"],
    "items.category": ["coffee", "bakery"],
    "items.quantity": Decimal(3),
    "member.tier": "gold",
    "member.visits": 12,
    "member.tags": ["vip"],
    "member.birthday_month": 11,
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"fact": "transaction.total", "op": "gte", "value": "100.00"}, True),
        ({"fact": "transaction.total", "op": "gt", "value": "130.00"}, False),
        ({"fact": "transaction.total", "op": "between", "value": ["100", "130"]}, True),
        ({"fact": "transaction.hour", "op": "lt", "value": 10}, True),
        ({"fact": "transaction.store", "op": "eq", "value": "BKK01"}, True),
        ({"fact": "transaction.store", "op": "ne", "value": "BKK01"}, False),
        ({"fact": "transaction.store", "op": "in", "value": ["BKK02", "BKK03"]}, False),
        ({"fact": "transaction.store", "op": "not_in", "value": ["BKK02"]}, True),
        ({"fact": "transaction.store", "op": "contains", "value": "BKK"}, True),
        ({"fact": "items.category", "op": "contains", "value": "coffee"}, True),
        ({"fact": "items.category", "op": "in", "value": ["tea", "bakery"]}, True),
        ({"fact": "items.category", "op": "not_in", "value": ["tea", "bakery"]}, False),
        ({"fact": "items.sku", "op": "eq", "value": "CF-LATTE"}, True),
        ({"fact": "items.sku", "op": "ne", "value": "CF-LATTE"}, False),
        ({"fact": "member.tags", "op": "contains", "value": "vip"}, True),
        ({"fact": "member.tier", "op": "in", "value": ["silver", "gold"]}, True),
        ({"fact": "member.nth_purchase", "op": "eq", "value": 5}, False),
        ({"fact": "member.nth_purchase", "op": "ne", "value": 5}, True),
        ({"fact": "member.visits", "op": "gte", "value": "not a number"}, False),
    ],
)
def test_each_op_compares_a_fact_with_a_value(condition, expected):
    assert evaluate(condition, FACTS) is expected


def test_all_any_and_not_combine_tests():
    coffee_before_ten = {
        "all": [
            {"fact": "items.category", "op": "contains", "value": "coffee"},
            {"fact": "transaction.hour", "op": "lt", "value": 10},
        ]
    }
    assert evaluate(coffee_before_ten, FACTS)
    assert not evaluate({"not": coffee_before_ten}, FACTS)
    assert evaluate(
        {"any": [{"not": coffee_before_ten}, {"fact": "member.tier", "op": "eq", "value": "gold"}]},
        FACTS,
    )
    assert evaluate(None, FACTS)
    assert evaluate({}, FACTS)


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ({"fact": "transaction.colour", "op": "eq", "value": 1}, "unknown fact"),
        ({"fact": "transaction.total", "op": "like", "value": 1}, "unknown op"),
        ({"fact": "transaction.total", "op": "in", "value": 1}, "takes a list"),
        ({"fact": "transaction.total", "op": "between", "value": [1]}, "[low, high]"),
        ({"all": []}, "non-empty list"),
        ({"all": [{"fact": "x"}]}, "{fact, op, value}"),
        ("text", "is an object"),
        ({"fact": "member.tier", "op": "eq", "value": "gold", "extra": 1}, "{fact, op, value}"),
    ],
)
def test_malformed_conditions_are_named(condition, problem):
    problems = condition_problems(condition)
    assert problems
    assert problem in problems[0]


def test_hostile_nesting_is_refused():
    deep: dict = {"fact": "member.tier", "op": "eq", "value": "gold"}
    for _ in range(20):
        deep = {"not": deep}
    assert "deeper" in condition_problems(deep)[0]


def test_a_well_formed_condition_has_no_problems():
    assert (
        condition_problems({"any": [{"not": {"fact": "member.tier", "op": "eq", "value": "x"}}]})
        == []
    )


LINES = [
    Line("CF-LATTE", "coffee", Decimal(2), 13000),
    Line("BK-CROISSANT", "bakery", Decimal(1), 8500),
]


def test_a_scope_picks_the_matching_lines_or_else_the_whole_total():
    assert scoped_amount(LINES, {"category": ["coffee"]}, 21500) == 13000
    assert scoped_amount(LINES, {"sku": ["BK-CROISSANT"]}, 21500) == 8500
    assert scoped_amount(LINES, None, 20000) == 20000


def test_points_per_amount_rounds_down_per_whole_amount():
    assert points_per_amount(13000, 2, 2500) == 10
    assert points_per_amount(2499, 2, 2500) == 0
    assert points_per_amount(-100, 2, 2500) == 0


def test_a_multiplier_adds_the_difference_rounded_down():
    assert extra_for_multiplier(5, Decimal(2)) == 5
    assert extra_for_multiplier(5, Decimal("1.5")) == 2
    assert extra_for_multiplier(5, Decimal("0.5")) == 0

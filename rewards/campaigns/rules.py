"""The campaign rule language: conditions over facts, and the points its effects are worth.

Rules are JSON data, evaluated here by plain functions (no eval, no code in the database):
- a condition is {"all": [...]}, {"any": [...]}, {"not": {...}} or
  {"fact": F, "op": OP, "value": V};
- facts are read from a flat mapping such as {"transaction.total": Decimal("130.00"),
  "items.category": ["coffee"], "member.tier": "gold"}; list-valued facts match when any
  element does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

FACTS = (
    "transaction.total",
    "transaction.store",
    "transaction.hour",
    "transaction.weekday",
    "items.sku",
    "items.category",
    "items.quantity",
    "member.tier",
    "member.visits",
    "member.lifetime_spend",
    "member.days_since_enrolment",
    "member.birthday_month",
    "member.tags",
    "member.nth_purchase",
    "reward.id",
    "tier.from",
    "tier.to",
    "points.expiring",
)
# Facts that only one kind of event carries (the rest describe the member, always known).
EVENT_FACTS = {
    "transaction.recorded": frozenset(f for f in FACTS if f.startswith(("transaction.", "items."))),
    "reward.redeemed": frozenset({"reward.id"}),
    "tier.changed": frozenset({"tier.from", "tier.to"}),
    "points.expiring": frozenset({"points.expiring"}),
}
LIST_FACTS = frozenset({"items.sku", "items.category", "member.tags"})
OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "between")
MAX_DEPTH = 8


def _number(value: Any) -> Any:
    """Compare numbers exactly: strings such as "100.00" become Decimal."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        return value
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return value


def _between(actual: Any, value: Any) -> bool:
    low, high = value
    return _number(low) <= _number(actual) <= _number(high)


SCALAR_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, v: _number(a) == _number(v),
    "ne": lambda a, v: _number(a) != _number(v),
    "gt": lambda a, v: _number(a) > _number(v),
    "gte": lambda a, v: _number(a) >= _number(v),
    "lt": lambda a, v: _number(a) < _number(v),
    "lte": lambda a, v: _number(a) <= _number(v),
    "in": lambda a, v: any(_number(a) == _number(x) for x in v),
    "not_in": lambda a, v: all(_number(a) != _number(x) for x in v),
    "contains": lambda a, v: isinstance(a, str) and str(v) in a,
    "between": _between,
}


def _list_match(op: str, actual: Iterable[Any], value: Any) -> bool:
    items = list(actual)
    if op == "contains":
        return value in items
    if op == "not_in":
        return not any(x in value for x in items)
    if op == "ne":
        return value not in items
    return any(_safe(SCALAR_OPS[op], x, value) for x in items)


def _safe(test: Callable[[Any, Any], bool], actual: Any, value: Any) -> bool:
    """A comparison that cannot be made (a missing fact, mixed types) is simply false."""
    try:
        return bool(test(actual, value))
    except (TypeError, ValueError, ArithmeticError):
        return False


def evaluate(condition: Mapping[str, Any] | None, facts: Mapping[str, Any]) -> bool:
    """Whether the facts satisfy the condition; an empty condition always holds."""
    if not condition:
        return True
    if "all" in condition:
        return all(evaluate(c, facts) for c in condition["all"])
    if "any" in condition:
        return any(evaluate(c, facts) for c in condition["any"])
    if "not" in condition:
        return not evaluate(condition["not"], facts)
    fact, op, value = condition["fact"], condition["op"], condition.get("value")
    actual = facts.get(fact)
    if actual is None:
        return op in ("ne", "not_in")
    if fact in LIST_FACTS:
        return _list_match(op, actual, value)
    return _safe(SCALAR_OPS[op], actual, value)


def condition_problems(condition: Any, depth: int = 0) -> list[str]:
    """What is wrong with a condition tree (empty when it is well formed)."""
    if depth > MAX_DEPTH:
        return [f"nested deeper than {MAX_DEPTH} levels"]
    if not isinstance(condition, Mapping):
        return ["a condition is an object"]
    keys = set(condition)
    if keys in ({"all"}, {"any"}):
        children = condition[next(iter(keys))]
        if not isinstance(children, list) or not children:
            return [f"'{next(iter(keys))}' takes a non-empty list"]
        return [p for child in children for p in condition_problems(child, depth + 1)]
    if keys == {"not"}:
        return condition_problems(condition["not"], depth + 1)
    return _leaf_problems(condition)


def _leaf_problems(condition: Mapping[str, Any]) -> list[str]:
    if not {"fact", "op"} <= set(condition) or set(condition) - {"fact", "op", "value"}:
        return ["a test is {fact, op, value}"]
    if condition["fact"] not in FACTS:
        return [f"unknown fact {condition['fact']!r}"]
    op, value = condition["op"], condition.get("value")
    if op not in OPS:
        return [f"unknown op {op!r}"]
    if op in ("in", "not_in") and not isinstance(value, list):
        return [f"'{op}' takes a list"]
    if op == "between" and not (isinstance(value, list) and len(value) == 2):
        return ["'between' takes [low, high]"]
    return []


def facts_in(condition: Any) -> set[str]:
    """Every fact a (well-formed) condition reads."""
    if not isinstance(condition, Mapping) or not condition:
        return set()
    for key in ("all", "any"):
        if key in condition:
            return {f for child in condition[key] for f in facts_in(child)}
    if "not" in condition:
        return facts_in(condition["not"])
    return {condition["fact"]}


def facts_foreign_to(trigger: str, condition: Any) -> set[str]:
    """Facts a condition reads that events of this trigger never carry."""
    carried = EVENT_FACTS.get(trigger, frozenset())
    foreign = set().union(*(f for t, f in EVENT_FACTS.items() if t != trigger))
    return (facts_in(condition) & foreign) - carried


@dataclass(frozen=True)
class Line:
    """A receipt line as the rules see it."""

    sku: str
    category: str
    quantity: Decimal
    amount_minor: int  # quantity × unit price


def scoped_amount(
    lines: Sequence[Line], scope: Mapping[str, Sequence[str]] | None, total_minor: int
) -> int:
    """The amount a scoped effect applies to: matching lines, or the whole total."""
    if not scope:
        return total_minor
    skus, categories = set(scope.get("sku", ())), set(scope.get("category", ()))
    return sum(
        line.amount_minor for line in lines if line.sku in skus or line.category in categories
    )


def points_per_amount(amount_minor: int, points: int, per_minor: int) -> int:
    """`points` for each whole `per` of the amount, rounded down."""
    return 0 if amount_minor <= 0 else (amount_minor // per_minor) * points


def extra_for_multiplier(base_points: int, factor: Decimal) -> int:
    """The bonus that turns `base_points` into `factor` times as many (rounded down)."""
    extra = Decimal(base_points) * (factor - 1)
    return max(0, int(extra.to_integral_value(ROUND_FLOOR)))

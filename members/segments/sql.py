"""Segment rules compiled to SQL: the campaign condition language over profile facts.

A rule is {"all": [...]}, {"any": [...]}, {"not": {...}} or a test {"fact", "op", "value"}, as
in campaigns (rewards/campaigns/rules.py), over the facts in FACTS. `problems` says what is
wrong with a rule; `members_query` turns a sound rule into one SELECT of member ids (an outer
join to the metrics, EXISTS subqueries for the list facts). Day boundaries are computed here,
in the program's time zone, so the SQL is the same on SQLite and PostgreSQL.

A fact a member does not have (no purchase yet, no RFM score) makes a test false, and `ne` /
`not_in` true, as in campaigns; list facts (store, category, tags, consent) match with
`contains` / `eq` / `in` when any element does, with `ne` / `not_in` when none does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    exists,
    extract,
    false,
    func,
    not_,
    or_,
    select,
)

from loyalty.models import Store
from members.metrics.rfm import SEGMENTS as RFM_SEGMENTS
from members.metrics.service import year_before
from members.models import (
    Consent,
    Member,
    MemberAffinity,
    MemberDay,
    MemberMetrics,
    MemberTag,
)
from members.service import CONSENT_CHANNELS

MAX_DEPTH = 8
MAX_TESTS = 100
MAX_VALUES = 100  # in one test
MAX_RULE_VALUES = 1000  # in a rule: each day of an `in` on a day fact is a range to compare
SCALAR_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "between")
TEXT_OPS = ("eq", "ne", "in", "not_in")
LIST_OPS = ("eq", "ne", "in", "not_in", "contains")
MONEY_RE = re.compile(r"^-?\d{1,10}(\.\d{1,2})?$")
SHARE_RE = re.compile(r"^\d(\.\d{1,6})?$")
FLIPPED = {"gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte"}
ALWAYS_KNOWN = frozenset({"tier", "status", "spend", "spend_12m", "visits"})  # never NULL


def _text(limit: int) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or not 1 <= len(value) <= limit:
            raise ValueError(f"must be text of 1 to {limit} characters")
        return value

    return parse


def _whole(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value

    return parse


def _money(value: Any) -> int:
    """An amount as a decimal string ("1000.00") or a whole number, in minor units."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**10:
        return value * 100
    if isinstance(value, str) and MONEY_RE.match(value):
        return int(Decimal(value) * 100)
    raise ValueError('must be an amount such as "1000.00"')


def _share(value: Any) -> Decimal:
    """A probability from 0 to 1, as a number or a decimal string ("0.5")."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
        return Decimal(str(value))
    if isinstance(value, str) and SHARE_RE.match(value) and Decimal(value) <= 1:
        return Decimal(value)
    raise ValueError('must be a number from 0 to 1 such as "0.5"')


def _date(value: Any) -> date:
    try:
        day = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        day = None
    if day is None or not date(1900, 1, 1) <= day <= date(2999, 12, 31):
        raise ValueError('must be a date such as "2026-01-31"')
    return day


def _one_of(names: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in names:
            raise ValueError(f"must be one of {', '.join(names)}")
        return value

    return parse


@dataclass(frozen=True)
class Fact:
    ops: tuple[str, ...]
    parse: Callable[[Any], Any]
    metrics: bool = False  # read from member_metrics


FACTS: dict[str, Fact] = {
    "tier": Fact(TEXT_OPS, _text(32)),
    "status": Fact(TEXT_OPS, _text(16)),
    "spend": Fact(SCALAR_OPS, _money),
    "spend_12m": Fact(SCALAR_OPS, _money),
    "visits": Fact(SCALAR_OPS, _whole(0, 10**9)),
    "recency_days": Fact(SCALAR_OPS, _whole(0, 36_500)),
    "rfm_segment": Fact(TEXT_OPS, _one_of(RFM_SEGMENTS), metrics=True),
    "rfm_r": Fact(SCALAR_OPS, _whole(1, 5), metrics=True),
    "rfm_f": Fact(SCALAR_OPS, _whole(1, 5), metrics=True),
    "rfm_m": Fact(SCALAR_OPS, _whole(1, 5), metrics=True),
    "clv_value_365": Fact(SCALAR_OPS, _money, metrics=True),
    "clv_p_alive": Fact(SCALAR_OPS, _share, metrics=True),
    "birthday_month": Fact(SCALAR_OPS, _whole(1, 12)),
    "enrolled": Fact(SCALAR_OPS, _date),
    "store": Fact(LIST_OPS, _text(32)),
    "category": Fact(LIST_OPS, _text(64)),
    "tags": Fact(LIST_OPS, _text(64)),
    "consent": Fact(LIST_OPS, _one_of(CONSENT_CHANNELS)),
}


# --- checking --------------------------------------------------------------------------------


def problems(rule: Any) -> list[tuple[str, str]]:
    """(path, problem) for what is wrong with a rule; empty when it can be compiled."""
    if not isinstance(rule, Mapping) or not rule:
        return [("", "a rule is a non-empty object: all / any / not / {fact, op, value}")]
    found = list(_node_problems(rule, "", 0))
    if found:
        return found
    tests = list(_tests(rule))
    if len(tests) > MAX_TESTS:
        return [("", f"a rule holds at most {MAX_TESTS} tests")]
    values = sum(len(t["value"]) if isinstance(t["value"], list) else 1 for t in tests)
    if values > MAX_RULE_VALUES:
        return [("", f"a rule holds at most {MAX_RULE_VALUES} values")]
    return []


def _node_problems(node: Any, path: str, depth: int) -> Iterator[tuple[str, str]]:
    if depth > MAX_DEPTH:
        yield path, f"nested deeper than {MAX_DEPTH} levels"
        return
    if not isinstance(node, Mapping):
        yield path, "a condition is an object"
        return
    keys = set(node)
    if keys in ({"all"}, {"any"}):
        key = next(iter(keys))
        children = node[key]
        if not isinstance(children, list) or not children:
            yield _join(path, key), f"'{key}' takes a non-empty list"
            return
        for index, child in enumerate(children):
            yield from _node_problems(child, _join(path, f"{key}.{index}"), depth + 1)
    elif keys == {"not"}:
        yield from _node_problems(node["not"], _join(path, "not"), depth + 1)
    else:
        yield from _test_problems(node, path)


def _test_problems(test: Mapping[str, Any], path: str) -> Iterator[tuple[str, str]]:
    if set(test) != {"fact", "op", "value"}:
        yield path, "a test is {fact, op, value}"
        return
    fact = FACTS.get(test["fact"]) if isinstance(test["fact"], str) else None
    if fact is None:
        yield _join(path, "fact"), f"unknown fact; one of {', '.join(FACTS)}"
        return
    if test["op"] not in fact.ops:
        yield _join(path, "op"), f"{test['fact']} takes the ops {', '.join(fact.ops)}"
        return
    try:
        parse_value(test["fact"], test["op"], test["value"])
    except ValueError as exc:
        yield _join(path, "value"), str(exc)


def parse_value(fact: str, op: str, value: Any) -> Any:
    """The test's value as the SQL compares it (a list for in / not_in / between)."""
    parse = FACTS[fact].parse
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_VALUES:
            raise ValueError(f"'{op}' takes a list of 1 to {MAX_VALUES} values")
        return [parse(v) for v in value]
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError("'between' takes [low, high]")
        return [parse(v) for v in value]
    return parse(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _tests(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in ("all", "any"):
        if key in node:
            for child in node[key]:
                yield from _tests(child)
            return
    if "not" in node:
        yield from _tests(node["not"])
    else:
        yield node


def facts_in(rule: Mapping[str, Any]) -> set[str]:
    """Every fact a sound rule reads."""
    return {test["fact"] for test in _tests(rule)}


# --- compiling -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """When a rule is evaluated: the program's day, in its time zone."""

    today: date
    timezone: str

    @classmethod
    def at(cls, now: datetime, timezone: str) -> Context:
        return cls(now.astimezone(ZoneInfo(timezone)).date(), timezone)

    def start_of(self, day: date) -> datetime:
        """The instant the program's day begins (as an aware time; stored times are UTC)."""
        return datetime.combine(day, time(0), ZoneInfo(self.timezone))


def members_query(rule: Mapping[str, Any], context: Context, *columns: Any) -> Select:
    """SELECT the members a sound rule holds for (merged and erased members never do)."""
    stmt = select(*(columns or (Member.id,))).select_from(Member)
    if any(FACTS[name].metrics for name in facts_in(rule)):
        stmt = stmt.outerjoin(MemberMetrics, MemberMetrics.member_id == Member.id)
    return stmt.where(
        Member.merged_into_id.is_(None),
        Member.erased_at.is_(None),
        Member.status != "erased",
        condition(rule, context),
    )


def condition(node: Mapping[str, Any], context: Context) -> ColumnElement[bool]:
    """The rule as a boolean SQL expression that is never NULL (so `not` is exact)."""
    if "all" in node:
        return and_(*(condition(child, context) for child in node["all"]))
    if "any" in node:
        return or_(*(condition(child, context) for child in node["any"]))
    if "not" in node:
        return not_(condition(node["not"], context))
    fact, op = node["fact"], node["op"]
    value = parse_value(fact, op, node["value"])
    if FACTS[fact].ops == LIST_OPS:
        return _list_test(fact, op, value)
    if fact == "recency_days":
        return _day_test(Member.last_purchase_at, *_recency(op, value, context), context)
    if fact == "enrolled":
        return _day_test(Member.enrolled_at, op, value, context)
    column = _scalar(fact, context)
    return _guarded(column, op, value, _compare, nullable=fact not in ALWAYS_KNOWN)


def _guarded(
    column: Any, op: str, value: Any, test: Callable, *, nullable: bool = True
) -> ColumnElement[bool]:
    """A test on a column that may be NULL: false when it is, and true for ne / not_in."""
    if op in ("ne", "not_in"):
        positive = test(column, "eq" if op == "ne" else "in", value)
        return or_(column.is_(None), not_(positive)) if nullable else not_(positive)
    found = test(column, op, value)
    return and_(column.is_not(None), found) if nullable else found


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "in":
        return column.in_(value)
    if op == "between":
        return and_(column >= value[0], column <= value[1])
    return {
        "eq": lambda: column == value,
        "gt": lambda: column > value,
        "gte": lambda: column >= value,
        "lt": lambda: column < value,
        "lte": lambda: column <= value,
    }[op]()


def _scalar(fact: str, context: Context) -> Any:
    columns = {
        "tier": Member.tier_code,
        "status": Member.status,
        "spend": Member.lifetime_spend_minor,
        "visits": Member.visits,
        "rfm_segment": MemberMetrics.rfm_segment,
        "rfm_r": MemberMetrics.rfm_r,
        "rfm_f": MemberMetrics.rfm_f,
        "rfm_m": MemberMetrics.rfm_m,
        "clv_value_365": MemberMetrics.clv_value_365_minor,
        "clv_p_alive": MemberMetrics.clv_p_alive,
    }
    if fact in columns:
        return columns[fact]
    if fact == "birthday_month":
        return extract("month", Member.birthdate)
    window = select(func.sum(MemberDay.spend_minor)).where(
        MemberDay.member_id == Member.id, MemberDay.day > year_before(context.today)
    )
    return func.coalesce(window.scalar_subquery(), 0)  # spend_12m, as the profile metrics


def _recency(op: str, value: Any, context: Context) -> tuple[str, Any]:
    """A test on days since the last purchase as a test on that purchase's day."""

    def day_of(days: int) -> date:
        return context.today - timedelta(days=days)

    if op == "between":
        return "between", [day_of(value[1]), day_of(value[0])]
    if op in ("in", "not_in"):
        return op, [day_of(v) for v in value]
    return FLIPPED.get(op, op), day_of(value)


def _day_test(column: Any, op: str, value: Any, context: Context) -> ColumnElement[bool]:
    """A test on the program day a stored time falls on, as a range of times."""

    def on_day(col: Any, test_op: str, day: Any) -> ColumnElement[bool]:
        start = context.start_of
        if test_op == "in":
            return or_(*(on_day(col, "eq", d) for d in day))
        if test_op == "between":
            low, high = day
            return false() if low > high else and_(col >= start(low), col < start(_next(high)))
        return {
            "eq": lambda: and_(col >= start(day), col < start(_next(day))),
            "gt": lambda: col >= start(_next(day)),
            "gte": lambda: col >= start(day),
            "lt": lambda: col < start(day),
            "lte": lambda: col < start(_next(day)),
        }[test_op]()

    return _guarded(column, op, value, on_day)


def _next(day: date) -> date:
    return day + timedelta(days=1)


def _list_test(fact: str, op: str, value: Any) -> ColumnElement[bool]:
    values = value if isinstance(value, list) else [value]
    found = _any_of(fact, values)
    return not_(found) if op in ("ne", "not_in") else found


def _any_of(fact: str, values: list[str]) -> ColumnElement[bool]:
    """Whether any of the member's stores / categories / tags / consents is one of `values`."""
    if fact == "tags":
        return exists().where(MemberTag.member_id == Member.id, MemberTag.tag.in_(values))
    if fact == "consent":
        return exists().where(
            Consent.member_id == Member.id, Consent.granted.is_(True), Consent.channel.in_(values)
        )
    if fact == "category":
        keys: Any = values
    else:  # store: affinities are kept by store id, rules name the store's code
        keys = select(cast(Store.id, String(32))).where(Store.code.in_(values))
    return exists().where(
        MemberAffinity.member_id == Member.id,
        MemberAffinity.kind == fact,
        MemberAffinity.purchases > 0,
        MemberAffinity.key.in_(keys),
    )

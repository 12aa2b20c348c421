"""Segment rules compiled to SQL: every fact with every op it takes, run on the test database
(SQLite, or PostgreSQL with LOYALTY_TEST_DATABASE_URL), against a hand-made population.

The program's day is 15 June 2026 in Bangkok. Times sit near local midnight so that a day
counted in UTC instead of the program's time zone gives another answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import event

from loyalty import create_app
from loyalty.extensions import db
from loyalty.models import Store
from members.models import (
    Consent,
    Member,
    MemberAffinity,
    MemberDay,
    MemberMetrics,
    MemberTag,
    Tier,
)
from members.segments import sql as segment_sql
from members.segments.sql import Context
from tests import conftest as base

ZONE = ZoneInfo("Asia/Bangkok")
TODAY = date(2026, 6, 15)
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=ZONE)
CONTEXT = Context.at(NOW, "Asia/Bangkok")


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZONE).astimezone(UTC)


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


@dataclass
class Population:
    app: Flask
    names: dict[int, str]


def _member(session, name: str, **fields: Any) -> Member:
    number = len(name) * 1000 + sum(map(ord, name))
    member = Member(member_no=f"NO-{name}", name=name, phone=f"+6681{number:07d}")
    for key, value in fields.items():
        setattr(member, key, value)
    session.add(member)
    session.flush()
    return member


def _ann(session, stores: dict[str, int]) -> Member:
    """Gold, 12 visits, last bought 3 days ago just after midnight; a Champion."""
    ann = _member(
        session,
        "ann",
        tier_code="gold",
        visits=12,
        lifetime_spend_minor=500_000,
        last_purchase_at=local(ago(3), 0, 5),
        enrolled_at=local(date(2025, 1, 10), 9),
        birthdate=date(1990, 3, 5),
    )
    session.add_all(
        [
            MemberDay(member_id=ann.id, day=ago(10), spend_minor=100_000, purchases=1),
            MemberDay(member_id=ann.id, day=ago(400), spend_minor=400_000, purchases=1),
            MemberDay(member_id=ann.id, day=date(2025, 6, 15), spend_minor=700, purchases=1),
            MemberTag(member_id=ann.id, tag="vip"),
            MemberTag(member_id=ann.id, tag="coffee"),
            Consent(member_id=ann.id, channel="marketing_email", granted=True),
            Consent(member_id=ann.id, channel="marketing_sms", granted=False),
            _affinity(ann.id, "store", str(stores["BKK01"]), 5),
            _affinity(ann.id, "store", str(stores["BKK02"]), 0),  # refunded: never bought
            _affinity(ann.id, "category", "coffee", 5),
            _affinity(ann.id, "category", "bakery", 0),
            _metrics(ann.id, (5, 4, 3), "Champions", 250_000, "0.9"),
        ]
    )
    return ann


def _ben(session, stores: dict[str, int]) -> Member:
    """Silver, 3 visits, last bought 30 days ago just before midnight; hibernating."""
    ben = _member(
        session,
        "ben",
        tier_code="silver",
        visits=3,
        lifetime_spend_minor=80_000,
        last_purchase_at=local(ago(30), 23, 55),
        enrolled_at=local(date(2026, 6, 1), 10),
        birthdate=date(1985, 12, 24),
    )
    session.add_all(
        [
            MemberDay(member_id=ben.id, day=ago(30), spend_minor=79_900, purchases=1),
            MemberDay(member_id=ben.id, day=date(2025, 6, 16), spend_minor=100, purchases=1),
            MemberTag(member_id=ben.id, tag="coffee"),
            Consent(member_id=ben.id, channel="marketing_sms", granted=True),
            _affinity(ben.id, "store", str(stores["BKK02"]), 3),
            _affinity(ben.id, "category", "tea", 3),
            _metrics(ben.id, (2, 2, 2), "Hibernating", 10_000, "0.3"),
        ]
    )
    return ben


def _affinity(member_id: int, kind: str, key: str, purchases: int) -> MemberAffinity:
    return MemberAffinity(
        member_id=member_id, kind=kind, key=key, spend_minor=purchases * 100, purchases=purchases
    )


def _metrics(member_id: int, rfm: tuple[int, int, int], segment: str, clv: int, alive: str):
    return MemberMetrics(
        member_id=member_id,
        rfm_r=rfm[0],
        rfm_f=rfm[1],
        rfm_m=rfm[2],
        rfm_segment=segment,
        clv_value_365_minor=clv,
        clv_p_alive=Decimal(alive),
    )


def populate(session) -> dict[int, str]:
    """ann and ben (above); cat, enrolled today just after midnight, who has nothing yet;
    dan, merged into ann, and eve, erased, who are gold and never in a segment."""
    session.add_all(
        [Tier(code="silver", name="Silver", rank=1), Tier(code="gold", name="Gold", rank=2)]
    )
    stores = {}
    for code in ("BKK01", "BKK02"):
        store = Store(code=code, name=code)
        session.add(store)
        session.flush()
        stores[code] = store.id
    ann, ben = _ann(session, stores), _ben(session, stores)
    cat = _member(session, "cat", enrolled_at=local(TODAY, 0, 30))
    dan = _member(session, "dan", tier_code="gold", status="merged", merged_into_id=ann.id)
    eve = _member(session, "eve", tier_code="gold", status="erased", erased_at=local(ago(1), 9))
    for member in (dan, eve):
        session.add(MemberTag(member_id=member.id, tag="vip"))
    session.commit()
    return {m.id: m.name for m in (ann, ben, cat, dan, eve)}


@pytest.fixture(scope="module")
def population(database_url: str) -> Iterator[Population]:
    app = create_app(base.test_config(database_url))
    with app.app_context():
        names = populate(db.session)
    yield Population(app, names)
    with app.app_context():
        base.empty_database()
        db.engine.dispose()


def members_of(population: Population, rule: dict) -> set[str]:
    with population.app.app_context():
        ids = db.session.scalars(segment_sql.members_query(rule, CONTEXT)).all()
    return {population.names[i] for i in ids}


def fact_test(fact: str, op: str, value: Any) -> dict:
    return {"fact": fact, "op": op, "value": value}


ANN, BEN, CAT = {"ann"}, {"ben"}, {"cat"}
AB, AC, BC, ABC, NONE = ANN | BEN, ANN | CAT, BEN | CAT, ANN | BEN | CAT, set()
CASES = [
    (fact_test("tier", "eq", "gold"), ANN),
    (fact_test("tier", "ne", "gold"), BC),
    (fact_test("tier", "in", ["silver", "member"]), BC),
    (fact_test("tier", "not_in", ["gold"]), BC),
    (fact_test("status", "eq", "active"), ABC),
    (fact_test("status", "ne", "active"), NONE),
    (fact_test("status", "in", ["active", "merged"]), ABC),
    (fact_test("status", "not_in", ["active"]), NONE),
    (fact_test("spend", "eq", "800.00"), BEN),
    (fact_test("spend", "ne", "800.00"), AC),
    (fact_test("spend", "gt", "800.00"), ANN),
    (fact_test("spend", "gte", "800.00"), AB),
    (fact_test("spend", "lt", "800.00"), CAT),
    (fact_test("spend", "lte", 800), BC),
    (fact_test("spend", "in", ["0.00", "5000.00"]), AC),
    (fact_test("spend", "not_in", ["0"]), AB),
    (fact_test("spend", "between", ["0.01", "5000.00"]), AB),
    (fact_test("spend_12m", "eq", "1000.00"), ANN),
    (fact_test("spend_12m", "eq", "800.00"), BEN),
    (fact_test("spend_12m", "eq", 0), CAT),
    (fact_test("spend_12m", "ne", "800.00"), AC),
    (fact_test("spend_12m", "gt", "800.00"), ANN),
    (fact_test("spend_12m", "gte", "800.00"), AB),
    (fact_test("spend_12m", "lt", "800.00"), CAT),
    (fact_test("spend_12m", "lte", "800.00"), BC),
    (fact_test("spend_12m", "in", ["800.00", "5000.00"]), BEN),
    (fact_test("spend_12m", "not_in", ["800.00"]), AC),
    (fact_test("spend_12m", "between", ["800.00", "1000.00"]), AB),
    (fact_test("visits", "eq", 12), ANN),
    (fact_test("visits", "ne", 12), BC),
    (fact_test("visits", "gt", 3), ANN),
    (fact_test("visits", "gte", 3), AB),
    (fact_test("visits", "lt", 1), CAT),
    (fact_test("visits", "lte", 3), BC),
    (fact_test("visits", "in", [0, 12]), AC),
    (fact_test("visits", "not_in", [3]), AC),
    (fact_test("visits", "between", [1, 5]), BEN),
    (fact_test("recency_days", "eq", 3), ANN),
    (fact_test("recency_days", "ne", 3), BC),
    (fact_test("recency_days", "gt", 3), BEN),
    (fact_test("recency_days", "gte", 3), AB),
    (fact_test("recency_days", "lt", 30), ANN),
    (fact_test("recency_days", "lte", 30), AB),
    (fact_test("recency_days", "lte", 29), ANN),
    (fact_test("recency_days", "in", [3, 4]), ANN),
    (fact_test("recency_days", "not_in", [30]), AC),
    (fact_test("recency_days", "between", [3, 30]), AB),
    (fact_test("recency_days", "between", [4, 29]), NONE),
    (fact_test("recency_days", "between", [30, 3]), NONE),
    (fact_test("rfm_segment", "eq", "Champions"), ANN),
    (fact_test("rfm_segment", "ne", "Champions"), BC),
    (fact_test("rfm_segment", "in", ["Hibernating", "Lost"]), BEN),
    (fact_test("rfm_segment", "not_in", ["Hibernating"]), AC),
    (fact_test("rfm_r", "eq", 2), BEN),
    (fact_test("rfm_r", "ne", 5), BC),
    (fact_test("rfm_r", "gt", 2), ANN),
    (fact_test("rfm_r", "gte", 2), AB),
    (fact_test("rfm_r", "lt", 5), BEN),
    (fact_test("rfm_r", "lte", 2), BEN),
    (fact_test("rfm_r", "in", [5]), ANN),
    (fact_test("rfm_r", "not_in", [5]), BC),
    (fact_test("rfm_r", "between", [1, 5]), AB),
    (fact_test("rfm_f", "eq", 4), ANN),
    (fact_test("rfm_f", "ne", 4), BC),
    (fact_test("rfm_f", "gt", 2), ANN),
    (fact_test("rfm_f", "gte", 2), AB),
    (fact_test("rfm_f", "lt", 4), BEN),
    (fact_test("rfm_f", "lte", 4), AB),
    (fact_test("rfm_f", "in", [2]), BEN),
    (fact_test("rfm_f", "not_in", [2]), AC),
    (fact_test("rfm_f", "between", [3, 4]), ANN),
    (fact_test("rfm_m", "eq", 3), ANN),
    (fact_test("rfm_m", "ne", 3), BC),
    (fact_test("rfm_m", "gt", 2), ANN),
    (fact_test("rfm_m", "gte", 3), ANN),
    (fact_test("rfm_m", "lt", 3), BEN),
    (fact_test("rfm_m", "lte", 3), AB),
    (fact_test("rfm_m", "in", [2, 3]), AB),
    (fact_test("rfm_m", "not_in", [3]), BC),
    (fact_test("rfm_m", "between", [2, 2]), BEN),
    (fact_test("clv_value_365", "eq", "2500.00"), ANN),
    (fact_test("clv_value_365", "ne", "100.00"), AC),
    (fact_test("clv_value_365", "gt", "100.00"), ANN),
    (fact_test("clv_value_365", "gte", "1000.00"), ANN),
    (fact_test("clv_value_365", "lt", "1000.00"), BEN),
    (fact_test("clv_value_365", "lte", 2500), AB),
    (fact_test("clv_value_365", "in", ["100.00"]), BEN),
    (fact_test("clv_value_365", "not_in", ["100.00"]), AC),
    (fact_test("clv_value_365", "between", ["100.00", "2500.00"]), AB),
    (fact_test("clv_p_alive", "eq", "0.3"), BEN),
    (fact_test("clv_p_alive", "ne", "0.9"), BC),
    (fact_test("clv_p_alive", "gt", "0.5"), ANN),
    (fact_test("clv_p_alive", "gte", "0.3"), AB),
    (fact_test("clv_p_alive", "lt", 1), AB),
    (fact_test("clv_p_alive", "lte", 0.3), BEN),
    (fact_test("clv_p_alive", "in", ["0.9", "0.5"]), ANN),
    (fact_test("clv_p_alive", "not_in", ["0.9"]), BC),
    (fact_test("clv_p_alive", "between", [0, "0.5"]), BEN),
    (fact_test("birthday_month", "eq", 3), ANN),
    (fact_test("birthday_month", "ne", 3), BC),
    (fact_test("birthday_month", "gt", 6), BEN),
    (fact_test("birthday_month", "gte", 3), AB),
    (fact_test("birthday_month", "lt", 12), ANN),
    (fact_test("birthday_month", "lte", 12), AB),
    (fact_test("birthday_month", "in", [12, 1]), BEN),
    (fact_test("birthday_month", "not_in", [3, 12]), CAT),
    (fact_test("birthday_month", "between", [1, 6]), ANN),
    (fact_test("enrolled", "eq", "2026-06-15"), CAT),
    (fact_test("enrolled", "eq", "2026-06-14"), NONE),
    (fact_test("enrolled", "ne", "2026-06-15"), AB),
    (fact_test("enrolled", "gt", "2026-06-01"), CAT),
    (fact_test("enrolled", "gte", "2026-06-01"), BC),
    (fact_test("enrolled", "lt", "2026-06-01"), ANN),
    (fact_test("enrolled", "lte", "2026-06-01"), AB),
    (fact_test("enrolled", "in", ["2025-01-10", "2026-06-15"]), AC),
    (fact_test("enrolled", "not_in", ["2025-01-10"]), BC),
    (fact_test("enrolled", "between", ["2026-01-01", "2026-06-14"]), BEN),
    (fact_test("store", "contains", "BKK01"), ANN),
    (fact_test("store", "eq", "BKK02"), BEN),
    (fact_test("store", "ne", "BKK01"), BC),
    (fact_test("store", "in", ["BKK01", "BKK02"]), AB),
    (fact_test("store", "not_in", ["BKK01", "BKK02"]), CAT),
    (fact_test("store", "eq", "NOPE"), NONE),
    (fact_test("category", "contains", "coffee"), ANN),
    (fact_test("category", "eq", "bakery"), NONE),
    (fact_test("category", "ne", "coffee"), BC),
    (fact_test("category", "in", ["tea", "bakery"]), BEN),
    (fact_test("category", "not_in", ["coffee", "tea"]), CAT),
    (fact_test("tags", "contains", "vip"), ANN),
    (fact_test("tags", "eq", "coffee"), AB),
    (fact_test("tags", "ne", "vip"), BC),
    (fact_test("tags", "in", ["vip", "unused"]), ANN),
    (fact_test("tags", "not_in", ["coffee"]), CAT),
    (fact_test("consent", "contains", "marketing_email"), ANN),
    (fact_test("consent", "eq", "marketing_sms"), BEN),
    (fact_test("consent", "ne", "marketing_sms"), AC),
    (fact_test("consent", "in", ["marketing_email", "marketing_sms"]), AB),
    (fact_test("consent", "not_in", ["marketing_email", "marketing_sms"]), CAT),
    ({"all": [fact_test("tier", "eq", "gold"), fact_test("visits", "gte", 10)]}, ANN),
    ({"any": [fact_test("tier", "eq", "silver"), fact_test("recency_days", "eq", 3)]}, AB),
    ({"not": fact_test("recency_days", "lt", 10)}, BC),
    ({"not": fact_test("rfm_r", "eq", 5)}, BC),
    ({"not": fact_test("tags", "contains", "coffee")}, CAT),
    ({"not": {"not": fact_test("clv_p_alive", "gt", "0.5")}}, ANN),
    (
        {
            "any": [
                {
                    "all": [
                        fact_test("store", "eq", "BKK02"),
                        {"not": fact_test("tags", "eq", "vip")},
                    ]
                },
                fact_test("birthday_month", "eq", 3),
            ]
        },
        AB,
    ),
]


@pytest.mark.parametrize(("rule", "expected"), CASES, ids=[str(c[0]) for c in CASES])
def test_the_rule_selects_exactly_its_members(population, rule, expected):
    assert members_of(population, rule) == expected


def test_every_fact_and_op_is_covered():
    covered = {(t["fact"], t["op"]) for rule, _ in CASES for t in segment_sql._tests(rule)}
    wanted = {(name, op) for name, fact in segment_sql.FACTS.items() for op in fact.ops}
    assert wanted - covered == set()


def test_a_rule_over_every_fact_is_one_statement(population):
    """One test of each fact, each made always true (it or its negation)."""
    first = {rule["fact"]: rule for rule, _ in CASES if "fact" in rule}
    rule = {"all": [{"any": [test, {"not": test}]} for test in first.values()]}
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with population.app.app_context():
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            ids = db.session.scalars(segment_sql.members_query(rule, CONTEXT)).all()
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
    assert {population.names[i] for i in ids} == ABC
    assert len(first) == len(segment_sql.FACTS)
    assert [s for s in statements if s != "BEGIN IMMEDIATE"] == statements[-1:]


def test_the_day_is_the_program_day_not_utc(population):
    """Just after midnight in Bangkok is still yesterday in UTC."""
    utc = Context.at(NOW, "UTC")
    with population.app.app_context():
        rule = fact_test("enrolled", "eq", "2026-06-14")
        found = db.session.scalars(segment_sql.members_query(rule, utc)).all()
    assert {population.names[i] for i in found} == CAT


PROBLEMS = [
    ({}, ""),
    ([], ""),
    ({"fact": "tier", "op": "eq"}, ""),
    ({"fact": "tier", "op": "eq", "value": "gold", "x": 1}, ""),
    ({"fact": "shoe_size", "op": "eq", "value": 42}, "fact"),
    ({"fact": 7, "op": "eq", "value": 42}, "fact"),
    ({"fact": "tier", "op": "like", "value": "g%"}, "op"),
    ({"fact": "tier", "op": "gt", "value": "gold"}, "op"),
    ({"fact": "tier", "op": "contains", "value": "gold"}, "op"),
    ({"fact": "tags", "op": "gt", "value": "vip"}, "op"),
    ({"fact": "visits", "op": "contains", "value": 1}, "op"),
    ({"fact": "tier", "op": "eq", "value": 1}, "value"),
    ({"fact": "tier", "op": "eq", "value": ""}, "value"),
    ({"fact": "visits", "op": "eq", "value": "3"}, "value"),
    ({"fact": "visits", "op": "eq", "value": 1.5}, "value"),
    ({"fact": "visits", "op": "eq", "value": True}, "value"),
    ({"fact": "visits", "op": "gt", "value": 10**12}, "value"),
    ({"fact": "spend", "op": "gt", "value": 100.5}, "value"),
    ({"fact": "spend", "op": "gt", "value": "1e3"}, "value"),
    ({"fact": "spend", "op": "gt", "value": "10.001"}, "value"),
    ({"fact": "spend", "op": "gt", "value": 10**12}, "value"),
    ({"fact": "clv_p_alive", "op": "gt", "value": "1.5"}, "value"),
    ({"fact": "clv_p_alive", "op": "gt", "value": -0.1}, "value"),
    ({"fact": "rfm_r", "op": "eq", "value": 6}, "value"),
    ({"fact": "rfm_segment", "op": "eq", "value": "champions"}, "value"),
    ({"fact": "birthday_month", "op": "eq", "value": 13}, "value"),
    ({"fact": "recency_days", "op": "gt", "value": -1}, "value"),
    ({"fact": "recency_days", "op": "gt", "value": 10**9}, "value"),
    ({"fact": "enrolled", "op": "gt", "value": "15/06/2026"}, "value"),
    ({"fact": "enrolled", "op": "gt", "value": "2026-02-30"}, "value"),
    ({"fact": "enrolled", "op": "gt", "value": "9999-12-31"}, "value"),
    ({"fact": "enrolled", "op": "gt", "value": 20260615}, "value"),
    ({"fact": "consent", "op": "contains", "value": "marketing_fax"}, "value"),
    ({"fact": "visits", "op": "in", "value": 3}, "value"),
    ({"fact": "visits", "op": "in", "value": []}, "value"),
    ({"fact": "visits", "op": "in", "value": list(range(101))}, "value"),
    ({"fact": "visits", "op": "in", "value": [1, "2"]}, "value"),
    ({"fact": "visits", "op": "between", "value": [1, 2, 3]}, "value"),
    ({"fact": "visits", "op": "between", "value": 1}, "value"),
]


@pytest.mark.parametrize(("rule", "where"), PROBLEMS, ids=[str(p[0]) for p in PROBLEMS])
def test_a_wrong_test_is_named_by_its_path(rule, where):
    found = segment_sql.problems(rule)
    assert [path for path, _problem in found] == [where]


def test_problems_inside_a_tree_name_their_place():
    rule = {
        "all": [
            fact_test("tier", "eq", "gold"),
            {"not": {"any": [fact_test("visits", "eq", 1), fact_test("visits", "eq", "x")]}},
            fact_test("nope", "eq", 1),
        ]
    }
    assert [path for path, _ in segment_sql.problems(rule)] == [
        "all.1.not.any.1.value",
        "all.2.fact",
    ]


def test_the_shape_of_a_tree_is_checked():
    deep: dict = fact_test("visits", "gte", 1)
    for _ in range(9):
        deep = {"not": deep}
    assert segment_sql.problems(deep)[0][1] == "nested deeper than 8 levels"
    assert segment_sql.problems({"all": []}) == [("all", "'all' takes a non-empty list")]
    assert segment_sql.problems({"any": fact_test("visits", "eq", 1)})[0][0] == "any"
    assert segment_sql.problems({"all": [1]}) == [("all.0", "a condition is an object")]
    too_many = {"all": [fact_test("visits", "eq", n) for n in range(101)]}
    assert segment_sql.problems(too_many) == [("", "a rule holds at most 100 tests")]
    assert segment_sql.problems({"all": [fact_test("visits", "eq", n) for n in range(100)]}) == []


def test_the_value_is_read_as_the_sql_compares_it():
    assert segment_sql.parse_value("spend", "gte", "1000.50") == 100_050
    assert segment_sql.parse_value("spend", "gte", 1000) == 100_000
    assert segment_sql.parse_value("clv_p_alive", "between", [0, "0.25"]) == [
        Decimal(0),
        Decimal("0.25"),
    ]
    assert segment_sql.parse_value("enrolled", "eq", "2026-06-15") == date(2026, 6, 15)


def test_the_largest_rule_allowed_runs(population):
    """1000 days to match: the most ranges of time a rule can compare."""
    days = [(TODAY - timedelta(days=n)).isoformat() for n in range(100)]
    rule = {"any": [fact_test("enrolled", "in", days) for _ in range(10)]}
    assert segment_sql.problems(rule) == []
    assert members_of(population, rule) == BC
    more = {"any": [*rule["any"], fact_test("visits", "eq", 1)]}
    assert segment_sql.problems(more) == [("", "a rule holds at most 1000 values")]

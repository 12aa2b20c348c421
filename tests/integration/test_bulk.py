"""Many rows by one statement (`loyalty/bulk.py`) and ids taken up front (`reserve_ids`), on
the suite's database: the rows written are the rows given, with the columns' defaults."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask import Flask
from sqlalchemy import insert, select

from loyalty.bulk import insert_rows, update_rows, upsert_rows
from loyalty.db import reserve_ids
from loyalty.extensions import db
from loyalty.models import OutboxMessage
from loyalty.outbox import emit_each, emit_many
from loyalty.unit_of_work import unit_of_work
from members.models import Member, MemberDay
from members.service import Enrolment, enrol_member

OUTBOX = OutboxMessage.__table__
DAYS = MemberDay.__table__
MEMBERS = Member.__table__


@pytest.fixture
def members(app: Flask) -> list[int]:
    with app.app_context(), unit_of_work():
        return [
            enrol_member(db.session, Enrolment(name=f"M{n}", email=f"m{n}@example.com")).id
            for n in range(3)
        ]


def test_inserted_rows_get_the_defaults_of_the_columns_they_leave_out(app):
    with app.app_context():
        before = datetime.now(UTC)
        insert_rows(db.session, OUTBOX, [{"topic": "t", "payload": {"n": n}} for n in range(3)])
        db.session.commit()
        rows = db.session.execute(
            select(OUTBOX.c.payload, OUTBOX.c.status, OUTBOX.c.attempts, OUTBOX.c.created_at)
            .where(OUTBOX.c.topic == "t")
            .order_by(OUTBOX.c.id)
        ).all()
    assert [(p, s, a) for p, s, a, _at in rows] == [({"n": n}, "pending", 0) for n in range(3)]
    assert all(at >= before and at.tzinfo is not None for *_rest, at in rows)


def test_json_values_go_in_as_an_orm_insert_writes_them(app):
    """JSON travels as text on PostgreSQL and is cast back: the stored documents are those an
    insert of one row at a time stores, a None included (JSON null, as the column's type says)."""
    payloads = [
        {"transaction_id": 7, "items": [{"sku": "ลาเต้", "quantity": "1.5"}], "nested": {"a": []}},
        {"text": 'quote " and backslash \\ and newline \n', "n": None, "f": 1.25, "t": True},
        None,
        [1, "two", {"three": 3}],
    ]
    with app.app_context():
        insert_rows(db.session, OUTBOX, [{"topic": "bulk", "payload": p} for p in payloads])
        for payload in payloads:
            db.session.execute(insert(OUTBOX), [{"topic": "single", "payload": payload}])
        db.session.commit()
        found = {
            topic: db.session.execute(
                select(OUTBOX.c.payload, OUTBOX.c.payload.is_(None))
                .where(OUTBOX.c.topic == topic)
                .order_by(OUTBOX.c.id)
            ).all()
            for topic in ("bulk", "single")
        }
    assert [tuple(row) for row in found["bulk"]] == [tuple(row) for row in found["single"]]
    assert [row[0] for row in found["bulk"]] == payloads


def test_emit_each_writes_the_messages_emit_many_writes_in_the_same_order(app):
    ids = [5, 3, 9, 2**40, 1]
    with app.app_context():
        emit_many(db.session, "many", [{"transaction_id": i} for i in ids])
        emit_each(db.session, "each", "transaction_id", ids)
        emit_each(db.session, "none", "transaction_id", [])
        db.session.commit()
        found = {
            topic: db.session.execute(
                select(OUTBOX.c.payload, OUTBOX.c.status, OUTBOX.c.attempts, OUTBOX.c.created_at)
                .where(OUTBOX.c.topic == topic)
                .order_by(OUTBOX.c.id)
            ).all()
            for topic in ("many", "each", "none")
        }
    assert [tuple(r[:3]) for r in found["each"]] == [tuple(r[:3]) for r in found["many"]]
    assert [r[0] for r in found["each"]] == [{"transaction_id": i} for i in ids]
    assert all(r[3].tzinfo is not None for r in found["each"])
    assert found["none"] == []


def test_rows_of_numbers_dates_and_text_go_in_as_given(app, members):
    rows = [
        {"member_id": m, "day": date(2026, 1, n + 1), "spend_minor": 100 * n, "purchases": n}
        | {"points": n}
        for n, m in enumerate(members)
    ]
    with app.app_context():
        insert_rows(db.session, DAYS, rows)
        db.session.commit()
        found = db.session.execute(select(DAYS).order_by(DAYS.c.member_id)).mappings().all()
    assert [dict(row) for row in found] == rows


def test_updated_rows_take_what_the_changes_make_of_the_values_given(app, members):
    latest = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
    rows = [
        {"id": m, "visits": n + 1, "last_purchase_at": latest} for n, m in enumerate(members[:2])
    ]
    with app.app_context():
        update_rows(
            db.session,
            MEMBERS,
            "id",
            rows,
            lambda v: {
                "visits": MEMBERS.c.visits + v["visits"],
                "last_purchase_at": v["last_purchase_at"],
            },
        )
        update_rows(db.session, MEMBERS, "id", rows[:1], lambda v: {"visits": v["visits"] * 10})
        db.session.commit()
        found = db.session.execute(
            select(MEMBERS.c.id, MEMBERS.c.visits, MEMBERS.c.last_purchase_at).order_by("id")
        ).all()
    assert [tuple(row) for row in found] == [
        (members[0], 10, latest),
        (members[1], 2, latest),
        (members[2], 0, None),
    ]


def test_an_upsert_adds_to_rows_that_exist_and_inserts_the_others(app, members):
    day = date(2026, 2, 1)
    first = [
        {"member_id": members[0], "day": day, "spend_minor": 500, "purchases": 1, "points": 20}
    ]
    second = [
        {"member_id": members[0], "day": day, "spend_minor": 250, "purchases": 1, "points": 10},
        {"member_id": members[1], "day": day, "spend_minor": 100, "purchases": 1, "points": 4},
    ]
    amounts = ("spend_minor", "purchases", "points")
    with app.app_context():
        for rows in (first, second):
            upsert_rows(
                db.session,
                DAYS,
                ("member_id", "day"),
                rows,
                lambda v: {name: DAYS.c[name] + v[name] for name in amounts},
            )
        db.session.commit()
        found = db.session.execute(
            select(DAYS.c.member_id, DAYS.c.spend_minor, DAYS.c.purchases, DAYS.c.points).order_by(
                DAYS.c.member_id
            )
        ).all()
    assert [tuple(row) for row in found] == [(members[0], 750, 2, 30), (members[1], 100, 1, 4)]


def test_reserved_ids_are_new_distinct_and_used_by_no_later_insert(app):
    with app.app_context():
        taken = reserve_ids(db.session, OUTBOX, 3)
        again = reserve_ids(db.session, OUTBOX, 2)  # before the first are inserted
        assert len(set(taken + again)) == 5
        insert_rows(
            db.session, OUTBOX, [{"id": i, "topic": "r", "payload": {}} for i in taken + again]
        )
        db.session.commit()
        db.session.execute(insert(OUTBOX), {"topic": "r", "payload": {}})  # an id of its own
        later = reserve_ids(db.session, OUTBOX, 2)
        db.session.commit()
        ids = set(db.session.scalars(select(OUTBOX.c.id)))
    assert ids >= set(taken + again)
    assert len(ids) == 6
    assert not ids & set(later)
    assert min(later) > max(ids)

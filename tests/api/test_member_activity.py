"""The profile's purchase history: per program day and per category and store, net of refunds."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from loyalty.extensions import db
from members.models import MemberAffinity, MemberDay
from tests.factories import enrol, receipt

BANGKOK = ZoneInfo("Asia/Bangkok")


def test_sales_and_refunds_add_up_per_day_category_and_store(app, client, program):
    member = enrol(client, program)
    ref = {"member_no": member["member_no"]}
    # 00:30 in Bangkok is still the previous day in UTC: the program's day counts
    late = datetime(2026, 11, 20, 0, 30, tzinfo=BANGKOK)
    items = [
        {"sku": "CF-1", "category": "coffee", "quantity": 2, "unit_price": "60.00"},
        {"sku": "BK-1", "category": "bakery", "quantity": 1, "unit_price": "80.00"},
    ]
    headers = program.headers("BKK01")
    for body in (
        receipt("A-1", "200.00", ref, occurred_at=late, items=items),
        receipt("A-2", "50.00", ref, occurred_at=late.replace(hour=9)),
        receipt(
            "A-1R",
            "60.00",
            None,
            type="refund",
            refund_of="A-1",
            items=[{"sku": "CF-1", "category": "coffee", "quantity": 1, "unit_price": "60.00"}],
        ),
    ):
        assert client.post("/api/v1/transactions", json=body, headers=headers).status_code == 201
    with app.app_context():
        days = db.session.scalars(select(MemberDay).where(MemberDay.member_id == member["id"]))
        (day,) = list(days)
        assert (str(day.day), day.spend_minor, day.purchases) == ("2026-11-20", 19000, 2)
        assert day.points == 8 + 2 - 3  # 200.00 earns 8, 50.00 earns 2; 140.00 left earns 5
        found = {
            (a.kind, a.key): (a.spend_minor, a.purchases)
            for a in db.session.scalars(
                select(MemberAffinity).where(MemberAffinity.member_id == member["id"])
            )
        }
        store = str(program.stores["BKK01"])
        assert found == {
            ("category", "coffee"): (6000 + 5000, 2),
            ("category", "bakery"): (8000, 1),
            ("store", store): (19000, 2),
        }

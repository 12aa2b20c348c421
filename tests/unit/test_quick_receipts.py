"""`quick_load` never disagrees with the receipt schema: what it accepts, the schema accepts
with the same result (and the same fingerprint); what it is unsure of, it leaves to the schema.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import marshmallow as ma
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.db import utcnow
from pos_adapters.ingestion import receipt_hash
from pos_adapters.quick_receipts import quick_load
from pos_adapters.schemas import ReceiptSchema

SCHEMA = ReceiptSchema()


def schema_load(data: Any) -> dict[str, Any] | None:
    """The schema's own answer (its `load` without the quick path); None when it refuses."""
    try:
        return ma.Schema.load(SCHEMA, data)
    except ma.ValidationError:
        return None


def sale(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": "POS-1-000123",
        "occurred_at": (utcnow() - timedelta(minutes=3)).isoformat(),
        "type": "sale",
        "currency": "THB",
        "member": {"code": "LY1.1234567890.29384756.ABCDEF"},
        "items": [
            {
                "sku": "CF-LATTE",
                "name": "ลาเต้",
                "category": "coffee",
                "quantity": 2,
                "unit_price": "65.00",
            },
            {"sku": "BK-CROI", "quantity": "0.250", "unit_price": "75"},
        ],  # fmt: skip
        "discount": "0.00",
        "total": "205.00",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not DROP}


DROP = object()


def agree(data: Any) -> dict[str, Any] | None:
    quick = quick_load(data)
    if quick is not None:
        loaded = schema_load(data)
        assert loaded is not None, f"quick accepted what the schema refuses: {data!r}"
        assert quick == loaded
        assert receipt_hash(quick) == receipt_hash(loaded)
    return quick


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"member": None},
        {"member": DROP, "items": DROP, "discount": DROP, "type": DROP, "currency": DROP},
        {"member": {"member_no": "M000123"}},
        {"member": {"phone": "+66812345678"}},
        {"occurred_at": "2026-01-31T09:15:00Z"},
        {"occurred_at": "2026-01-31T16:15:00.123+07:00"},
        {"occurred_at": "2026-01-31T16:15:00.123456-03:30"},
        {"type": "refund", "refund_of": "POS-1-000100", "member": DROP},
        {"total": "99999999.99"},
        {"items": [{"sku": "X", "quantity": 999999, "unit_price": "0"}] * 500},
    ],
)
def test_plainly_valid_receipts_are_taken_quickly_with_the_schemas_result(changes):
    assert agree(sale(**changes)) is not None


@pytest.mark.parametrize(
    "changes",
    [
        {"external_id": "has space"},
        {"external_id": ""},
        {"external_id": "x" * 65},
        {"external_id": 123},
        {"occurred_at": "2026-01-31T09:15:00"},  # naive
        {"occurred_at": (utcnow() + timedelta(hours=1)).isoformat()},
        {"occurred_at": "1999-12-31T23:59:59Z"},
        {"occurred_at": "2026-02-30T09:15:00Z"},
        {"type": "void"},
        {"type": "refund"},  # names no sale
        {"refund_of": "POS-1"},  # a sale that names one
        {"currency": "XXX"},
        {"currency": None},
        {"member": {}},
        {"member": {"code": "a", "phone": "+66812345678"}},
        {"member": {"card": "a"}},
        {"member": {"phone": "12"}},
        {"member": "LY1.123"},
        {"items": None},
        {"items": [{"sku": "X", "quantity": 1, "unit_price": "1.00", "colour": "red"}]},
        {"items": [{"sku": "", "quantity": 1, "unit_price": "1.00"}]},
        {"items": [{"sku": "X", "quantity": 0, "unit_price": "1.00"}]},
        {"items": [{"sku": "X", "quantity": True, "unit_price": "1.00"}]},
        {"items": [{"sku": "X", "quantity": 1.5, "unit_price": "1.00"}]},
        {"items": [{"sku": "X", "quantity": 1, "unit_price": 1}]},
        {"items": [{"sku": "X", "quantity": 1, "unit_price": "1.00"}] * 501},
        {"total": "1.001"},
        {"total": "-1.00"},
        {"total": "100000000.00"},
        {"total": 205},
        {"discount": "1e3"},
        {"total": DROP},
        {"external_id": DROP},
        {"occurred_at": DROP},
        {"colour": "red"},
    ],
)
def test_whatever_the_schema_refuses_is_left_to_the_schema(changes):
    body = sale(**changes)
    assert schema_load(body) is None
    assert agree(body) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"occurred_at": "20260131T091500Z"},  # ISO 8601's basic form
        {"external_id": "POS-1\n"},  # the schema's `$` lets a final newline through
        {"items": [{"sku": "X", "quantity": 1, "unit_price": "1.00"}], "member": DROP},
    ],
)
def test_what_quick_is_unsure_of_the_schema_decides(changes):
    body = sale(**changes)
    assert agree(body) is None or schema_load(body) is not None
    assert ReceiptSchema().load(body) == schema_load(body)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2_000_000),
    st.floats(allow_nan=False),
    st.text(max_size=70),
    st.sampled_from(
        [
            "0",
            "1",
            "1.5",
            "65.00",
            "1.001",
            "99999999.99",
            "sale",
            "refund",
            "THB",
            "",
            "2026-01-31T09:15:00Z",
            "2026-01-31T09:15:00+07:00",
            "\u0e51\u0e52",
            "12\n",
        ]
    ),  # fmt: skip
)
FIELDS = ["external_id", "occurred_at", "type", "currency", "member", "items", "discount",
          "total", "refund_of", "other"]  # fmt: skip
ITEM_FIELDS = ["sku", "name", "category", "quantity", "unit_price", "other"]


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    body = sale()
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(FIELDS))
        if draw(st.booleans()) and key in body:
            del body[key]
        elif key == "items":
            item = dict(sale()["items"][0])
            item[draw(st.sampled_from(ITEM_FIELDS))] = draw(SCALARS)
            body["items"] = [item]
        elif key == "member":
            body["member"] = draw(
                st.one_of(
                    SCALARS,
                    st.dictionaries(
                        st.sampled_from(["code", "phone", "member_no", "x"]), SCALARS, max_size=2
                    ),
                )
            )
        else:
            body[key] = draw(SCALARS)
    return body


@settings(max_examples=1500, deadline=None)
@given(mutated())
def test_quick_and_schema_agree_on_mutated_receipts(body):
    agree(body)

"""The payloads of the fake Square as Square shapes them: ids, times, money in minor units,
orders, return orders and their refunds, catalog objects and webhook events."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.fakes.vendor import Line

Json = dict[str, Any]


def new_id(length: int = 27) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def money(baht: Decimal, currency: str = "THB") -> Json:
    return {"amount": int((baht * 100).to_integral_value()), "currency": currency}


def spread_discount(items: list[Json], discount: Decimal) -> None:
    """Each line carries its share of an order-level discount, the last line the rest."""
    left = money(discount)["amount"]
    gross = sum(i["gross_sales_money"]["amount"] for i in items) or 1
    for index, item in enumerate(items):
        share = (
            left
            if index == len(items) - 1
            else discount * 100 * item["gross_sales_money"]["amount"] // gross
        )
        share = int(share)
        left -= share
        item["total_discount_money"]["amount"] = share
        item["total_money"]["amount"] -= share


def order_discount(discount: Decimal) -> Json:
    return {
        "uid": new_id(22),
        "name": "Discount",
        "type": "FIXED_AMOUNT",
        "amount_money": money(discount),
        "applied_money": money(discount),
        "scope": "ORDER",
    }


def money_amounts(total: Decimal, discount: Decimal) -> Json:
    zero = money(Decimal(0))
    return {
        "total_money": money(total),
        "tax_money": zero,
        "discount_money": money(discount),
        "tip_money": zero,
        "service_charge_money": zero,
    }


def money_totals(total: Decimal, discount: Decimal) -> Json:
    zero = money(Decimal(0))
    return {
        "net_amounts": money_amounts(total, discount),
        "total_money": money(total),
        "total_tax_money": zero,
        "total_discount_money": money(discount),
        "total_tip_money": zero,
        "total_service_charge_money": zero,
    }


def tender(
    order_id: str,
    store: str,
    total: Decimal,
    at: datetime,
    note: str | None,
    customer: str | None,
) -> Json:
    tender = {
        "id": new_id(),
        "location_id": store,
        "transaction_id": order_id,
        "created_at": stamp(at),
        "amount_money": money(total),
        "type": "CARD",
        "card_details": {"status": "CAPTURED", "entry_method": "CONTACTLESS"},
    }
    if note:
        tender["note"] = note
    if customer:
        tender["customer_id"] = customer
    return tender


def payment_refund(
    refund: Json,
    sale: Json,
    return_id: str,
    amount: Decimal,
    at: datetime,
) -> Json:
    return {
        "id": refund["id"],
        "status": "COMPLETED",
        "location_id": sale["location_id"],
        "amount_money": money(amount),
        "payment_id": sale["tenders"][0]["id"],
        "order_id": return_id,
        "created_at": stamp(at),
        "updated_at": stamp(at),
    }


def sale_order(order_id: str, store: str, items: list[Json], tender: Json, at: datetime) -> Json:
    return {
        "id": order_id,
        "location_id": store,
        "source": {"name": "Square Point of Sale"},
        "line_items": items,
        "tenders": [tender],
        "created_at": stamp(at),
        "updated_at": stamp(at),
        "closed_at": stamp(at),
        "state": "COMPLETED",
        "version": 4,
    }


def return_line(first: Json, amount: Decimal) -> Json:
    """The returned part of a sale's first line."""
    line = {
        "uid": new_id(22),
        "source_line_item_uid": first["uid"],
        "name": first["name"],
        "quantity": "1",
        "item_type": "ITEM",
        "base_price_money": money(amount),
        "gross_return_money": money(amount),
        "total_tax_money": money(Decimal(0)),
        "total_discount_money": money(Decimal(0)),
        "total_money": money(amount),
    }
    for key in ("catalog_object_id", "variation_name"):
        if key in first:
            line[key] = first[key]
    return line


def tender_refund(sale: Json, amount: Decimal, at: datetime) -> Json:
    return {
        "id": new_id(40),
        "location_id": sale["location_id"],
        "transaction_id": sale["id"],
        "tender_id": sale["tenders"][0]["id"],
        "created_at": stamp(at),
        "reason": "Returned Goods",
        "amount_money": money(amount),
        "status": "COMPLETED",
    }


def return_order(sale: Json, line: Json, refund: Json, amount: Decimal, at: datetime) -> Json:
    returned = money_amounts(amount, Decimal(0))
    ret = {
        "uid": new_id(22),
        "source_order_id": sale["id"],
        "return_line_items": [line],
        "return_amounts": returned,
    }
    return {
        "id": new_id(),
        "location_id": sale["location_id"],
        "source": {"name": "Square Point of Sale"},
        "returns": [ret],
        "return_amounts": returned,
        "refunds": [refund],
        "created_at": stamp(at),
        "updated_at": stamp(at),
        "closed_at": stamp(at),
        "state": "COMPLETED",
        "version": 1,
        **money_totals(Decimal(0), Decimal(0)),
    }


def catalog_item(line: Line, category_id: str | None) -> tuple[Json, Json]:
    """A new item with one variation carrying the line's SKU: (item, variation)."""
    item_id, variation_id = new_id(24).upper(), new_id(24).upper()
    item_data: Json = {"name": line.name, "variations": []}
    if category_id:
        item_data["categories"] = [{"id": category_id, "ordinal": 0}]
        item_data["reporting_category"] = {"id": category_id, "ordinal": 0}
    variation = {
        "type": "ITEM_VARIATION",
        "id": variation_id,
        "version": 1,
        "is_deleted": False,
        "present_at_all_locations": True,
        "item_variation_data": {
            "item_id": item_id,
            "name": "Regular",
            "sku": line.sku,
            "pricing_type": "FIXED_PRICING",
            "price_money": money(line.price),
        },
    }
    item_data["variations"] = [variation]
    return {"type": "ITEM", "id": item_id, "version": 1, "item_data": item_data}, variation


def payment_event(order: Json) -> Json:
    payment = {
        "id": order["tenders"][0]["id"],
        "order_id": order["id"],
        "location_id": order["location_id"],
        "status": "COMPLETED",
        "amount_money": order["total_money"],
        "created_at": order["created_at"],
        "updated_at": order["updated_at"],
    }
    return event("payment.created", "payment", {"payment": payment}, payment["id"])


def order_updated_event(order: Json) -> Json:
    stub = {
        key: order[key] for key in ("created_at", "updated_at", "location_id", "state", "version")
    }
    stub["order_id"] = order["id"]
    return event("order.updated", "order_updated", {"order_updated": stub}, order["id"])


def event(kind: str, obj_type: str, obj: Json, data_id: str) -> Json:
    return {
        "merchant_id": "MLFAKEMERCHANT",
        "type": kind,
        "event_id": f"{new_id(8)}-{new_id(4)}-{new_id(4)}-{new_id(12)}".lower(),
        "created_at": stamp(datetime.now(UTC)),
        "data": {"type": obj_type, "id": data_id, "object": obj},
    }

"""Shopify orders (Admin REST shape) mapped to `VendorReceipt`s: the sale, then one refund
receipt per nested refund; money read from the `*_set` shop-money strings where sent."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pos_adapters.vendor import Unreadable, VendorLine, VendorReceipt, money

Order = dict[str, Any]

MAPPING_ERRORS = (KeyError, TypeError, ValueError, AttributeError, ArithmeticError)


def map_order(order: Order, categories: Mapping[str, str]) -> list[VendorReceipt | Unreadable]:
    """The order's sale, then one refund receipt per refund; a part that cannot be mapped
    becomes Unreadable and the others still come."""
    order_id = str(order.get("id", "?")) if isinstance(order, dict) else "?"
    try:
        out: list[VendorReceipt | Unreadable] = [map_sale(order, categories)]
    except MAPPING_ERRORS as exc:
        return [Unreadable(_safe_id(order_id), f"order {order_id}: {_reason(exc)}")]
    for refund in order.get("refunds") or []:
        refund_id = f"{order_id}-r{refund.get('id', '?') if isinstance(refund, dict) else '?'}"
        try:
            mapped = map_refund(order, refund, categories)
        except MAPPING_ERRORS as exc:
            out.append(Unreadable(_safe_id(refund_id), f"refund {refund_id}: {_reason(exc)}"))
            continue
        if mapped is not None:
            out.append(mapped)
    return out


def map_sale(order: Order, categories: Mapping[str, str]) -> VendorReceipt:
    """The sale as first rung up: `total_price` and `line_items`, which refunds leave alone
    (`current_total_price` falls with each refund and would look like an edit)."""
    return VendorReceipt(
        vendor_id=_vendor_id(order["id"]),
        type="sale",
        occurred_at=timestamp(order.get("processed_at") or order["created_at"]),
        total=_positive(_amount(order, "total_price")),
        store=_id_or_none(order.get("location_id")),
        device=_id_or_none(order.get("device_id")),
        discount=abs(_amount(order, "total_discounts", default="0")),
        items=tuple(_line(li, li["quantity"], categories) for li in order.get("line_items") or []),
        note=order.get("note") or None,
        voided=order.get("cancelled_at") is not None,
        **_shopper(order),
    )


def map_refund(
    order: Order, refund: dict[str, Any], categories: Mapping[str, str]
) -> VendorReceipt | None:
    """A refund as its own receipt; None for one that returned no money (a restock)."""
    lines = refund.get("refund_line_items") or []
    total = _refunded_money(refund)
    if total is None:
        total = sum((_amount(r, "subtotal") + _amount(r, "total_tax") for r in lines), Decimal(0))
    if total <= 0:
        return None
    return VendorReceipt(
        vendor_id=_vendor_id(f"{order['id']}-r{refund['id']}"),
        type="refund",
        occurred_at=timestamp(refund.get("processed_at") or refund["created_at"]),
        total=money(total),
        store=_id_or_none(_refund_location(refund, order)),
        device=_id_or_none(_refund_device(refund)),
        items=tuple(_line(r["line_item"], r["quantity"], categories) for r in lines),
        refund_of=_vendor_id(order["id"]),
        note=refund.get("note") or None,
        **_shopper(order),
    )


def _refunded_money(refund: dict[str, Any]) -> Decimal | None:
    """The successful `refund` transactions' sum; None when the refund has none."""
    paid = [
        t
        for t in refund.get("transactions") or []
        if t.get("kind") == "refund" and t.get("status") == "success"
    ]
    return sum((money(t["amount"]) for t in paid), Decimal(0)) if paid else None


def _refund_location(refund: dict[str, Any], order: Order) -> Any:
    located = [r.get("location_id") for r in refund.get("refund_line_items") or []]
    return next((loc for loc in located if loc), order.get("location_id"))


def _refund_device(refund: dict[str, Any]) -> Any:
    return next((t.get("device_id") for t in refund.get("transactions") or []), None)


def _line(item: dict[str, Any], quantity: Any, categories: Mapping[str, str]) -> VendorLine:
    sku = item.get("sku") or item.get("variant_id") or item.get("product_id") or item["id"]
    count = Decimal(str(quantity))
    if count <= 0 or count != count.quantize(Decimal("0.001")):
        raise ValueError(f"bad quantity {quantity!r}")
    price = _amount(item, "price")
    if price < 0:
        raise ValueError(f"negative price {price}")
    return VendorLine(
        sku=str(sku).strip(),
        name=str(item.get("name") or item.get("title") or sku),
        quantity=count,
        unit_price=price,
        category=categories.get(str(item.get("product_id")), ""),
    )


def _shopper(order: Order) -> dict[str, str | None]:
    """Customer id and contact as the order carries them (null without protected data)."""
    customer = order.get("customer") or {}
    return {
        "customer_id": _id_or_none(customer.get("id")),
        "phone": customer.get("phone") or order.get("phone") or None,
        "email": customer.get("email") or order.get("email") or None,
    }


def _amount(obj: dict[str, Any], field: str, default: str | None = None) -> Decimal:
    """`<field>_set.shop_money.amount` (a string) when present, else `<field>`."""
    bag = obj.get(f"{field}_set")
    if isinstance(bag, dict) and isinstance(bag.get("shop_money"), dict):
        return money(bag["shop_money"]["amount"])
    value = obj.get(field, default)
    if value is None:
        raise KeyError(field)
    return money(value)


def _positive(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError(f"negative total {value}")
    return value


def timestamp(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without offset: {value!r}")
    return moment.astimezone(UTC)


def _vendor_id(value: Any) -> str:
    text = str(value)
    if not text or len(text) > 64 or not all("!" <= c <= "~" for c in text):
        raise ValueError(f"bad id {text[:80]!r}")
    return text


def _id_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _safe_id(value: str) -> str:
    cleaned = "".join(c for c in value if "!" <= c <= "~")[:64]
    return cleaned or "?"


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    if isinstance(exc, InvalidOperation):
        return "bad amount"
    return f"{type(exc).__name__}: {exc}"[:200]

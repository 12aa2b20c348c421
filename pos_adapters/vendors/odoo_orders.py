"""Odoo `pos.order` rows mapped to `VendorReceipt`s: refunds by a negative total, percent
and negative-line discounts, the refunded sale across Odoo 16 to 18, many2one values."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pos_adapters.vendor import Unreadable, VendorLine, VendorReceipt, money

ODOO_TIME = "%Y-%m-%d %H:%M:%S"  # UTC, no zone, second resolution
RECORDED = {"paid", "done", "invoiced"}
QTY = Decimal("0.001")
Row = dict[str, Any]
Products = dict[int, tuple[str, str]]  # product id -> (default_code, category)


def receipt(
    row: Row, lines: list[Row], sold: dict[int, int], products: Products
) -> VendorReceipt | Unreadable:
    """The order as a receipt, or Unreadable naming what is wrong with it."""
    vendor_id = str(row.get("id"))[:64].replace(" ", "_")
    try:
        return _map(row, lines, sold, products)
    except (ValueError, KeyError, TypeError, IndexError, ArithmeticError) as exc:
        return Unreadable(vendor_id, f"{type(exc).__name__}: {exc}")


def _map(row: Row, lines: list[Row], sold: dict[int, int], products: Products) -> VendorReceipt:
    if not is_int(row.get("id")):
        raise ValueError(f"order id {row.get('id')!r}")
    state = row.get("state")
    if state not in RECORDED and state != "cancel":
        raise ValueError(f"unknown state {state!r}")
    total = money(row["amount_total"])
    sign = -1 if total < 0 else 1
    items, discount = _items(lines, sign, products)
    return VendorReceipt(
        vendor_id=str(row["id"]),
        type="refund" if sign < 0 else "sale",
        occurred_at=_utc(row["date_order"]),
        total=total * sign,
        store=_many2one_text(row.get("config_id")),
        discount=discount,
        items=items,
        refund_of=_refund_of(row, lines, sold) if sign < 0 else None,
        customer_id=_many2one_text(row.get("partner_id")),
        phone=text(row.get("mobile")),
        email=text(row.get("email")),
        note=_note(row),
        voided=state == "cancel",
    )


def _items(
    lines: list[Row], sign: int, products: Products
) -> tuple[tuple[VendorLine, ...], Decimal]:
    """(items, discount). In the order's direction, a line with a negative amount is a
    discount (Odoo's global discount product); a line against the direction (the returned
    part of an exchange) is netted in the total and not listed."""
    items: list[VendorLine] = []
    discount = Decimal("0")
    for line in lines:
        qty = Decimal(str(line["qty"])).quantize(QTY) * sign
        amount = money(line["price_subtotal_incl"]) * sign
        if qty > 0 and amount < 0:
            discount -= amount
        elif qty > 0:
            items.append(_line(line, qty, products))
            discount += _line_discount(line)
    return tuple(items), discount


def _line(line: Row, qty: Decimal, products: Products) -> VendorLine:
    product = line.get("product_id")
    product_id = many2one(product)
    if product_id is None:
        raise ValueError(f"line {line.get('id')} has no product")
    sku, category = products.get(product_id, ("", ""))
    name = text(line.get("full_product_name"))
    if name is None and is_pair(product):
        name = str(product[1])
    return VendorLine(
        sku=sku or str(product_id),
        name=name or sku or str(product_id),
        quantity=qty,
        unit_price=abs(money(line["price_unit"])),
        category=category,
    )


def _line_discount(line: Row) -> Decimal:
    """The percent discount of a line in baht, tax included: the line's total before the
    discount less its total after."""
    percent = Decimal(str(line.get("discount") or 0))
    if percent <= 0:
        return Decimal("0")
    if percent >= 100:
        return abs(money(line["price_unit"]) * Decimal(str(line["qty"]))).quantize(Decimal("0.01"))
    paid = abs(money(line["price_subtotal_incl"]))
    return (paid * percent / (100 - percent)).quantize(Decimal("0.01"))


def _refund_of(row: Row, lines: list[Row], sold: dict[int, int]) -> str | None:
    """The sale a refund returns: `refunded_order_id` (18), `refunded_order_ids` (16), or the
    order of a line that `refunded_orderline_id` points at."""
    linked = many2one(row.get("refunded_order_id"))
    if linked is not None:
        return str(linked)
    many = row.get("refunded_order_ids")
    if isinstance(many, list) and many and is_int(many[0]):
        return str(many[0])
    for line in lines:
        order = sold.get(many2one(line.get("refunded_orderline_id")) or 0)
        if order is not None:
            return str(order)
    return None


def _note(row: Row) -> str | None:
    notes = [text(row.get(name)) for name in ("note", "general_note")]
    return "\n".join(note for note in notes if note) or None


def _utc(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"date {value!r}")
    return datetime.strptime(value[:19], ODOO_TIME).replace(tzinfo=UTC)


def many2one(value: Any) -> int | None:
    """The id of a many2one read as `[id, "name"]` (or a bare id with load=None)."""
    if is_pair(value):
        return value[0]
    return value if is_int(value) else None


def _many2one_text(value: Any) -> str | None:
    found = many2one(value)
    return None if found is None else str(found)


def is_pair(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2 and is_int(value[0])


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def text(value: Any) -> str | None:
    """A char field's value; Odoo sends `false` for an empty one."""
    return value.strip() or None if isinstance(value, str) else None

"""Square orders mapped to `VendorReceipt`s: sale orders, return orders as refunds, money in
minor units, and the catalog cache that gives lines their SKU and category."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from pos_adapters.vendor import Unreadable, VendorLine, VendorReceipt, money

IDS_PER_BATCH = 100  # BatchRetrieveOrders and BatchRetrieveCatalogObjects take at most 100 ids
MINOR_DIGITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3}
Call = Callable[[str, str, Any], dict[str, Any]]


class _Bad(ValueError):
    """An order that cannot be mapped; its message is the Unreadable reason."""


class Catalog:
    """Each variation's SKU and its item's category name, read through `call` (the client's
    JSON call) and cached for the client's life."""

    def __init__(self, call: Call) -> None:
        self._call = call
        self.variations: dict[str, tuple[str, str]] = {}  # variation id -> (sku, category)
        self._categories: dict[str, str] = {}

    def load(self, variation_ids: Iterable[str]) -> None:
        """Cache the variations not seen yet (two batch calls per 100 at most: a variation
        brings its parent item, not the item's categories)."""
        missing = sorted({v for v in variation_ids if v not in self.variations})
        for chunk in chunks(missing, IDS_PER_BATCH):
            self._load_chunk(chunk)

    def _load_chunk(self, chunk: list[str]) -> None:
        objects, related = self._batch(chunk, related=True)
        items = {o.get("id"): o for o in objects + related if o.get("type") == "ITEM"}
        self._remember_categories(related)
        variations = [o for o in objects if o.get("type") == "ITEM_VARIATION"]
        parents = {
            v.get("id"): items.get(_data(v, "item_variation_data").get("item_id"))
            for v in variations
        }
        wanted = {_category_id(p) for p in parents.values() if p} - set(self._categories) - {None}
        if wanted:
            self._remember_categories(self._batch(sorted(wanted), related=False)[0])
        for variation_id in chunk:
            self.variations[variation_id] = ("", "")
        for v in variations:
            category = self._categories.get(_category_id(parents[v.get("id")]) or "", "")
            sku = opt_str(_data(v, "item_variation_data").get("sku")) or ""
            self.variations[v["id"]] = (sku, category)

    def _batch(self, ids: list[str], related: bool) -> tuple[list[dict], list[dict]]:
        body = {
            "object_ids": ids,
            "include_related_objects": related,
            "include_deleted_objects": True,
        }
        data = self._call("POST", "/v2/catalog/batch-retrieve", body)
        return dicts(data.get("objects")), dicts(data.get("related_objects"))

    def _remember_categories(self, objects: list[dict]) -> None:
        for obj in objects:
            if obj.get("type") == "CATEGORY" and isinstance(obj.get("id"), str):
                self._categories[obj["id"]] = opt_str(_data(obj, "category_data").get("name")) or ""


def map_orders(orders: list[dict[str, Any]], catalog: Catalog) -> list[VendorReceipt | Unreadable]:
    catalog.load(_catalog_ids(orders))
    return [map_order(order, catalog) for order in orders]


def map_order(order: Mapping[str, Any], catalog: Catalog) -> VendorReceipt | Unreadable:
    raw_id = order.get("id")
    try:
        vendor_id = _vendor_id(raw_id)
        if order.get("returns"):
            return _refund(order, vendor_id, catalog)
        return _sale(order, vendor_id, catalog)
    except (_Bad, ValueError, TypeError, KeyError, AttributeError, ArithmeticError) as exc:
        return Unreadable(_printable(raw_id), f"{type(exc).__name__}: {exc}")


def _sale(order: Mapping[str, Any], vendor_id: str, catalog: Catalog) -> VendorReceipt:
    items = tuple(_line(line, catalog) for line in order.get("line_items") or [])
    if not items:
        raise _Bad("an order with neither line items nor returns")
    return VendorReceipt(
        vendor_id=vendor_id,
        type="sale",
        occurred_at=_occurred(order),
        total=_positive(order.get("total_money"), "total_money"),
        discount=_positive(order.get("total_discount_money") or {"amount": 0}, "discount"),
        items=items,
        voided=order.get("state") == "CANCELED",
        **_common(order),
    )


def _refund(order: Mapping[str, Any], vendor_id: str, catalog: Catalog) -> VendorReceipt:
    returns = [r for r in order["returns"] if isinstance(r, dict)]
    sources = {opt_str(r.get("source_order_id")) for r in returns}
    if len(sources) != 1 or None in sources:
        raise _Bad("a return not linked to exactly one sale order")
    amounts = _return_amounts(order, returns)
    lines = [line for r in returns for line in r.get("return_line_items") or []]
    return VendorReceipt(
        vendor_id=vendor_id,
        type="refund",
        occurred_at=_occurred(order),
        total=_positive(amounts.get("total_money"), "return_amounts.total_money"),
        discount=_positive(amounts.get("discount_money") or {"amount": 0}, "discount"),
        items=tuple(_line(line, catalog) for line in lines),
        refund_of=_vendor_id(sources.pop()),
        **_common(order),
    )


def _line(line: Mapping[str, Any], catalog: Catalog) -> VendorLine:
    variation = opt_str(line.get("catalog_object_id"))
    sku, category = catalog.variations.get(variation or "", ("", ""))
    sku = sku or variation or opt_str(line.get("uid")) or str(line.get("item_type") or "CUSTOM")
    quantity = _quantity(line.get("quantity"))
    name = opt_str(line.get("name")) or opt_str(line.get("variation_name")) or sku
    price = _positive(line.get("base_price_money") or {"amount": 0}, "base_price_money")
    return VendorLine(sku=sku, name=name, quantity=quantity, unit_price=price, category=category)


def _catalog_ids(orders: list[dict[str, Any]]) -> Iterator[str]:
    for order in orders:
        lines = list(order.get("line_items") or [])
        for ret in order.get("returns") or []:
            lines += ret.get("return_line_items") or [] if isinstance(ret, dict) else []
        for line in lines:
            if isinstance(line, dict) and isinstance(line.get("catalog_object_id"), str):
                yield line["catalog_object_id"]


def _data(obj: Mapping[str, Any] | None, key: str) -> Mapping[str, Any]:
    value = (obj or {}).get(key)
    return value if isinstance(value, dict) else {}


def _category_id(item: Mapping[str, Any] | None) -> str | None:
    """The item's reporting category, else its first category, else the legacy category_id."""
    data = _data(item, "item_data")
    reporting = data.get("reporting_category")
    if isinstance(reporting, dict) and reporting.get("id"):
        return str(reporting["id"])
    categories = dicts(data.get("categories"))
    if categories and categories[0].get("id"):
        return str(categories[0]["id"])
    return opt_str(data.get("category_id"))


def _common(order: Mapping[str, Any]) -> dict[str, Any]:
    tenders = dicts(order.get("tenders"))
    customer = opt_str(order.get("customer_id")) or next(
        (t["customer_id"] for t in tenders if opt_str(t.get("customer_id"))), None
    )
    return {
        "store": opt_str(order.get("location_id")),
        "customer_id": customer,
        "note": _note(order, tenders),
    }


def _note(order: Mapping[str, Any], tenders: list[dict[str, Any]]) -> str | None:
    """The first tender note, else the first line note (Square orders have no order note)."""
    lines = dicts(order.get("line_items"))
    for ret in dicts(order.get("returns")):
        lines += dicts(ret.get("return_line_items"))
    for source in (tenders, lines):
        for entry in source:
            if opt_str(entry.get("note")):
                return str(entry["note"]).strip()
    return None


def _return_amounts(order: Mapping[str, Any], returns: list[dict[str, Any]]) -> Mapping[str, Any]:
    """The order's `return_amounts`, else the sum of each return's, in minor units."""
    if isinstance(order.get("return_amounts"), dict):
        return order["return_amounts"]
    total = sum(_data(_data(r, "return_amounts"), "total_money").get("amount", 0) for r in returns)
    currency = _data(_data(returns[0], "return_amounts"), "total_money").get("currency")
    return {"total_money": {"amount": total, "currency": currency}} if total else {}


def _positive(value: Any, field: str) -> Decimal:
    """A Square Money `{amount, currency}` as major units; negative or malformed is _Bad."""
    if not isinstance(value, dict):
        raise _Bad(f"{field} missing")
    amount = value.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise _Bad(f"{field}.amount is not a non-negative integer: {amount!r}")
    digits = MINOR_DIGITS.get(str(value.get("currency") or ""), 2)
    return money(Decimal(amount).scaleb(-digits))


def _quantity(value: Any) -> Decimal:
    """Square's quantity string ("2", "1.70000") as a positive Decimal of at most 3 places."""
    try:
        quantity = Decimal(str(value)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError) as exc:
        raise _Bad(f"quantity is not a number: {value!r}") from exc
    if not quantity.is_finite() or quantity <= 0:
        raise _Bad(f"quantity is not positive: {value!r}")
    return quantity.to_integral_value() if quantity == quantity.to_integral_value() else quantity


def _occurred(order: Mapping[str, Any]) -> datetime:
    return parse_time(order.get("closed_at") or order.get("created_at"))


def parse_time(value: Any) -> datetime:
    """An RFC 3339 time as an aware UTC datetime; a naive or malformed time is a ValueError."""
    if not isinstance(value, str):
        raise _Bad(f"not a time: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise _Bad(f"a time without offset: {value!r}")
    return parsed.astimezone(UTC)


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _vendor_id(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise _Bad(f"order id is not a string of 1 to 64 characters: {value!r}")
    if not all("!" <= ch <= "~" for ch in value):
        raise _Bad(f"order id is not printable ASCII without spaces: {value!r}")
    return value


def _printable(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if "!" <= ch <= "~")[:64]


def opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value or [] if isinstance(v, dict)] if isinstance(value, list) else []


def chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]

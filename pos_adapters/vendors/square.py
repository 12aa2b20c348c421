"""Square adapter: pulls COMPLETED and CANCELED orders with `POST /v2/orders/search` (sorted and
filtered by `updated_at`, every location, 10 per query), fetches orders by id with
`POST /v2/orders/batch-retrieve`, resolves line SKUs and categories through
`POST /v2/catalog/batch-retrieve`, reads customers from `GET /v2/customers/{id}` and verifies
`x-square-hmacsha256-signature` webhooks.

A sale order maps to a sale (`CANCELED` = voided); a return order (`returns[]`) maps to a refund
of `returns[].source_order_id`, its amount taken from `return_amounts` (its `total_money` is 0).
Money arrives in the currency's minor unit (`{"amount": 6500, "currency": "THB"}`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from pos_adapters.vendor import (
    Connection,
    Customer,
    Page,
    Unreadable,
    VendorLine,
    VendorReceipt,
    WebhookEvent,
    money,
)
from pos_adapters.vendor_http import VendorError, VendorHttp, error_of

SQUARE_VERSION = "2025-01-23"
OVERLAP = timedelta(minutes=5)  # the next window starts this long before the last update seen
PAGE_LIMIT = 500  # Square's default and maximum for SearchOrders
LOCATIONS_PER_QUERY = 10
IDS_PER_BATCH = 100  # BatchRetrieveOrders takes at most 100 ids
STATES = ["COMPLETED", "CANCELED"]
MINOR_DIGITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3}
SIGNATURE_HEADER = "x-square-hmacsha256-signature"


class _Bad(ValueError):
    """An order that cannot be mapped; its message is the Unreadable reason."""


@dataclass(frozen=True)
class _Window:
    """The pull position: `since` starts the `updated_at` range (None: all history); within a
    window, `chunk` is the group of 10 locations and `token` Square's page cursor; `seen` is
    the latest `updated_at` read so far."""

    since: str | None = None
    chunk: int = 0
    token: str | None = None
    seen: str | None = None

    def encode(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None})

    @classmethod
    def decode(cls, cursor: str) -> _Window:
        """A cursor we wrote; anything else restarts from the beginning (replays are fine)."""
        try:
            raw = json.loads(cursor)
            return cls(
                since=_opt_str(raw.get("since")),
                chunk=max(int(raw.get("chunk", 0)), 0),
                token=_opt_str(raw.get("token")),
                seen=_opt_str(raw.get("seen")),
            )
        except (ValueError, TypeError, AttributeError):
            return cls()

    def finished(self) -> _Window:
        """The idle cursor after the last page: the next window starts before `seen`."""
        if self.seen is None:
            return _Window(since=self.since)
        return _Window(since=_iso(_parse_time(self.seen) - OVERLAP))


class Client:
    kind: ClassVar[str] = "square"
    default_url: ClassVar[str] = "https://connect.squareup.com"
    credential_fields: ClassVar[tuple[str, ...]] = ("access_token",)

    def __init__(self, connection: Connection, http: VendorHttp) -> None:
        self.connection = connection
        self.http = http
        self._base = (connection.base_url or self.default_url).rstrip("/")
        self._locations: list[str] | None = None
        self._variations: dict[str, tuple[str, str]] = {}  # variation id -> (sku, category)
        self._categories: dict[str, str] = {}

    # --- pull ---------------------------------------------------------------------------

    def fetch_page(self, cursor: str | None, since: datetime | None) -> Page:
        window = _Window.decode(cursor) if cursor else _Window(since=since and _iso(since))
        chunks = list(_chunks(self._location_ids(), LOCATIONS_PER_QUERY))
        if not chunks:
            return Page([], window.finished().encode(), False)
        if window.chunk >= len(chunks):
            window = replace(window, chunk=0, token=None)
        response = self._search(chunks[window.chunk], window)
        if window.token and _is_stale_cursor(response):
            window = replace(window, chunk=0, token=None)  # restart the window, same range
            response = self._search(chunks[window.chunk], window)
        orders = _orders_of(self._json(response))
        seen = _latest(window.seen, orders)
        token = _opt_str(self._json(response).get("cursor"))
        return Page(self._map_orders(orders), *_advance(window, seen, token, len(chunks)))

    def _search(self, locations: list[str], window: _Window) -> requests.Response:
        query_filter: dict[str, Any] = {"state_filter": {"states": STATES}}
        if window.since:
            query_filter["date_time_filter"] = {"updated_at": {"start_at": window.since}}
        body: dict[str, Any] = {
            "location_ids": locations,
            "limit": PAGE_LIMIT,
            "query": {
                "filter": query_filter,
                "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"},
            },
        }
        if window.token:
            body["cursor"] = window.token
        return self._send("POST", "/v2/orders/search", body)

    def _location_ids(self) -> list[str]:
        """Every location of the account, active or not (old orders live at closed ones)."""
        if self._locations is None:
            data = self._call("GET", "/v2/locations")
            ids = [loc.get("id") for loc in data.get("locations") or [] if isinstance(loc, dict)]
            self._locations = sorted(i for i in ids if isinstance(i, str) and i)
        return self._locations

    def fetch_receipts(self, vendor_ids: list[str]) -> list[VendorReceipt | Unreadable]:
        """Orders by id; OPEN and DRAFT orders are not receipts yet and are left out."""
        orders: list[dict[str, Any]] = []
        for chunk in _chunks(list(dict.fromkeys(vendor_ids)), IDS_PER_BATCH):
            orders += _orders_of(
                self._call("POST", "/v2/orders/batch-retrieve", {"order_ids": chunk})
            )
        return self._map_orders([o for o in orders if o.get("state") in STATES])

    def customer(self, customer_id: str) -> Customer | None:
        response = self._send("GET", f"/v2/customers/{quote(customer_id, safe='')}")
        if response.status_code == 404:
            return None
        found = self._json(response).get("customer")
        if not isinstance(found, dict):
            return None
        return Customer(
            phone=_opt_str(found.get("phone_number")), email=_opt_str(found.get("email_address"))
        )

    # --- webhooks -----------------------------------------------------------------------

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]
    ) -> bool:
        """Square signs our notification URL as registered followed by the raw body."""
        secret = self.connection.webhook_secret
        signature = _header(headers, SIGNATURE_HEADER)
        if not secret or not signature:
            return False
        expected = sign(secret, self.connection.webhook_url, body)
        return hmac.compare_digest(expected.encode(), signature.strip().encode())

    def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        envelope = _envelope(body)
        event_type = envelope["type"]
        data = envelope["data"]
        obj = data.get("object") if isinstance(data.get("object"), dict) else {}
        event_id = _opt_str(envelope.get("event_id"))
        if event_type.startswith("order."):
            ids = [_order_stub_id(data, obj)]
        elif event_type.startswith("payment."):
            ids = [_opt_str((obj.get("payment") or {}).get("order_id"))]
        elif event_type.startswith("refund."):
            ids = self._return_orders_for(obj.get("refund") or {})
        else:
            ids = []
        return WebhookEvent(event_id=event_id, receipt_ids=[i for i in ids if i])

    def _return_orders_for(self, refund: Mapping[str, Any]) -> list[str | None]:
        """The return order of a refund. Whether `refund.order_id` names the return order or
        the sale is not documented: a sale sends us looking for its return order by time."""
        order_id = _opt_str(refund.get("order_id"))
        if not order_id:
            return []
        found = _orders_of(
            self._call("POST", "/v2/orders/batch-retrieve", {"order_ids": [order_id]})
        )
        if not found or found[0].get("returns"):
            return [order_id]
        match = self._find_return(found[0], refund)
        return [match or order_id]

    def _find_return(self, sale: Mapping[str, Any], refund: Mapping[str, Any]) -> str | None:
        created = _opt_str(refund.get("created_at")) or _opt_str(sale.get("updated_at"))
        location = _opt_str(refund.get("location_id")) or _opt_str(sale.get("location_id"))
        if not created or not location:
            return None
        start = _iso(_parse_time(created) - OVERLAP)
        window = _Window(since=start)
        for _ in range(3):  # a refund's return order is among the first updates after it
            data = self._json(self._search([location], window))
            for order in _orders_of(data):
                if _is_return_of(order, sale.get("id"), refund.get("id")):
                    return _opt_str(order.get("id"))
            if not data.get("cursor"):
                return None
            window = replace(window, token=str(data["cursor"]))
        return None

    # --- mapping ------------------------------------------------------------------------

    def _map_orders(self, orders: list[dict[str, Any]]) -> list[VendorReceipt | Unreadable]:
        self._load_catalog(_catalog_ids(orders))
        return [self._map_order(order) for order in orders]

    def _map_order(self, order: Mapping[str, Any]) -> VendorReceipt | Unreadable:
        raw_id = order.get("id")
        try:
            vendor_id = _vendor_id(raw_id)
            if order.get("returns"):
                return self._refund(order, vendor_id)
            return self._sale(order, vendor_id)
        except (_Bad, ValueError, TypeError, KeyError, AttributeError, ArithmeticError) as exc:
            return Unreadable(_printable(raw_id), f"{type(exc).__name__}: {exc}")

    def _sale(self, order: Mapping[str, Any], vendor_id: str) -> VendorReceipt:
        items = tuple(self._line(line) for line in order.get("line_items") or [])
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

    def _refund(self, order: Mapping[str, Any], vendor_id: str) -> VendorReceipt:
        returns = [r for r in order["returns"] if isinstance(r, dict)]
        sources = {_opt_str(r.get("source_order_id")) for r in returns}
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
            items=tuple(self._line(line) for line in lines),
            refund_of=_vendor_id(sources.pop()),
            **_common(order),
        )

    def _line(self, line: Mapping[str, Any]) -> VendorLine:
        variation = _opt_str(line.get("catalog_object_id"))
        sku, category = self._variations.get(variation or "", ("", ""))
        sku = (
            sku or variation or _opt_str(line.get("uid")) or str(line.get("item_type") or "CUSTOM")
        )
        quantity = _quantity(line.get("quantity"))
        name = _opt_str(line.get("name")) or _opt_str(line.get("variation_name")) or sku
        price = _positive(line.get("base_price_money") or {"amount": 0}, "base_price_money")
        return VendorLine(
            sku=sku, name=name, quantity=quantity, unit_price=price, category=category
        )

    def _load_catalog(self, variation_ids: Iterable[str]) -> None:
        """Cache each variation's SKU and its item's category name (two batch calls at most:
        a variation brings its parent item, not the item's categories)."""
        missing = sorted({v for v in variation_ids if v not in self._variations})
        for chunk in _chunks(missing, IDS_PER_BATCH):
            objects, related = self._catalog(chunk, related=True)
            items = {o.get("id"): o for o in objects + related if o.get("type") == "ITEM"}
            self._remember_categories(related)
            variations = [o for o in objects if o.get("type") == "ITEM_VARIATION"]
            parents = {
                v.get("id"): items.get(_data(v, "item_variation_data").get("item_id"))
                for v in variations
            }
            wanted = (
                {_category_id(p) for p in parents.values() if p} - set(self._categories) - {None}
            )
            if wanted:
                self._remember_categories(self._catalog(sorted(wanted), related=False)[0])
            for variation_id in chunk:
                self._variations[variation_id] = ("", "")
            for v in variations:
                category = self._categories.get(_category_id(parents[v.get("id")]) or "", "")
                sku = _opt_str(_data(v, "item_variation_data").get("sku")) or ""
                self._variations[v["id"]] = (sku, category)

    def _catalog(self, ids: list[str], related: bool) -> tuple[list[dict], list[dict]]:
        body = {
            "object_ids": ids,
            "include_related_objects": related,
            "include_deleted_objects": True,
        }
        data = self._call("POST", "/v2/catalog/batch-retrieve", body)
        return _dicts(data.get("objects")), _dicts(data.get("related_objects"))

    def _remember_categories(self, objects: list[dict]) -> None:
        for obj in objects:
            if obj.get("type") == "CATEGORY" and isinstance(obj.get("id"), str):
                self._categories[obj["id"]] = (
                    _opt_str(_data(obj, "category_data").get("name")) or ""
                )

    # --- http ---------------------------------------------------------------------------

    def _send(self, method: str, path: str, body: Any = None) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {self.connection.credentials.get('access_token', '')}",
            "Square-Version": SQUARE_VERSION,
            "Accept": "application/json",
        }
        return self.http.request(method, self._base + path, headers=headers, json=body)

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self._send(method, path, body)
        if not response.ok:
            raise error_of(response)
        return self._json(response)

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        if not response.ok:
            raise error_of(response)
        try:
            data = response.json()
        except ValueError as exc:
            raise VendorError(f"not JSON from {response.url}: {response.text[:200]}") from exc
        if not isinstance(data, dict):
            raise VendorError(f"unexpected body from {response.url}: {response.text[:200]}")
        return data


def sign(secret: str, url: str, body: bytes) -> str:
    """Square's signature: base64 HMAC-SHA256 of the notification URL followed by the body."""
    digest = hmac.new(secret.encode(), url.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# --- pure helpers -------------------------------------------------------------------------


def _advance(window: _Window, seen: str | None, token: str | None, chunks: int) -> tuple[str, bool]:
    """The cursor after a page and whether more pages follow in this window."""
    if token:
        return replace(window, token=token, seen=seen).encode(), True
    if window.chunk + 1 < chunks:
        return replace(window, chunk=window.chunk + 1, token=None, seen=seen).encode(), True
    return replace(window, seen=seen).finished().encode(), False


def _is_stale_cursor(response: requests.Response) -> bool:
    if response.status_code != 400:
        return False
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return False
    return any(isinstance(e, dict) and e.get("code") == "INVALID_CURSOR" for e in errors)


def _orders_of(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    return _dicts(data.get("orders"))


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value or [] if isinstance(v, dict)] if isinstance(value, list) else []


def _latest(seen: str | None, orders: list[dict[str, Any]]) -> str | None:
    """The latest of `seen` and the orders' `updated_at` (unparseable times are skipped)."""
    times = [_parse_time(seen)] if seen else []
    for order in orders:
        try:
            times.append(_parse_time(order.get("updated_at")))
        except ValueError:
            continue
    return _iso(max(times)) if times else None


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
    categories = _dicts(data.get("categories"))
    if categories and categories[0].get("id"):
        return str(categories[0]["id"])
    return _opt_str(data.get("category_id"))


def _common(order: Mapping[str, Any]) -> dict[str, Any]:
    tenders = _dicts(order.get("tenders"))
    customer = _opt_str(order.get("customer_id")) or next(
        (t["customer_id"] for t in tenders if _opt_str(t.get("customer_id"))), None
    )
    return {
        "store": _opt_str(order.get("location_id")),
        "customer_id": customer,
        "note": _note(order, tenders),
    }


def _note(order: Mapping[str, Any], tenders: list[dict[str, Any]]) -> str | None:
    """The first tender note, else the first line note (Square orders have no order note)."""
    lines = _dicts(order.get("line_items"))
    for ret in _dicts(order.get("returns")):
        lines += _dicts(ret.get("return_line_items"))
    for source in (tenders, lines):
        for entry in source:
            if _opt_str(entry.get("note")):
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
    return _parse_time(order.get("closed_at") or order.get("created_at"))


def _parse_time(value: Any) -> datetime:
    """An RFC 3339 time as an aware UTC datetime; a naive or malformed time is a ValueError."""
    if not isinstance(value, str):
        raise _Bad(f"not a time: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise _Bad(f"a time without offset: {value!r}")
    return parsed.astimezone(UTC)


def _iso(moment: datetime) -> str:
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


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _envelope(body: bytes) -> dict[str, Any]:
    """The webhook envelope; a body that is not one is a ValueError."""
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"webhook body is not JSON: {exc}") from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("type"), str):
        raise ValueError("webhook body has no event type")
    if not isinstance(envelope.get("data"), dict):
        raise ValueError("webhook body has no data object")
    return envelope


def _order_stub_id(data: Mapping[str, Any], obj: Mapping[str, Any]) -> str | None:
    """`order.*` events carry a stub (`order_created`, `order_updated`, …) naming the order."""
    for stub in obj.values():
        if isinstance(stub, dict) and _opt_str(stub.get("order_id")):
            return stub["order_id"]
    return _opt_str(data.get("id"))


def _is_return_of(order: Mapping[str, Any], sale_id: Any, refund_id: Any) -> bool:
    if any(r.get("id") == refund_id for r in _dicts(order.get("refunds"))):
        return True
    return any(r.get("source_order_id") == sale_id for r in _dicts(order.get("returns")))


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]

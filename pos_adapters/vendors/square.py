"""Square adapter: orders pulled with `POST /v2/orders/search` by `updated_at` (every
location, 10 per query) and fetched by id, customers, and signed webhooks; the transport."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from pos_adapters.vendor import Connection, Customer, Page, Unreadable, VendorReceipt, WebhookEvent
from pos_adapters.vendor_http import VendorError, VendorHttp, error_of
from pos_adapters.vendors.square_orders import (
    IDS_PER_BATCH,
    Catalog,
    chunks,
    dicts,
    iso,
    map_orders,
    opt_str,
    parse_time,
)

SQUARE_VERSION = "2025-01-23"
OVERLAP = timedelta(minutes=5)  # the next window starts this long before the last update seen
PAGE_LIMIT = 500  # Square's default and maximum for SearchOrders
LOCATIONS_PER_QUERY = 10
STATES = ["COMPLETED", "CANCELED"]
SIGNATURE_HEADER = "x-square-hmacsha256-signature"


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
                since=opt_str(raw.get("since")),
                chunk=max(int(raw.get("chunk", 0)), 0),
                token=opt_str(raw.get("token")),
                seen=opt_str(raw.get("seen")),
            )
        except (ValueError, TypeError, AttributeError):
            return cls()

    def finished(self) -> _Window:
        """The idle cursor after the last page: the next window starts before `seen`."""
        if self.seen is None:
            return _Window(since=self.since)
        return _Window(since=iso(parse_time(self.seen) - OVERLAP))


class Client:
    kind: ClassVar[str] = "square"
    default_url: ClassVar[str] = "https://connect.squareup.com"
    credential_fields: ClassVar[tuple[str, ...]] = ("access_token",)

    def __init__(self, connection: Connection, http: VendorHttp) -> None:
        self.connection = connection
        self.http = http
        self._base = (connection.base_url or self.default_url).rstrip("/")
        self._locations: list[str] | None = None
        self._catalog = Catalog(self._call)

    # --- pull ---------------------------------------------------------------------------

    def fetch_page(self, cursor: str | None, since: datetime | None) -> Page:
        window = _Window.decode(cursor) if cursor else _Window(since=since and iso(since))
        groups = list(chunks(self._location_ids(), LOCATIONS_PER_QUERY))
        if not groups:
            return Page([], window.finished().encode(), False)
        if window.chunk >= len(groups):
            window = replace(window, chunk=0, token=None)
        response = self._search(groups[window.chunk], window)
        if window.token and _is_stale_cursor(response):
            window = replace(window, chunk=0, token=None)  # restart the window, same range
            response = self._search(groups[window.chunk], window)
        orders = orders_of(self._json(response))
        seen = _latest(window.seen, orders)
        token = opt_str(self._json(response).get("cursor"))
        return Page(map_orders(orders, self._catalog), *_advance(window, seen, token, len(groups)))

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
        for chunk in chunks(list(dict.fromkeys(vendor_ids)), IDS_PER_BATCH):
            orders += orders_of(
                self._call("POST", "/v2/orders/batch-retrieve", {"order_ids": chunk})
            )
        return map_orders([o for o in orders if o.get("state") in STATES], self._catalog)

    def customer(self, customer_id: str) -> Customer | None:
        response = self._send("GET", f"/v2/customers/{quote(customer_id, safe='')}")
        if response.status_code == 404:
            return None
        found = self._json(response).get("customer")
        if not isinstance(found, dict):
            return None
        return Customer(
            phone=opt_str(found.get("phone_number")), email=opt_str(found.get("email_address"))
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

    def webhook_id(self, headers: Mapping[str, str], body: bytes) -> str | None:
        return opt_str(_envelope(body).get("event_id"))

    def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        envelope = _envelope(body)
        event_type = envelope["type"]
        data = envelope["data"]
        obj = data.get("object") if isinstance(data.get("object"), dict) else {}
        event_id = opt_str(envelope.get("event_id"))
        if event_type.startswith("order."):
            ids = [_order_stub_id(data, obj)]
        elif event_type.startswith("payment."):
            ids = [opt_str((obj.get("payment") or {}).get("order_id"))]
        elif event_type.startswith("refund."):
            ids = self._return_orders_for(obj.get("refund") or {})
        else:
            ids = []
        return WebhookEvent(event_id=event_id, receipt_ids=[i for i in ids if i])

    def _return_orders_for(self, refund: Mapping[str, Any]) -> list[str | None]:
        """The return order of a refund. Whether `refund.order_id` names the return order or
        the sale is not documented: a sale sends us looking for its return order by time."""
        order_id = opt_str(refund.get("order_id"))
        if not order_id:
            return []
        found = orders_of(
            self._call("POST", "/v2/orders/batch-retrieve", {"order_ids": [order_id]})
        )
        if not found or found[0].get("returns"):
            return [order_id]
        match = self._find_return(found[0], refund)
        return [match or order_id]

    def _find_return(self, sale: Mapping[str, Any], refund: Mapping[str, Any]) -> str | None:
        created = opt_str(refund.get("created_at")) or opt_str(sale.get("updated_at"))
        location = opt_str(refund.get("location_id")) or opt_str(sale.get("location_id"))
        if not created or not location:
            return None
        start = iso(parse_time(created) - OVERLAP)
        window = _Window(since=start)
        for _ in range(3):  # a refund's return order is among the first updates after it
            data = self._json(self._search([location], window))
            for order in orders_of(data):
                if _is_return_of(order, sale.get("id"), refund.get("id")):
                    return opt_str(order.get("id"))
            if not data.get("cursor"):
                return None
            window = replace(window, token=str(data["cursor"]))
        return None

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


def orders_of(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    return dicts(data.get("orders"))


def _latest(seen: str | None, orders: list[dict[str, Any]]) -> str | None:
    """The latest of `seen` and the orders' `updated_at` (unparseable times are skipped)."""
    times = [parse_time(seen)] if seen else []
    for order in orders:
        try:
            times.append(parse_time(order.get("updated_at")))
        except ValueError:
            continue
    return iso(max(times)) if times else None


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
        if isinstance(stub, dict) and opt_str(stub.get("order_id")):
            return stub["order_id"]
    return opt_str(data.get("id"))


def _is_return_of(order: Mapping[str, Any], sale_id: Any, refund_id: Any) -> bool:
    if any(r.get("id") == refund_id for r in dicts(order.get("refunds"))):
        return True
    return any(r.get("source_order_id") == sale_id for r in dicts(order.get("returns")))

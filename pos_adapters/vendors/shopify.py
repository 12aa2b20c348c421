"""Shopify adapter: a shop's orders through the Admin REST API of a custom app, pulled by
`updated_at` with `page_info` paging (`_Rest` the transport, `_Window` the cursor), product
types, customers and signed webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import requests

from pos_adapters.vendor import Connection, Customer, Page, Unreadable, VendorReceipt, WebhookEvent
from pos_adapters.vendor_http import VendorAuthError, VendorHttp, error_of
from pos_adapters.vendors.shopify_orders import Order, map_order, timestamp

API_VERSION = "2025-01"
PLACEHOLDER_URL = "https://{shop}.myshopify.com"
PAGE_SIZE = 250  # Shopify's maximum `limit`
OVERLAP = timedelta(minutes=5)
ORDER_TOPICS = {"orders/create", "orders/updated", "orders/cancelled", "orders/paid"}
REFUND_TOPICS = {"refunds/create"}


class StalePage(Exception):
    """Shopify refused a `page_info` token (400): the window restarts."""


@dataclass(frozen=True)
class Batch:
    orders: list[Order]
    next_page: str | None
    server_time: datetime | None


class _Rest:
    """The Admin REST calls the adapter makes."""

    def __init__(self, base_url: str, token: str, http: VendorHttp) -> None:
        self.base = f"{base_url.rstrip('/')}/admin/api/{API_VERSION}"
        self.headers = {"X-Shopify-Access-Token": token, "Accept": "application/json"}
        self.http = http

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> requests.Response:
        return self.http.request("GET", f"{self.base}/{path}", headers=self.headers, params=params)

    def orders(self, params: Mapping[str, Any]) -> Batch:
        response = self.get("orders.json", params)
        if response.status_code == 400 and "page_info" in params:
            raise StalePage(response.text[:200])
        body = _ok_json(response)
        next_url = response.links.get("next", {}).get("url")
        return Batch(list(body["orders"]), _page_info(next_url), _server_time(response))

    def orders_by_id(self, ids: list[str]) -> list[Order]:
        params = {"ids": ",".join(ids), "status": "any", "limit": PAGE_SIZE}
        return list(_ok_json(self.get("orders.json", params))["orders"])

    def product_types(self, ids: list[str]) -> dict[str, str]:
        params = {"ids": ",".join(ids), "fields": "id,product_type", "limit": PAGE_SIZE}
        products = _ok_json(self.get("products.json", params))["products"]
        return {str(p["id"]): p.get("product_type") or "" for p in products}

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        response = self.get(f"customers/{customer_id}.json")
        if response.status_code == 404:
            return None
        return _ok_json(response)["customer"]


def _ok_json(response: requests.Response) -> Any:
    if not 200 <= response.status_code < 300:
        raise error_of(response)
    return response.json()


def _page_info(url: str | None) -> str | None:
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("page_info")
    return values[0] if values else None


def _server_time(response: requests.Response) -> datetime | None:
    try:
        return parsedate_to_datetime(response.headers["Date"]).astimezone(UTC)
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class _Window:
    """The pull cursor: the window's `updated_at_min`, the page token inside it, and the
    newest `updated_at` seen so far (capped by the server clock at the window's start)."""

    start: datetime | None = None
    page: str | None = None
    high: datetime | None = None
    clock: datetime | None = None

    @classmethod
    def load(cls, cursor: str | None, since: datetime | None) -> _Window:
        if cursor:
            try:
                data = json.loads(cursor)
                start, high, clock = (_when(data.get(k)) for k in ("start", "high", "clock"))
                return cls(start, data.get("page"), high, clock)
            except (ValueError, TypeError, AttributeError):
                pass  # an unreadable cursor starts the pull again from `since`
        return cls(start=since.astimezone(UTC) if since else None)

    def dump(self) -> str:
        data = {"start": _iso(self.start), "page": self.page}
        data |= {"high": _iso(self.high), "clock": _iso(self.clock)}
        return json.dumps({k: v for k, v in data.items() if v is not None}, sort_keys=True)

    def query(self) -> dict[str, Any]:
        if self.page:
            return {"limit": PAGE_SIZE, "page_info": self.page}
        params: dict[str, Any] = {"status": "any", "limit": PAGE_SIZE}
        if self.start:
            params["updated_at_min"] = _iso(self.start.replace(microsecond=0))
        return params

    def advance(self, batch: Batch, seen: Iterable[datetime]) -> _Window:
        high = max([*seen, *([self.high] if self.high else [])], default=None)
        clock = self.clock if self.page else batch.server_time
        moved = replace(self, page=batch.next_page, high=high, clock=clock)
        return moved if batch.next_page else moved.closed()

    def closed(self) -> _Window:
        """After the last page: the next window starts an overlap before the high mark."""
        if self.high is None:
            return _Window(start=self.start)
        mark = min(self.high, self.clock) if self.clock else self.high
        return _Window(start=mark - OVERLAP)


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class Client:
    """A shop's orders and refunds through the Admin REST API (custom-app access token)."""

    kind: ClassVar[str] = "shopify"
    default_url: ClassVar[str] = PLACEHOLDER_URL
    credential_fields: ClassVar[tuple[str, ...]] = ("shop", "access_token")

    def __init__(self, connection: Connection, http: VendorHttp) -> None:
        shop = connection.credentials.get("shop", "")
        base = connection.base_url or PLACEHOLDER_URL
        if base == PLACEHOLDER_URL:
            base = PLACEHOLDER_URL.format(shop=_shop_name(shop))
        self.rest = _Rest(base, connection.credentials.get("access_token", ""), http)
        self.secret = connection.webhook_secret
        self.categories: dict[str, str] = {}
        self.categories_readable = True

    def fetch_page(self, cursor: str | None, since: datetime | None) -> Page:
        window = _Window.load(cursor, since)
        try:
            batch = self.rest.orders(window.query())
        except StalePage:
            window = _Window(start=window.start, high=window.high)
            batch = self.rest.orders(window.query())
        seen = [t for t in map(_updated_at, batch.orders) if t is not None]
        window = window.advance(batch, seen)
        return Page(self._receipts(batch.orders), window.dump(), batch.next_page is not None)

    def fetch_receipts(self, vendor_ids: list[str]) -> list[VendorReceipt | Unreadable]:
        """Every receipt of the orders named (a sale id or a `<order>-r<refund>` id): a
        refund webhook names its order, whose refunds come back with its sale."""
        order_ids = sorted({v.split("-r", 1)[0] for v in vendor_ids if v})
        orders: list[Order] = []
        for start in range(0, len(order_ids), PAGE_SIZE):
            orders += self.rest.orders_by_id(order_ids[start : start + PAGE_SIZE])
        return self._receipts(orders)

    def customer(self, customer_id: str) -> Customer | None:
        found = self.rest.customer(customer_id)
        if found is None:
            return None
        return Customer(phone=found.get("phone") or None, email=found.get("email") or None)

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]
    ) -> bool:
        """`X-Shopify-Hmac-Sha256` is base64 HMAC-SHA256 of the raw body with the secret."""
        given = _header(headers, "X-Shopify-Hmac-Sha256")
        if not self.secret or not given:
            return False
        digest = hmac.new(self.secret.encode(), body, hashlib.sha256).digest()
        return hmac.compare_digest(base64.b64encode(digest), given.strip().encode())

    def webhook_id(self, headers: Mapping[str, str], body: bytes) -> str | None:
        _delivery(headers, body)
        return _event_id(headers)

    def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        topic, payload = _delivery(headers, body)
        event_id = _event_id(headers)
        if topic in ORDER_TOPICS:
            return WebhookEvent(event_id, receipts=self._receipts([payload]))
        if topic in REFUND_TOPICS:
            return WebhookEvent(event_id, receipt_ids=[str(payload["order_id"])])
        return WebhookEvent(event_id)

    def _receipts(self, orders: list[Order]) -> list[VendorReceipt | Unreadable]:
        categories = self._categories(orders)
        return [r for order in orders for r in map_order(order, categories)]

    def _categories(self, orders: list[Order]) -> dict[str, str]:
        """Product types of the orders' products, looked up once per client, 250 at a time.
        Without the `read_products` scope (403) lines go without a category."""
        wanted = sorted({p for o in orders for p in _product_ids(o)} - self.categories.keys())
        for start in range(0, len(wanted) if self.categories_readable else 0, PAGE_SIZE):
            chunk = wanted[start : start + PAGE_SIZE]
            try:
                found = self.rest.product_types(chunk)
            except VendorAuthError:
                self.categories_readable = False
                break
            self.categories.update({p: found.get(p, "") for p in chunk})
        return self.categories


def _shop_name(shop: str) -> str:
    """`my-shop`, also when given as `my-shop.myshopify.com` or a URL."""
    host = shop.strip().removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    return host.removesuffix(".myshopify.com")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _delivery(headers: Mapping[str, str], body: bytes) -> tuple[str, dict[str, Any]]:
    """The topic and body of a delivery; an order without its id, or a refund without its
    order's, is a ValueError."""
    topic = (_header(headers, "X-Shopify-Topic") or "").strip().lower()
    payload = _json_object(body)
    if topic in ORDER_TOPICS and "id" not in payload:
        raise ValueError("an order webhook without an order id")
    if topic in REFUND_TOPICS and "order_id" not in payload:
        raise ValueError("a refund webhook without an order_id")
    return topic, payload


def _event_id(headers: Mapping[str, str]) -> str | None:
    """The same on every retry of a delivery."""
    return _header(headers, "X-Shopify-Event-Id") or _header(headers, "X-Shopify-Webhook-Id")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ValueError("the webhook body is not a JSON object")
    return payload


def _updated_at(order: Order) -> datetime | None:
    try:
        return timestamp(order["updated_at"])
    except (KeyError, TypeError, ValueError):
        return None


def _product_ids(order: Order) -> set[str]:
    lines = list(order.get("line_items") or [])
    for refund in order.get("refunds") or []:
        lines += [r.get("line_item") or {} for r in refund.get("refund_line_items") or []]
    return {str(li["product_id"]) for li in lines if isinstance(li, dict) and li.get("product_id")}

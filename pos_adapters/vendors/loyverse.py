"""Loyverse API v1.0 adapter: reads SALE and REFUND receipts from `GET /v1.0/receipts`
(windowed on `updated_at_min`, paged by the vendor's `cursor`), customers from
`/v1.0/customers/{id}` and line categories via `/v1.0/items/{id}` and `/v1.0/categories`,
and `receipts.update` webhooks; maps them to `VendorReceipt`s in baht (Loyverse sends JSON
numbers in the major unit). `receipt_number` is the receipt id; a refund names its sale in
`refund_for`; `cancelled_at` marks a void.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator, Mapping
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

API = "/v1.0"
PAGE_LIMIT = 250  # the documented maximum of `limit`
OVERLAP = timedelta(minutes=5)  # a late-stored receipt stamped a little in the past is re-read
IDS_PER_CALL = 100  # receipt numbers per `receipt_numbers=` query, to keep URLs short
VENDOR_ID = re.compile(r"[!-~]{1,64}")
THOUSANDTH = Decimal("0.001")

Json = dict[str, Any]
CategoryOf = Callable[[Any], str]


class _StaleToken(Exception):
    """Loyverse answered `INVALID_CURSOR` to a page token."""


class Client:
    """One Loyverse account, reached with a personal or OAuth access token."""

    kind: ClassVar[str] = "loyverse"
    default_url: ClassVar[str] = "https://api.loyverse.com"
    credential_fields: ClassVar[tuple[str, ...]] = ("access_token",)

    def __init__(self, connection: Connection, http: VendorHttp) -> None:
        base = (connection.base_url or self.default_url).rstrip("/")
        self.base = base.removesuffix(API)  # the research quotes the base with /v1.0
        self.token = connection.credentials["access_token"]
        self.secret = connection.webhook_secret
        self.http = http
        self._item_category: dict[str, str] = {}  # item_id -> category_id ("" if none)
        self._category_names: dict[str, str] = {}
        self._categories_read_for: set[str] = set()  # category ids that caused a reload

    # -- pulling ------------------------------------------------------------------------

    def fetch_page(self, cursor: str | None, since: datetime | None) -> Page:
        """One page of the window the cursor names. A cursor is JSON `{"min", "page",
        "top"}`: the `updated_at_min` sent, the vendor's page token (null once the window
        ended) and the newest `updated_at` seen so far in the window."""
        state = _read_cursor(cursor, since)
        try:
            response = self._list(state["min"], state["page"])
        except _StaleToken:  # the vendor forgot its page token: read the window again
            response = self._list(state["min"], None)
        payloads = _receipts_of(response)
        top = _newest(payloads, state["top"])
        token = response.get("cursor") or None
        receipts = self._map_all(payloads)
        if token:
            return Page(receipts, _cursor(state["min"], token, top), True)
        return Page(receipts, _cursor(_next_min(state["min"], top), None, None), False)

    def _list(self, updated_min: str | None, token: str | None) -> Json:
        """A `GET /receipts` answer; _StaleToken when the vendor calls the token invalid.
        The window's filter is sent again with the token (whether Loyverse needs it is not
        documented; it does no harm)."""
        params: dict[str, Any] = {"limit": PAGE_LIMIT}
        if updated_min:
            params["updated_at_min"] = updated_min
        if token:
            params["cursor"] = token
        response = self._get("/receipts", params)
        if token and response.status_code == 400 and _error_code(response) == "INVALID_CURSOR":
            raise _StaleToken
        return _json_of(response)

    def fetch_receipts(self, vendor_ids: list[str]) -> list[VendorReceipt | Unreadable]:
        payloads: list[Json] = []
        for start in range(0, len(vendor_ids), IDS_PER_CALL):
            chunk = ",".join(vendor_ids[start : start + IDS_PER_CALL])
            payloads.extend(self._all_pages("/receipts", "receipts", {"receipt_numbers": chunk}))
        return self._map_all(payloads)

    def customer(self, customer_id: str) -> Customer | None:
        response = self._get(f"/customers/{quote(customer_id, safe='')}", None)
        if response.status_code == 404:
            return None
        body = _json_of(response)
        return Customer(phone=_text(body.get("phone_number")), email=_text(body.get("email")))

    # -- webhooks -----------------------------------------------------------------------

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]
    ) -> bool:
        """A `X-Loyverse-Signature` (HMAC-SHA1 of the body, hex or base64) made with the
        webhook secret, or for unsigned personal-token webhooks `?token=<secret>`."""
        if not self.secret:
            return False
        secret = self.secret.encode()
        signature = _header(headers, "X-Loyverse-Signature")
        if signature and _signature_matches(signature.strip(), secret, body):
            return True
        token = query.get("token")
        return bool(token) and hmac.compare_digest(token.encode(), secret)

    def webhook_id(self, headers: Mapping[str, str], body: bytes) -> str | None:
        _webhook_payload(body)
        return None  # Loyverse deliveries carry no event id

    def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        payload = _webhook_payload(body)
        if payload["type"] != "receipts.update":
            return WebhookEvent()
        return WebhookEvent(receipts=self._map_all(payload["receipts"]))

    # -- mapping ------------------------------------------------------------------------

    def _map_all(self, payloads: list[Any]) -> list[VendorReceipt | Unreadable]:
        self._learn_categories(payloads)
        return [self._map(payload) for payload in payloads]

    def _map(self, payload: Any) -> VendorReceipt | Unreadable:
        vendor_id = _raw_id(payload)
        try:
            return _receipt(payload, self._category_of)
        except (ValueError, TypeError, KeyError, AttributeError, InvalidOperation) as exc:
            return Unreadable(vendor_id, f"{type(exc).__name__}: {exc}"[:300])

    def _category_of(self, item_id: Any) -> str:
        category_id = self._item_category.get(str(item_id), "") if item_id else ""
        return self._category_names.get(category_id, "")

    def _learn_categories(self, payloads: list[Any]) -> None:
        """Look up each item not seen before once, and the category names once per client."""
        new = {str(i) for i in _item_ids(payloads)} - self._item_category.keys()
        for item_id in sorted(new):
            self._item_category[item_id] = self._item_category_id(item_id)
        unknown = set(self._item_category.values()) - self._category_names.keys() - {""}
        if unknown - self._categories_read_for:  # a category made since the last reading
            self._categories_read_for |= unknown
            self._category_names = {
                str(c.get("id")): str(c.get("name") or "")
                for c in self._all_pages("/categories", "categories", {})
            }

    def _item_category_id(self, item_id: str) -> str:
        response = self._get(f"/items/{quote(item_id, safe='')}", None)
        if response.status_code == 404:  # a deleted item: the line keeps no category
            return ""
        return str(_json_of(response).get("category_id") or "")

    # -- HTTP ---------------------------------------------------------------------------

    def _get(self, path: str, params: Mapping[str, Any] | None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        return self.http.request("GET", self.base + API + path, headers=headers, params=params)

    def _all_pages(self, path: str, key: str, params: Mapping[str, Any]) -> Iterator[Json]:
        token: str | None = None
        while True:
            query = {**params, "limit": PAGE_LIMIT, **({"cursor": token} if token else {})}
            body = _json_of(self._get(path, query))
            rows = body.get(key)
            if not isinstance(rows, list):
                raise _shape_error(path, key)
            yield from rows
            token = body.get("cursor") or None
            if not token:
                return


# -- cursor -------------------------------------------------------------------------------


def _read_cursor(cursor: str | None, since: datetime | None) -> Json:
    """The window state of a cursor; without one, a window from `since` (or all history)."""
    if not cursor:
        return {"min": _stamp(since) if since else None, "page": None, "top": None}
    try:
        state = json.loads(cursor)
        return {"min": state.get("min"), "page": state.get("page"), "top": state.get("top")}
    except (ValueError, AttributeError):
        return {"min": _stamp(since) if since else None, "page": None, "top": None}


def _cursor(updated_min: str | None, token: str | None, top: str | None) -> str:
    return json.dumps({"min": updated_min, "page": token, "top": top}, separators=(",", ":"))


def _next_min(updated_min: str | None, top: str | None) -> str | None:
    """Where the next window starts: the newest update seen, less the overlap."""
    if top is None:
        return updated_min
    return _stamp(_instant(top) - OVERLAP)


def _newest(payloads: list[Any], top: str | None) -> str | None:
    """The latest `updated_at` among the payloads and `top` (receipts without one are
    skipped: they are Unreadable anyway)."""
    best = _instant(top) if top else None
    for payload in payloads:
        try:
            seen = _instant(payload["updated_at"])
        except (ValueError, TypeError, KeyError):
            continue
        if best is None or seen > best:
            best = seen
    return _stamp(best) if best else None


def _stamp(moment: datetime) -> str:
    """Loyverse's time format: UTC with milliseconds, `2025-10-18T07:48:05.000Z`."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _instant(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a time: {value!r}")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"a time without its zone: {value!r}")
    return moment.astimezone(UTC)


# -- receipt mapping ------------------------------------------------------------------------


def _receipt(payload: Json, category_of: CategoryOf) -> VendorReceipt:
    vendor_id = _vendor_id(payload["receipt_number"])
    kind = {"SALE": "sale", "REFUND": "refund"}.get(payload["receipt_type"])
    if kind is None:
        raise ValueError(f"unknown receipt_type {payload['receipt_type']!r}")
    total, discount = _amounts(payload, refund=kind == "refund")
    return VendorReceipt(
        vendor_id=vendor_id,
        type=kind,
        occurred_at=_instant(payload.get("receipt_date") or payload["created_at"]),
        total=total,
        store=_text(payload.get("store_id")),
        device=_text(payload.get("pos_device_id")),
        discount=discount,
        items=tuple(_line(line, category_of) for line in payload.get("line_items") or ()),
        refund_of=_vendor_id(payload["refund_for"]) if payload.get("refund_for") else None,
        customer_id=_text(payload.get("customer_id")),
        note=_text(payload.get("note")),
        voided=payload.get("cancelled_at") is not None,
    )


def _amounts(payload: Json, refund: bool) -> tuple[Decimal, Decimal]:
    """`total_money` and `total_discount`, positive. Loyverse documents refunds as positive
    amounts; a negative refund (the other reading) is turned round, a negative sale is bad."""
    total = money(payload["total_money"])
    discount = money(payload.get("total_discount") or 0)
    if refund:
        return abs(total), abs(discount)
    if total < 0 or discount < 0:
        raise ValueError(f"negative amount on a sale: total {total}, discount {discount}")
    return total, discount


def _line(line: Json, category_of: CategoryOf) -> VendorLine:
    sku = _text(line.get("sku")) or _text(line.get("variant_id")) or _text(line.get("item_id"))
    if not sku:
        raise ValueError("a line with neither sku, variant_id nor item_id")
    quantity = Decimal(str(line["quantity"])).quantize(THOUSANDTH, ROUND_HALF_UP)
    if isinstance(line["quantity"], bool) or quantity <= 0:
        raise ValueError(f"line {sku}: quantity {line['quantity']!r} is not positive")
    price = money(line["price"])
    if price < 0:
        raise ValueError(f"line {sku}: negative price {price}")
    name = _text(line.get("item_name")) or sku
    variant = _text(line.get("variant_name"))
    return VendorLine(
        sku=sku,
        name=f"{name} ({variant})" if variant else name,
        quantity=quantity,
        unit_price=price,
        category=category_of(line.get("item_id")),
    )


def _vendor_id(value: Any) -> str:
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not VENDOR_ID.fullmatch(text):
        raise ValueError(f"receipt number {value!r} is not 1-64 printable characters")
    return text


def _raw_id(payload: Any) -> str:
    """The receipt number as far as it can be read, for an Unreadable."""
    value = payload.get("receipt_number") if isinstance(payload, dict) else None
    return "" if value is None else str(value)[:64]


def _item_ids(payloads: list[Any]) -> Iterator[Any]:
    for payload in payloads:
        lines = payload.get("line_items") if isinstance(payload, dict) else None
        for line in lines if isinstance(lines, list) else ():
            if isinstance(line, dict) and line.get("item_id"):
                yield line["item_id"]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


# -- HTTP helpers -------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _signature_matches(signature: str, secret: bytes, body: bytes) -> bool:
    digest = hmac.new(secret, body, hashlib.sha1).digest()
    as_hex = hmac.compare_digest(signature.lower().encode(), digest.hex().encode())
    try:
        sent = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        sent = b""
    return as_hex | hmac.compare_digest(sent, digest)


def _json_of(response: requests.Response) -> Json:
    if not 200 <= response.status_code < 300:
        raise error_of(response)
    try:
        body = response.json()
    except ValueError as exc:
        raise error_of(response) from exc
    if not isinstance(body, dict):
        raise error_of(response)
    return body


def _receipts_of(body: Json) -> list[Any]:
    receipts = body.get("receipts")
    if not isinstance(receipts, list):
        raise _shape_error("/receipts", "receipts")
    return receipts


def _error_code(response: requests.Response) -> str | None:
    try:
        return response.json()["errors"][0]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _shape_error(path: str, key: str) -> VendorError:
    return VendorError(f"Loyverse {path} answered without a {key!r} list")


def _webhook_payload(body: bytes) -> dict[str, Any]:
    """`{"merchant_id", "type", "created_at", …}`; anything else is a ValueError."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a Loyverse webhook body: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise ValueError("not a Loyverse webhook body: no type")
    if payload["type"] == "receipts.update" and not isinstance(payload.get("receipts"), list):
        raise ValueError("a receipts.update webhook without a receipts list")
    return payload

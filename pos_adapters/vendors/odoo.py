"""Odoo Point of Sale adapter over JSON-RPC (`common.login`, then `object.execute_kw`):
`pos.order` pages by `write_date`, lines, products and partners, webhooks with a URL token.

Fields that differ between Odoo versions (16 to 18) are requested only when `fields_get`
lists them.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pos_adapters.vendor import Connection, Customer, Page, Unreadable, VendorReceipt, WebhookEvent
from pos_adapters.vendor_http import VendorAuthError, VendorError, VendorHttp, error_of
from pos_adapters.vendors.odoo_orders import (
    ODOO_TIME,
    Products,
    Row,
    is_int,
    is_pair,
    many2one,
    receipt,
    text,
)

OVERLAP = timedelta(minutes=5)  # re-read after a window: late commits, same-second writes
AUTH_ERRORS = {"odoo.exceptions.AccessDenied", "odoo.http.SessionExpiredException"}
ORDER_FIELDS = (
    "id", "name", "date_order", "write_date", "state", "amount_total", "partner_id",
    "config_id", "note", "general_note", "refunded_order_id", "refunded_order_ids",
    "mobile", "email",
)  # fmt: skip
LINE_FIELDS = (
    "id", "order_id", "product_id", "full_product_name", "qty", "price_unit", "discount",
    "price_subtotal_incl", "refunded_orderline_id",
)  # fmt: skip
PARTNER_FIELDS = ("mobile", "phone", "email")


class _ServerError(VendorError):
    """Odoo answered with a JSON-RPC error envelope."""


class Client:
    """One Odoo database, as one user with an API key."""

    kind: ClassVar[str] = "odoo"
    default_url: ClassVar[str] = ""  # self-hosted or <name>.odoo.com: the shop must give it
    credential_fields: ClassVar[tuple[str, ...]] = ("database", "username", "api_key")
    page_size: int = 100

    def __init__(self, connection: Connection, http: VendorHttp) -> None:
        self.connection = connection
        self.http = http
        self._uid: int | None = None
        self._fields: dict[str, set[str]] = {}
        self._products: Products = {}
        self._request_id = 0

    # --- the VendorClient protocol -----------------------------------------------------

    def fetch_page(self, cursor: str | None, since: datetime | None) -> Page:
        """Orders by (write_date, id) from the cursor's position; after the last page the
        cursor rewinds `OVERLAP` from the newest write_date seen."""
        position = _Position.load(cursor) if cursor else _Position.start(since)
        domain: list[Any] = [("state", "!=", "draft")]
        if position.after:
            domain.append(("write_date", ">=", position.after))
        rows = self._search_read(
            "pos.order",
            domain,
            ORDER_FIELDS,
            order="write_date asc, id asc",
            offset=position.skip,
            limit=self.page_size,
        )
        more = len(rows) == self.page_size
        following = position.past(rows)
        if not more:
            following = following.rewound()
        return Page(self._map_orders(rows), following.dump(), more)

    def fetch_receipts(self, vendor_ids: list[str]) -> list[VendorReceipt | Unreadable]:
        bad = [Unreadable(v[:64], "not an Odoo order id") for v in vendor_ids if not _is_id(v)]
        ids = [int(v) for v in vendor_ids if _is_id(v)]
        if not ids:
            return list(bad)
        rows = self._search_read("pos.order", [("id", "in", ids)], ORDER_FIELDS, order="id asc")
        return [*bad, *self._map_orders(rows)]

    def customer(self, customer_id: str) -> Customer | None:
        if not _is_id(customer_id):
            return None
        rows = self._search_read("res.partner", [("id", "=", int(customer_id))], PARTNER_FIELDS)
        if not rows:
            return None
        row = rows[0]
        return Customer(
            phone=text(row.get("mobile")) or text(row.get("phone")),
            email=text(row.get("email")),
        )

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]
    ) -> bool:
        """Odoo signs nothing: the automation rule's URL carries `?token=<webhook_secret>`."""
        secret = self.connection.webhook_secret
        token = query.get("token")
        if not secret or not token:
            return False
        return hmac.compare_digest(token.encode(), secret.encode())

    def webhook_id(self, headers: Mapping[str, str], body: bytes) -> str | None:
        _webhook_payload(body)
        return None  # Odoo's server-action webhooks carry no delivery id

    def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """The order id of a server-action webhook `{"_model", "_id", "_action", ...}`."""
        payload = _webhook_payload(body)
        record_id = payload["_id"]
        if payload["_model"] != "pos.order" or not _is_id(str(record_id)):
            return WebhookEvent()
        return WebhookEvent(receipt_ids=[str(record_id)])

    # --- JSON-RPC ----------------------------------------------------------------------

    @property
    def _url(self) -> str:
        base = self.connection.base_url.rstrip("/")
        if not base:
            raise VendorError("Odoo has no default address: set the connection's base_url")
        return f"{base}/jsonrpc"

    def _rpc(self, service: str, method: str, *args: Any) -> Any:
        """`result` of one call; an error envelope (sent with HTTP 200) raises."""
        self._request_id += 1
        params = {"service": service, "method": method, "args": list(args)}
        body = {"jsonrpc": "2.0", "method": "call", "params": params, "id": self._request_id}
        response = self.http.request("POST", self._url, json=body)
        if not 200 <= response.status_code < 300:
            raise error_of(response)
        try:
            payload = response.json()
        except ValueError as exc:
            raise VendorError(f"not JSON-RPC from {self._url}: {response.text[:200]}") from exc
        if not isinstance(payload, dict):
            raise VendorError(f"not JSON-RPC from {self._url}")
        if payload.get("error"):
            raise _rpc_error(payload["error"])
        return payload.get("result")

    def _login(self) -> int:
        if self._uid is None:
            db, user, key = self._credentials()
            try:
                uid = self._rpc("common", "login", db, user, key)
            except _ServerError as exc:  # e.g. no such database
                raise VendorAuthError(f"Odoo could not log in: {exc}") from exc
            if isinstance(uid, bool) or not isinstance(uid, int):
                raise VendorAuthError("Odoo refused the database, username or API key")
            self._uid = uid
        return self._uid

    def _credentials(self) -> tuple[str, str, str]:
        creds = self.connection.credentials
        missing = [name for name in self.credential_fields if not creds.get(name)]
        if missing:
            raise VendorAuthError(f"missing Odoo credentials: {', '.join(missing)}")
        return creds["database"], creds["username"], creds["api_key"]

    def _execute(self, model: str, method: str, args: list[Any], kwargs: Row) -> Any:
        uid = self._login()
        db, _, key = self._credentials()
        return self._rpc("object", "execute_kw", db, uid, key, model, method, args, kwargs)

    def _known_fields(self, model: str) -> set[str]:
        if model not in self._fields:
            found = self._execute(model, "fields_get", [], {"attributes": ["type"]})
            if not isinstance(found, dict):
                raise VendorError(f"unexpected fields_get answer for {model}")
            self._fields[model] = set(found)
        return self._fields[model]

    def _search_read(
        self, model: str, domain: list[Any], fields: tuple[str, ...], **kwargs: Any
    ) -> list[Row]:
        """Rows of `search_read`, asking only for the fields this Odoo version has."""
        known = self._known_fields(model)
        wanted = [name for name in fields if name in known]
        kw = {"domain": domain, "fields": wanted, "context": {"active_test": False}, **kwargs}
        rows = self._execute(model, "search_read", [], kw)
        if not isinstance(rows, list):
            raise VendorError(f"unexpected search_read answer for {model}")
        return [row for row in rows if isinstance(row, dict)]

    # --- mapping -----------------------------------------------------------------------

    def _map_orders(self, rows: list[Row]) -> list[VendorReceipt | Unreadable]:
        """Drafts dropped; lines, refunded lines and products read in one call each."""
        rows = [row for row in rows if row.get("state") != "draft"]
        lines = self._lines_of(rows)
        sold = self._orders_of_lines(_refunded_line_ids(lines))
        self._load_products(lines)
        return [receipt(row, lines.get(row.get("id"), []), sold, self._products) for row in rows]

    def _lines_of(self, rows: list[Row]) -> dict[int, list[Row]]:
        order_ids = [row["id"] for row in rows if is_int(row.get("id"))]
        if not order_ids:
            return {}
        found = self._search_read(
            "pos.order.line", [("order_id", "in", order_ids)], LINE_FIELDS, order="id asc"
        )
        lines: dict[int, list[Row]] = {}
        for line in found:
            order = many2one(line.get("order_id"))
            if order is not None:
                lines.setdefault(order, []).append(line)
        return lines

    def _orders_of_lines(self, line_ids: set[int]) -> dict[int, int]:
        """Sold line id -> its order id, for the lines refunds point at."""
        if not line_ids:
            return {}
        found = self._search_read("pos.order.line", [("id", "in", sorted(line_ids))], ("order_id",))
        pairs = ((line.get("id"), many2one(line.get("order_id"))) for line in found)
        return {line: order for line, order in pairs if is_int(line) and order is not None}

    def _load_products(self, lines: dict[int, list[Row]]) -> None:
        wanted = {many2one(line.get("product_id")) for group in lines.values() for line in group}
        missing = sorted(pid for pid in wanted if pid is not None and pid not in self._products)
        if not missing:
            return
        found = self._search_read(
            "product.product", [("id", "in", missing)], ("default_code", "categ_id")
        )
        for product in found:
            category = product.get("categ_id")
            leaf = category[1].rsplit(" / ", 1)[-1] if is_pair(category) else ""
            self._products[product["id"]] = (text(product.get("default_code")) or "", leaf)


class _Position:
    """Where a pull stands: past `skip` orders written in the second `after` (Odoo times
    have no fraction, so a page boundary can fall inside one second)."""

    def __init__(self, after: str | None, skip: int) -> None:
        self.after = after
        self.skip = skip

    @classmethod
    def start(cls, since: datetime | None) -> _Position:
        return cls(_odoo_time(since) if since else None, 0)

    @classmethod
    def load(cls, cursor: str) -> _Position:
        try:
            state = json.loads(cursor)
            after, skip = state["after"], int(state["skip"])
            if after is not None:
                datetime.strptime(after, ODOO_TIME)
        except (ValueError, KeyError, TypeError) as exc:
            raise VendorError(f"not an Odoo cursor: {cursor[:100]!r}") from exc
        return cls(after, max(skip, 0))

    def past(self, rows: list[Row]) -> _Position:
        after, skip = self.after, self.skip
        for row in rows:
            written = row.get("write_date")
            if isinstance(written, str) and written[:19] != after:
                after, skip = written[:19], 1
            else:
                skip += 1
        return _Position(after, skip)

    def rewound(self) -> _Position:
        if self.after is None:
            return _Position(None, 0)
        earlier = datetime.strptime(self.after, ODOO_TIME) - OVERLAP
        return _Position(earlier.strftime(ODOO_TIME), 0)

    def dump(self) -> str:
        return json.dumps({"after": self.after, "skip": self.skip})


def _refunded_line_ids(lines: dict[int, list[Row]]) -> set[int]:
    refs = (many2one(line.get("refunded_orderline_id")) for g in lines.values() for line in g)
    return {ref for ref in refs if ref is not None}


def _rpc_error(error: Any) -> VendorError:
    data = error.get("data") if isinstance(error, dict) else None
    data = data if isinstance(data, dict) else {}
    name = str(data.get("name") or "")
    message = data.get("message") or (error.get("message") if isinstance(error, dict) else "")
    if name in AUTH_ERRORS:
        return VendorAuthError(f"Odoo refused access: {message}")
    return _ServerError(f"Odoo error {name or 'unknown'}: {str(message)[:200]}")


def _odoo_time(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime(ODOO_TIME)


def _is_id(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 18


def _webhook_payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("an Odoo webhook body is JSON") from exc
    if not isinstance(payload, dict) or "_model" not in payload or "_id" not in payload:
        raise ValueError("an Odoo webhook body has _model and _id")
    return payload

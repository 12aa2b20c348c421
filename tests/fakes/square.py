"""A fake of Square's Orders, Locations, Catalog and Customers APIs as documented: Bearer auth,
`POST /v2/orders/search` with one time filter that must match the sort field and a cursor
that requires the same query, `batch-retrieve` of orders and catalog objects, money in minor
units, return orders for refunds, and webhooks signed over the notification URL plus body."""

from __future__ import annotations

import json
import secrets
import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask import Flask, Response, request

from pos_adapters.vendors.square import sign
from tests.fakes.server import FakeServer
from tests.fakes.vendor import FakeVendor, Line, Shopper, Webhook

TOKEN = "EAAAl-fake-square-token"
MAX_LIMIT = 500
SORT_FIELDS = {"CREATED_AT": "created_at", "UPDATED_AT": "updated_at", "CLOSED_AT": "closed_at"}
ERRORS = {
    400: ("INVALID_REQUEST_ERROR", "BAD_REQUEST", "Bad request."),
    401: ("AUTHENTICATION_ERROR", "UNAUTHORIZED", "This request could not be authorized."),
    403: ("AUTHENTICATION_ERROR", "FORBIDDEN", "You are not allowed to access this resource."),
    404: ("INVALID_REQUEST_ERROR", "NOT_FOUND", "Resource not found."),
    429: ("RATE_LIMIT_ERROR", "RATE_LIMITED", "Rate limit exceeded."),
    500: ("API_ERROR", "INTERNAL_SERVER_ERROR", "An internal error has occurred."),
    502: ("API_ERROR", "BAD_GATEWAY", "Bad gateway."),
    503: ("API_ERROR", "SERVICE_UNAVAILABLE", "Service unavailable."),
    504: ("API_ERROR", "GATEWAY_TIMEOUT", "Gateway timeout."),
}


def _id(length: int = 27) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _money(baht: Decimal, currency: str = "THB") -> dict[str, Any]:
    return {"amount": int((baht * 100).to_integral_value()), "currency": currency}


def _error(
    status: int, detail: str | None = None, code: str | None = None, field: str = ""
) -> Response:
    category, default_code, default_detail = ERRORS.get(status, ERRORS[500])
    error = {"category": category, "code": code or default_code, "detail": detail or default_detail}
    if field:
        error["field"] = field
    return Response(json.dumps({"errors": [error]}), status, mimetype="application/json")


class FakeSquare(FakeVendor):
    """Square in memory. `page_size` caps a page below the requested `limit` (Square may return
    fewer than `limit`); `refund_names_return_order` picks which order a refund webhook's
    `refund.order_id` names, since the docs do not say."""

    kind = "square"

    def __init__(self, locations: int = 2, page_size: int = MAX_LIMIT) -> None:
        self.location_ids = [f"L{_id(12).upper()}" for _ in range(locations)]
        self.stores = (self.location_ids[0], self.location_ids[1])
        self.page_size = page_size
        self.refund_names_return_order = True
        self.webhook_url = "https://loyalty.example/webhooks/square"
        self.orders: dict[str, dict[str, Any]] = {}
        self.catalog: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}  # return order id -> PaymentRefund
        self._cursors: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        app = self._app()
        self.server = FakeServer(app)
        app.before_request(self._authorise)  # after the server's fault injection and log
        self.server.start()

    @property
    def credentials(self) -> dict[str, str]:
        return {"access_token": TOKEN}

    def set_webhook_url(self, url: str) -> None:
        self.webhook_url = url

    def error_body(self, status: int) -> object:
        return json.loads(_error(status).get_data())

    # --- control --------------------------------------------------------------------------

    def add_sale(
        self,
        store: str,
        lines: list[Line],
        at: datetime,
        shopper: Shopper | None = None,
        note: str | None = None,
        discount: Decimal = Decimal("0"),
    ) -> str:
        order_id = _id()
        customer_id = self._customer_for(shopper, at) if shopper else None
        items = [self._line_item(line, store) for line in lines]
        self._spread_discount(items, discount)
        total = sum((line.price * line.quantity for line in lines), Decimal(0)) - discount
        order = {
            "id": order_id,
            "location_id": store,
            "source": {"name": "Square Point of Sale"},
            "line_items": items,
            "tenders": [self._tender(order_id, store, total, at, note, customer_id)],
            "created_at": _ts(at),
            "updated_at": _ts(at),
            "closed_at": _ts(at),
            "state": "COMPLETED",
            "version": 4,
            **self._totals(total, discount),
        }
        if discount:
            order["discounts"] = [self._order_discount(discount)]
        if customer_id:
            order["customer_id"] = customer_id
        self.orders[order_id] = order
        return order_id

    def add_refund(self, sale_id: str, amount: Decimal, at: datetime) -> str:
        sale = self.orders[sale_id]
        first = sale["line_items"][0]
        return_id, refund_id = _id(), _id(40)
        line = {
            "uid": _id(22),
            "source_line_item_uid": first["uid"],
            "name": first["name"],
            "quantity": "1",
            "item_type": "ITEM",
            "base_price_money": _money(amount),
            "gross_return_money": _money(amount),
            "total_tax_money": _money(Decimal(0)),
            "total_discount_money": _money(Decimal(0)),
            "total_money": _money(amount),
        }
        for key in ("catalog_object_id", "variation_name"):
            if key in first:
                line[key] = first[key]
        amounts = self._amounts(amount, Decimal(0))
        refund = {
            "id": refund_id,
            "location_id": sale["location_id"],
            "transaction_id": sale_id,
            "tender_id": sale["tenders"][0]["id"],
            "created_at": _ts(at),
            "reason": "Returned Goods",
            "amount_money": _money(amount),
            "status": "COMPLETED",
        }
        order = {
            "id": return_id,
            "location_id": sale["location_id"],
            "source": {"name": "Square Point of Sale"},
            "returns": [
                {
                    "uid": _id(22),
                    "source_order_id": sale_id,
                    "return_line_items": [line],
                    "return_amounts": amounts,
                }
            ],
            "return_amounts": amounts,
            "refunds": [refund],
            "created_at": _ts(at),
            "updated_at": _ts(at),
            "closed_at": _ts(at),
            "state": "COMPLETED",
            "version": 1,
            **self._totals(Decimal(0), Decimal(0)),
        }
        if sale.get("customer_id"):
            order["customer_id"] = sale["customer_id"]
        self.orders[return_id] = order
        self.refunds[return_id] = self._payment_refund(refund, sale, return_id, amount, at)
        return return_id

    def void(self, sale_id: str, at: datetime) -> None:
        self._touch(sale_id, at)["state"] = "CANCELED"

    def edit_total(self, sale_id: str, total: Decimal, at: datetime) -> None:
        order = self._touch(sale_id, at)
        order["total_money"] = _money(total)
        order["net_amounts"]["total_money"] = _money(total)
        order["tenders"][0]["amount_money"] = _money(total)

    def add_raw_order(self, order: dict[str, Any]) -> str:
        """Store an order exactly as given (a fixture, or a malformed one)."""
        self.orders[str(order.get("id"))] = order
        return str(order.get("id"))

    def add_catalog(self, objects: list[dict[str, Any]]) -> None:
        for obj in objects:
            self.catalog[obj["id"]] = obj

    def add_customer(self, customer: dict[str, Any]) -> None:
        self.customers[customer["id"]] = customer

    def expire_cursors(self) -> None:
        """Every page cursor handed out so far becomes invalid (INVALID_CURSOR)."""
        self._cursors.clear()

    def webhook_for(self, vendor_ids: list[str], secret: str | None = None) -> Webhook:
        """Square sends one event per delivery: a sale's `payment.created`, an edited or
        cancelled order's `order.updated`, a return order's `refund.created`."""
        if len(vendor_ids) != 1:
            raise ValueError("a Square delivery announces one order")
        body = json.dumps(self._event_for(self.orders[vendor_ids[0]])).encode()
        signature = sign(secret or self.webhook_secret, self.webhook_url, body)
        headers = {
            "Content-Type": "application/json",
            "x-square-hmacsha256-signature": signature,
            "Square-Initial-Delivery-Timestamp": _ts(datetime.now(UTC)),
        }
        return Webhook(headers=headers, body=body)

    # --- shapes ---------------------------------------------------------------------------

    def _line_item(self, line: Line, store: str) -> dict[str, Any]:
        gross = line.price * line.quantity
        item = {
            "uid": _id(22),
            "name": line.name,
            "quantity": str(line.quantity),
            "item_type": "ITEM" if line.sku else "CUSTOM_AMOUNT",
            "base_price_money": _money(line.price),
            "variation_total_price_money": _money(gross),
            "gross_sales_money": _money(gross),
            "total_tax_money": _money(Decimal(0)),
            "total_discount_money": _money(Decimal(0)),
            "total_money": _money(gross),
        }
        if line.sku:
            item["catalog_object_id"] = self._variation_for(line)
            item["variation_name"] = "Regular"
        return item

    def _spread_discount(self, items: list[dict[str, Any]], discount: Decimal) -> None:
        """Each line carries its share of an order-level discount, the last line the rest."""
        left = _money(discount)["amount"]
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

    def _order_discount(self, discount: Decimal) -> dict[str, Any]:
        return {
            "uid": _id(22),
            "name": "Discount",
            "type": "FIXED_AMOUNT",
            "amount_money": _money(discount),
            "applied_money": _money(discount),
            "scope": "ORDER",
        }

    def _amounts(self, total: Decimal, discount: Decimal) -> dict[str, Any]:
        zero = _money(Decimal(0))
        return {
            "total_money": _money(total),
            "tax_money": zero,
            "discount_money": _money(discount),
            "tip_money": zero,
            "service_charge_money": zero,
        }

    def _totals(self, total: Decimal, discount: Decimal) -> dict[str, Any]:
        zero = _money(Decimal(0))
        return {
            "net_amounts": self._amounts(total, discount),
            "total_money": _money(total),
            "total_tax_money": zero,
            "total_discount_money": _money(discount),
            "total_tip_money": zero,
            "total_service_charge_money": zero,
        }

    def _tender(
        self,
        order_id: str,
        store: str,
        total: Decimal,
        at: datetime,
        note: str | None,
        customer: str | None,
    ) -> dict[str, Any]:
        tender = {
            "id": _id(),
            "location_id": store,
            "transaction_id": order_id,
            "created_at": _ts(at),
            "amount_money": _money(total),
            "type": "CARD",
            "card_details": {"status": "CAPTURED", "entry_method": "CONTACTLESS"},
        }
        if note:
            tender["note"] = note
        if customer:
            tender["customer_id"] = customer
        return tender

    def _variation_for(self, line: Line) -> str:
        for obj in self.catalog.values():
            data = obj.get("item_variation_data") or {}
            if obj["type"] == "ITEM_VARIATION" and data.get("sku") == line.sku:
                return obj["id"]
        item_id, variation_id = _id(24).upper(), _id(24).upper()
        item_data: dict[str, Any] = {"name": line.name, "variations": []}
        if line.category:
            category_id = self._category_for(line.category)
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
                "price_money": _money(line.price),
            },
        }
        item_data["variations"] = [variation]
        self.catalog[item_id] = {
            "type": "ITEM",
            "id": item_id,
            "version": 1,
            "item_data": item_data,
        }
        self.catalog[variation_id] = variation
        return variation_id

    def _category_for(self, name: str) -> str:
        for obj in self.catalog.values():
            if obj["type"] == "CATEGORY" and obj["category_data"]["name"] == name:
                return obj["id"]
        category_id = _id(24).upper()
        self.catalog[category_id] = {
            "type": "CATEGORY",
            "id": category_id,
            "version": 1,
            "category_data": {"name": name},
        }
        return category_id

    def _customer_for(self, shopper: Shopper, at: datetime) -> str:
        for customer in self.customers.values():
            if (customer.get("phone_number"), customer.get("email_address")) == (
                shopper.phone,
                shopper.email,
            ):
                return customer["id"]
        customer = {"id": _id(26).upper(), "created_at": _ts(at), "updated_at": _ts(at)}
        if shopper.phone:
            customer["phone_number"] = shopper.phone
        if shopper.email:
            customer["email_address"] = shopper.email
        customer["creation_source"] = "DIRECTORY"
        self.customers[customer["id"]] = customer
        return customer["id"]

    def _payment_refund(
        self,
        refund: dict[str, Any],
        sale: dict[str, Any],
        return_id: str,
        amount: Decimal,
        at: datetime,
    ) -> dict[str, Any]:
        return {
            "id": refund["id"],
            "status": "COMPLETED",
            "location_id": sale["location_id"],
            "amount_money": _money(amount),
            "payment_id": sale["tenders"][0]["id"],
            "order_id": return_id,
            "created_at": _ts(at),
            "updated_at": _ts(at),
        }

    def _touch(self, order_id: str, at: datetime) -> dict[str, Any]:
        order = self.orders[order_id]
        order["updated_at"] = _ts(at)
        order["version"] = order.get("version", 1) + 1
        return order

    def _event_for(self, order: dict[str, Any]) -> dict[str, Any]:
        if order.get("returns"):
            refund = dict(self.refunds[order["id"]])
            if not self.refund_names_return_order:
                refund["order_id"] = order["returns"][0]["source_order_id"]
            kind, obj_type, obj = "refund.created", "refund", {"refund": refund}
            data_id = refund["id"]
        elif order.get("state") == "COMPLETED" and order.get("version") == 4:
            payment = {
                "id": order["tenders"][0]["id"],
                "order_id": order["id"],
                "location_id": order["location_id"],
                "status": "COMPLETED",
                "amount_money": order["total_money"],
                "created_at": order["created_at"],
                "updated_at": order["updated_at"],
            }
            kind, obj_type, obj, data_id = (
                "payment.created",
                "payment",
                {"payment": payment},
                payment["id"],
            )
        else:
            stub = {
                key: order[key]
                for key in ("created_at", "updated_at", "location_id", "state", "version")
            }
            stub["order_id"] = order["id"]
            kind, obj_type, obj, data_id = (
                "order.updated",
                "order_updated",
                {"order_updated": stub},
                order["id"],
            )
        return {
            "merchant_id": "MLFAKEMERCHANT",
            "type": kind,
            "event_id": f"{_id(8)}-{_id(4)}-{_id(4)}-{_id(12)}".lower(),
            "created_at": _ts(datetime.now(UTC)),
            "data": {"type": obj_type, "id": data_id, "object": obj},
        }

    # --- HTTP -----------------------------------------------------------------------------

    def _app(self) -> Flask:
        app = Flask(__name__)
        app.get("/v2/locations")(self._locations)
        app.post("/v2/orders/search")(self._search)
        app.post("/v2/orders/batch-retrieve")(self._batch_orders)
        app.post("/v2/catalog/batch-retrieve")(self._batch_catalog)
        app.get("/v2/customers/<customer_id>")(self._customer)
        return app

    def _authorise(self) -> Response | None:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _error(401)
        version = request.headers.get("Square-Version", "2025-01-23")
        if len(version) != 10 or version[4] != "-" or version[7] != "-":
            return _error(400, "Invalid Square-Version.", "INVALID_SQUARE_VERSION_FORMAT")
        return None

    def _locations(self) -> Response:
        locations = [
            {
                "id": lid,
                "name": f"Store {n}",
                "status": "ACTIVE",
                "currency": "THB",
                "country": "TH",
            }
            for n, lid in enumerate(self.location_ids, 1)
        ]
        return _json({"locations": locations})

    def _search(self) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, "Expected a JSON object.", "EXPECTED_JSON_BODY")
        problem = _search_problem(body)
        if problem:
            return problem
        with self._lock:
            state = self._cursor_state(body)
            if isinstance(state, Response):
                return state
            return self._search_page(body, state)

    def _cursor_state(self, body: dict[str, Any]) -> dict[str, Any] | Response:
        query = body.get("query") or {}
        if "cursor" not in body:
            return {
                "query": query,
                "locations": body.get("location_ids"),
                "end": self._now(),
                "after": None,
            }
        state = self._cursors.get(body["cursor"])
        if state is None:
            return _error(400, "The provided cursor is invalid.", "INVALID_CURSOR", "cursor")
        if state["query"] != query or state["locations"] != body.get("location_ids"):
            return _error(
                400, "The query must be the same as the first page's.", "BAD_REQUEST", "query"
            )
        return state

    def _search_page(self, body: dict[str, Any], state: dict[str, Any]) -> Response:
        field, descending = _sort_of(state["query"])
        found = sorted(
            (o for o in self.orders.values() if _matches(o, body, state, field)),
            key=lambda o: _key(o, field),
            reverse=descending,
        )
        if state["after"] is not None:
            after = (_when(state["after"][0]), state["after"][1])
            found = [
                o
                for o in found
                if (_key(o, field) < after if descending else _key(o, field) > after)
            ]
        page = found[: min(int(body.get("limit", MAX_LIMIT)), self.page_size)]
        answer: dict[str, Any] = {"orders": page} if page else {}
        if len(found) > len(page):
            token = _id(40)
            stamp, last_id = _key(page[-1], field)
            self._cursors[token] = {**state, "after": [stamp.isoformat(), last_id]}
            answer["cursor"] = token
        return _json(answer)

    def _now(self) -> str:
        stamps = [o.get("updated_at") or "" for o in self.orders.values()]
        return max([_ts(datetime.now(UTC)), *stamps])

    def _batch_orders(self) -> Response:
        ids = (request.get_json(silent=True) or {}).get("order_ids")
        if not isinstance(ids, list) or not ids:
            return _error(400, "Field must be set", "MISSING_REQUIRED_PARAMETER", "order_ids")
        if len(ids) > 100:
            return _error(400, "At most 100 order ids.", "ARRAY_LENGTH_TOO_LONG", "order_ids")
        orders = [self.orders[i] for i in ids if i in self.orders]
        return _json({"orders": orders} if orders else {})

    def _batch_catalog(self) -> Response:
        body = request.get_json(silent=True) or {}
        ids = body.get("object_ids")
        if not isinstance(ids, list) or not ids:
            return _error(400, "Field must be set", "MISSING_REQUIRED_PARAMETER", "object_ids")
        objects = [self.catalog[i] for i in ids if i in self.catalog]
        answer: dict[str, Any] = {"objects": objects}
        if body.get("include_related_objects"):
            answer["related_objects"] = self._related(objects)
        return _json(answer)

    def _related(self, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A variation brings its parent item; an item brings its categories."""
        related: dict[str, dict[str, Any]] = {}
        for obj in objects:
            if obj["type"] == "ITEM_VARIATION":
                parent = self.catalog.get(obj["item_variation_data"]["item_id"])
                if parent:
                    related[parent["id"]] = parent
            if obj["type"] == "ITEM":
                for ref in obj["item_data"].get("categories", []):
                    if ref["id"] in self.catalog:
                        related[ref["id"]] = self.catalog[ref["id"]]
        return list(related.values())

    def _customer(self, customer_id: str) -> Response:
        customer = self.customers.get(customer_id)
        if customer is None:
            return _error(404, f"Customer with ID `{customer_id}` not found.")
        return _json({"customer": customer})


def _json(payload: Any) -> Response:
    return Response(json.dumps(payload), 200, mimetype="application/json")


def _search_problem(body: dict[str, Any]) -> Response | None:
    """Square's 400s for a SearchOrders body: locations 1 to 10, limit 1 to 500, one time
    range, and a time filter on the same field as the sort."""
    locations = body.get("location_ids")
    if not isinstance(locations, list) or not locations:
        return _error(400, "Must specify at least 1 location_ids.", "ARRAY_EMPTY", "location_ids")
    if len(locations) > 10:
        return _error(400, "At most 10 location_ids.", "ARRAY_LENGTH_TOO_LONG", "location_ids")
    limit = body.get("limit", MAX_LIMIT)
    if not isinstance(limit, int) or limit < 1 or limit > MAX_LIMIT:
        return _error(400, f"Limit must be between 1 and {MAX_LIMIT}.", "VALUE_TOO_HIGH", "limit")
    query = body.get("query") or {}
    ranges = ((query.get("filter") or {}).get("date_time_filter")) or {}
    if len(ranges) > 1:
        return _error(400, "Only one time range filter may be set.", "BAD_REQUEST", "query.filter")
    sort_field = (query.get("sort") or {}).get("sort_field", "CREATED_AT")
    if ranges and SORT_FIELDS.get(sort_field) != next(iter(ranges)):
        return _error(
            400,
            "When filtering by a time range, the sort_field must match the filtered field.",
            "INVALID_VALUE",
            "query.sort.sort_field",
        )
    return None


def _key(order: dict[str, Any], field: str) -> tuple[datetime, str]:
    try:
        return _when(order[field]), str(order.get("id"))
    except (KeyError, TypeError, ValueError, AttributeError):
        return datetime.min.replace(tzinfo=UTC), str(order.get("id"))


def _sort_of(query: dict[str, Any]) -> tuple[str, bool]:
    sort = query.get("sort") or {}
    return SORT_FIELDS[sort.get("sort_field", "CREATED_AT")], sort.get(
        "sort_order", "DESC"
    ) == "DESC"


def _matches(
    order: dict[str, Any], body: dict[str, Any], state: dict[str, Any], field: str
) -> bool:
    query_filter = state["query"].get("filter") or {}
    if order.get("location_id") not in body["location_ids"]:
        return False
    states = (query_filter.get("state_filter") or {}).get("states")
    if states and order.get("state") not in states:
        return False
    time_range = ((query_filter.get("date_time_filter") or {}).get(field)) or {}
    if not time_range:
        return True
    stamp = _key(order, field)[0]
    start, end = time_range.get("start_at"), time_range.get("end_at") or state["end"]
    return (not start or stamp >= _when(start)) and stamp <= _when(end)

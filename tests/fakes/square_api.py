"""The HTTP side of the fake Square: Bearer auth, `POST /v2/orders/search` with its query
rules and cursors, `batch-retrieve` of orders and catalog objects, customers, error bodies."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, request

from tests.fakes.square_shapes import new_id, stamp, when

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


class SquareApi:
    """The routes of `FakeSquare`, over the data it holds."""

    location_ids: list[str]
    page_size: int
    orders: dict[str, dict[str, Any]]
    catalog: dict[str, dict[str, Any]]
    customers: dict[str, dict[str, Any]]
    _cursors: dict[str, dict[str, Any]]
    _lock: threading.Lock

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
            return error(401)
        version = request.headers.get("Square-Version", "2025-01-23")
        if len(version) != 10 or version[4] != "-" or version[7] != "-":
            return error(400, "Invalid Square-Version.", "INVALID_SQUARE_VERSION_FORMAT")
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
        return reply({"locations": locations})

    def _search(self) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error(400, "Expected a JSON object.", "EXPECTED_JSON_BODY")
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
            return error(400, "The provided cursor is invalid.", "INVALID_CURSOR", "cursor")
        if state["query"] != query or state["locations"] != body.get("location_ids"):
            return error(
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
            after = (when(state["after"][0]), state["after"][1])
            found = [
                o
                for o in found
                if (_key(o, field) < after if descending else _key(o, field) > after)
            ]
        page = found[: min(int(body.get("limit", MAX_LIMIT)), self.page_size)]
        answer: dict[str, Any] = {"orders": page} if page else {}
        if len(found) > len(page):
            token = new_id(40)
            stamp, last_id = _key(page[-1], field)
            self._cursors[token] = {**state, "after": [stamp.isoformat(), last_id]}
            answer["cursor"] = token
        return reply(answer)

    def _now(self) -> str:
        stamps = [o.get("updated_at") or "" for o in self.orders.values()]
        return max([stamp(datetime.now(UTC)), *stamps])

    def _batch_orders(self) -> Response:
        ids = (request.get_json(silent=True) or {}).get("order_ids")
        if not isinstance(ids, list) or not ids:
            return error(400, "Field must be set", "MISSING_REQUIRED_PARAMETER", "order_ids")
        if len(ids) > 100:
            return error(400, "At most 100 order ids.", "ARRAY_LENGTH_TOO_LONG", "order_ids")
        orders = [self.orders[i] for i in ids if i in self.orders]
        return reply({"orders": orders} if orders else {})

    def _batch_catalog(self) -> Response:
        body = request.get_json(silent=True) or {}
        ids = body.get("object_ids")
        if not isinstance(ids, list) or not ids:
            return error(400, "Field must be set", "MISSING_REQUIRED_PARAMETER", "object_ids")
        objects = [self.catalog[i] for i in ids if i in self.catalog]
        answer: dict[str, Any] = {"objects": objects}
        if body.get("include_related_objects"):
            answer["related_objects"] = self._related(objects)
        return reply(answer)

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
            return error(404, f"Customer with ID `{customer_id}` not found.")
        return reply({"customer": customer})


def error(
    status: int, detail: str | None = None, code: str | None = None, field: str = ""
) -> Response:
    category, default_code, default_detail = ERRORS.get(status, ERRORS[500])
    error = {"category": category, "code": code or default_code, "detail": detail or default_detail}
    if field:
        error["field"] = field
    return Response(json.dumps({"errors": [error]}), status, mimetype="application/json")


def reply(payload: Any) -> Response:
    return Response(json.dumps(payload), 200, mimetype="application/json")


def _search_problem(body: dict[str, Any]) -> Response | None:
    """Square's 400s for a SearchOrders body: locations 1 to 10, limit 1 to 500, one time
    range, and a time filter on the same field as the sort."""
    locations = body.get("location_ids")
    if not isinstance(locations, list) or not locations:
        return error(400, "Must specify at least 1 location_ids.", "ARRAY_EMPTY", "location_ids")
    if len(locations) > 10:
        return error(400, "At most 10 location_ids.", "ARRAY_LENGTH_TOO_LONG", "location_ids")
    limit = body.get("limit", MAX_LIMIT)
    if not isinstance(limit, int) or limit < 1 or limit > MAX_LIMIT:
        return error(400, f"Limit must be between 1 and {MAX_LIMIT}.", "VALUE_TOO_HIGH", "limit")
    query = body.get("query") or {}
    ranges = ((query.get("filter") or {}).get("date_time_filter")) or {}
    if len(ranges) > 1:
        return error(400, "Only one time range filter may be set.", "BAD_REQUEST", "query.filter")
    sort_field = (query.get("sort") or {}).get("sort_field", "CREATED_AT")
    if ranges and SORT_FIELDS.get(sort_field) != next(iter(ranges)):
        return error(
            400,
            "When filtering by a time range, the sort_field must match the filtered field.",
            "INVALID_VALUE",
            "query.sort.sort_field",
        )
    return None


def _key(order: dict[str, Any], field: str) -> tuple[datetime, str]:
    try:
        return when(order[field]), str(order.get("id"))
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
    return (not start or stamp >= when(start)) and stamp <= when(end)

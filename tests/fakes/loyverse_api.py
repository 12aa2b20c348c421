"""The HTTP side of the fake Loyverse API v1.0: receipts newest first with time filters and an
opaque cursor, customers, items and categories, Bearer auth and Loyverse error bodies."""

from __future__ import annotations

import base64
import bisect
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, request

API = "/v1.0"
MAX_LIMIT = 250
DEFAULT_LIMIT = 50
ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    402: "PAYMENT_REQUIRED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
}
FILTERS = ("updated_at_min", "updated_at_max", "created_at_min", "created_at_max")
Json = dict[str, Any]


class _Refused(Exception):
    def __init__(self, status: int, code: str, details: str) -> None:
        super().__init__(details)
        self.status, self.code, self.details = status, code, details


@dataclass
class Stored:
    payload: Json
    created: datetime
    updated: datetime
    seq: int


class LoyverseApi:
    """The routes of `FakeLoyverse`, over the data it holds."""

    token: str
    customers: dict[str, Json]
    items: dict[str, Json]
    categories: dict[str, Json]
    _receipts: dict[str, Stored]
    _order: list[tuple[datetime, int, str]]
    _generation: int
    _lock: threading.RLock

    def _app(self) -> Flask:
        app = Flask(f"fake-loyverse-{id(self)}")
        app.json.sort_keys = False  # type: ignore[attr-defined]
        routes = {
            "/receipts": self._list_receipts,
            "/receipts/<receipt_number>": self._get_receipt,
            "/customers/<customer_id>": self._get_customer,
            "/items/<item_id>": self._get_item,
            "/categories": self._list_categories,
        }
        for rule, view in routes.items():
            app.add_url_rule(API + rule, view.__name__, self._guarded(view))
        return app

    def _guarded(self, view: Any) -> Any:
        def handle(**kwargs: Any) -> Any:
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return _refusal(401, "UNAUTHORIZED", "The access token is invalid or expired")
            try:
                with self._lock:
                    return view(**kwargs)
            except _Refused as exc:
                return _refusal(exc.status, exc.code, exc.details)

        return handle

    def _list_receipts(self) -> Any:
        limit = _limit()
        token = request.args.get("cursor")
        query = self._read_token(token) if token else self._read_query()
        wanted = query.get("numbers")
        start = len(self._order) if query["below"] is None else self._below(query["below"])
        page: list[Json] = []
        index = start - 1
        while index >= 0 and len(page) < limit:
            stored = self._receipts[self._order[index][2]]
            if _matches(stored, query, wanted):
                page.append(stored.payload)
            index -= 1
        body: Json = {"receipts": page}
        if len(page) == limit and index >= 0:
            last = self._order[index + 1]
            body["cursor"] = self._token(query, [stamp_full(last[0]), last[1]])
        return body

    def _read_query(self) -> Json:
        query: Json = {"below": None, "gen": self._generation}
        for name in FILTERS:
            value = request.args.get(name)
            query[name] = _time_param(name, value) if value else None
        if request.args.get("store_id"):
            query["store_id"] = request.args["store_id"]
        if request.args.get("receipt_numbers"):
            query["numbers"] = request.args["receipt_numbers"].split(",")
        return query

    def _token(self, query: Json, below: list[Any]) -> str:
        state = {**query, "below": below}
        for name in FILTERS:
            if isinstance(state.get(name), datetime):
                state[name] = stamp_full(state[name])
        raw = json.dumps(state, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _read_token(self, token: str) -> Json:
        try:
            state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            for name in FILTERS:
                if state.get(name):
                    state[name] = datetime.fromisoformat(state[name])
            state["below"] = (datetime.fromisoformat(state["below"][0]), state["below"][1])
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise _Refused(400, "INVALID_CURSOR", "The cursor is invalid") from exc
        if state.get("gen") != self._generation:
            raise _Refused(400, "INVALID_CURSOR", "The cursor has expired")
        return state

    def _below(self, key: tuple[datetime, int]) -> int:
        return bisect.bisect_left(self._order, key)

    def _get_receipt(self, receipt_number: str) -> Any:
        if receipt_number not in self._receipts:
            raise _Refused(404, "NOT_FOUND", f"Receipt {receipt_number} not found")
        return self._receipts[receipt_number].payload

    def _get_customer(self, customer_id: str) -> Any:
        if customer_id not in self.customers:
            raise _Refused(404, "NOT_FOUND", f"Customer {customer_id} not found")
        return self.customers[customer_id]

    def _get_item(self, item_id: str) -> Any:
        if item_id not in self.items:
            raise _Refused(404, "NOT_FOUND", f"Item {item_id} not found")
        return self.items[item_id]

    def _list_categories(self) -> Any:
        limit = _limit()
        rows = sorted(self.categories.values(), key=lambda c: c["id"])
        after = request.args.get("cursor")
        if after:
            rows = [c for c in rows if c["id"] > after]
        body: Json = {"categories": rows[:limit]}
        if len(rows) > limit:
            body["cursor"] = rows[limit - 1]["id"]
        return body


def stamp_full(moment: datetime) -> str:
    return moment.isoformat()


def _matches(stored: Stored, query: Json, wanted: list[str] | None) -> bool:
    if wanted is not None and stored.payload["receipt_number"] not in wanted:
        return False
    if query.get("store_id") and stored.payload["store_id"] != query["store_id"]:
        return False
    bounds = (
        (stored.updated, query.get("updated_at_min"), query.get("updated_at_max")),
        (stored.created, query.get("created_at_min"), query.get("created_at_max")),
    )
    return all((low is None or low <= t) and (high is None or t <= high) for t, low, high in bounds)


def _limit() -> int:
    raw = request.args.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise _Refused(400, "INVALID_RANGE", f"limit must be 1 to {MAX_LIMIT}")
    return int(raw)


def _time_param(name: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _Refused(400, "INVALID_VALUE", f"{name} is not an ISO 8601 time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def errors(code: str, details: str) -> Json:
    return {"errors": [{"code": code, "details": details}]}


def _refusal(status: int, code: str, details: str) -> Response:
    response = Response(json.dumps(errors(code, details)), mimetype="application/json")
    response.status_code = status
    return response

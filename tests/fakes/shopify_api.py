"""The HTTP side of the fake Shopify Admin REST API: token auth, orders with `Link`-header
`page_info` paging that refuses other filters, products, customers, call-limit headers."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Response, jsonify, request

VERSION = "2025-01"
SHOP_TZ = timezone(timedelta(hours=7))
PAGE_ONLY = {"limit", "fields", "page_info"}


class ShopifyApi:
    """The routes of `FakeShopify`, over the data it holds."""

    token: str
    token_generation: int
    orders: dict[int, dict[str, Any]]
    products: dict[str, dict[str, Any]]
    customers: dict[int, dict[str, Any]]

    def _authorise(self) -> Response | None:
        if request.headers.get("X-Shopify-Access-Token") != self.token:
            return self._error(401)
        return None

    @staticmethod
    def _call_limit(response: Response) -> Response:
        response.headers["X-Shopify-Shop-Api-Call-Limit"] = "1/40"
        return response

    def _error(self, status: int, body: object = None) -> Response:
        response = jsonify(body if body is not None else self.error_body(status))
        response.status_code = status
        return response

    def _list_orders(self) -> Response:
        args = request.args.to_dict()
        limit = int(args.get("limit", 50))
        if not 1 <= limit <= 250:
            return self._error(400, {"errors": {"limit": "Limit must be between 1 and 250."}})
        if "page_info" in args:
            extra = sorted(set(args) - PAGE_ONLY)
            if extra:
                return self._error(400, {"errors": {extra[0]: self._page_only_error(extra[0])}})
            state = self._read_token(args["page_info"])
            if state is None:
                return self._error(400, {"errors": {"page_info": "Invalid value."}})
            filters, after = state
        else:
            filters, after = {k: v for k, v in args.items() if k not in PAGE_ONLY}, None
        try:
            matching = [o for o in self._sorted_orders() if self._matches(o, filters)]
        except ValueError as exc:
            return self._error(400, {"errors": {"updated_at_min": str(exc)}})
        if after is not None:
            matching = [o for o in matching if o["id"] < after]
        page = matching[:limit]
        response = jsonify({"orders": [self._fields(o, args.get("fields")) for o in page]})
        if len(matching) > limit:
            token = self._token(filters, page[-1]["id"])
            url = f"{request.host_url}admin/api/{VERSION}/orders.json?limit={limit}"
            response.headers["Link"] = f'<{url}&page_info={token}>; rel="next"'
        return response

    @staticmethod
    def _page_only_error(name: str) -> str:
        return (
            f"{name} cannot be passed when page_info is present. "
            "See https://shopify.dev/api/usage/pagination-rest for more information."
        )

    def _sorted_orders(self) -> list[dict[str, Any]]:
        return sorted(self.orders.values(), key=lambda o: o["id"], reverse=True)  # newest first

    @staticmethod
    def _matches(order: dict[str, Any], filters: dict[str, str]) -> bool:
        status = filters.get("status", "open")
        if status == "open" and (order["cancelled_at"] or order["closed_at"]):
            return False
        if status == "cancelled" and not order["cancelled_at"]:
            return False
        if "ids" in filters and str(order["id"]) not in filters["ids"].split(","):
            return False
        for field in ("updated_at", "created_at"):
            when = datetime.fromisoformat(order[field])
            low, high = filters.get(f"{field}_min"), filters.get(f"{field}_max")
            if low and when < _bound(low):
                return False
            if high and when > _bound(high):
                return False
        return True

    @staticmethod
    def _fields(obj: dict[str, Any], fields: str | None) -> dict[str, Any]:
        if not fields:
            return obj
        keep = {f.strip() for f in fields.split(",")}
        return {k: v for k, v in obj.items() if k in keep}

    def _token(self, filters: dict[str, str], after: int) -> str:
        raw = json.dumps({"f": filters, "a": after, "g": self.token_generation})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def _read_token(self, token: str) -> tuple[dict[str, str], int] | None:
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            if data["g"] != self.token_generation:
                return None
            return dict(data["f"]), int(data["a"])
        except (ValueError, KeyError, TypeError):
            return None

    def _get_order(self, order_id: int) -> Response:
        if order_id not in self.orders:
            return self._error(404)
        return jsonify({"order": self._fields(self.orders[order_id], request.args.get("fields"))})

    def _list_products(self) -> Response:
        ids = set(request.args.get("ids", "").split(",")) - {""}
        limit = int(request.args.get("limit", 50))
        if not 1 <= limit <= 250:
            return self._error(400, {"errors": {"limit": "Limit must be between 1 and 250."}})
        found = [p for p in self.products.values() if not ids or str(p["id"]) in ids]
        fields = request.args.get("fields")
        return jsonify({"products": [self._fields(p, fields) for p in found[:limit]]})

    def _get_customer(self, customer_id: int) -> Response:
        if customer_id not in self.customers:
            return self._error(404)
        return jsonify({"customer": self.customers[customer_id]})


def _bound(value: str) -> datetime:
    """A filter time; without an offset Shopify reads it in the shop's time zone."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=SHOP_TZ)

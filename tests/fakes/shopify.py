"""A fake of Shopify's Admin REST API (orders, products, customers) as a custom app sees it:
`X-Shopify-Access-Token`, `/admin/api/<version>/…json`, `Link`-header `page_info` pagination
that refuses other filters, decimal-string money with `*_set` bags, timestamps in the shop's
offset (+07:00), refunds nested in `order.refunds[]`, Shopify's error bodies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from flask import Flask, Response, jsonify, request

from tests.fakes.server import FakeServer
from tests.fakes.vendor import FakeVendor, Line, Shopper, Webhook

VERSION = "2025-01"
SHOP_TZ = timezone(timedelta(hours=7))
VAT = Decimal("0.07")
AUTH_ERROR = "[API] Invalid API key or access token (unrecognized login or wrong password)"
RATE_ERROR = (
    "Exceeded 2 calls per second for api client. "
    "Reduce request rates to resume uninterrupted service."
)
PAGE_ONLY = {"limit", "fields", "page_info"}


def _s(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01'))}"


def money_set(amount: Decimal) -> dict[str, Any]:
    bag = {"amount": _s(amount), "currency_code": "THB"}
    return {"shop_money": bag, "presentment_money": dict(bag)}


def stamp(at: datetime) -> str:
    return at.astimezone(SHOP_TZ).isoformat(timespec="seconds")


def included_tax(gross: Decimal) -> Decimal:
    return (gross * VAT / (1 + VAT)).quantize(Decimal("0.01"))


class FakeShopify(FakeVendor):
    kind = "shopify"
    stores = ("61000000001", "61000000002")
    token = "shpat_fake_0123456789abcdef"
    shop = "loyalty-test"

    def __init__(self) -> None:
        self.orders: dict[int, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}  # by SKU
        self.customers: dict[int, dict[str, Any]] = {}
        self.token_generation = 0  # bump to make every issued page_info stale
        self._ids = itertools.count(450789469, 7)
        self._numbers = itertools.count(1001)
        app = Flask(__name__)
        base = f"/admin/api/{VERSION}"
        app.get(f"{base}/orders.json")(self._list_orders)
        app.get(f"{base}/orders/<int:order_id>.json")(self._get_order)
        app.get(f"{base}/products.json")(self._list_products)
        app.get(f"{base}/customers/<int:customer_id>.json")(self._get_customer)
        app.after_request(self._call_limit)
        self.server = FakeServer(app)  # its fault hook runs before the token check
        app.before_request(self._authorise)
        self.server.start()

    @property
    def credentials(self) -> dict[str, str]:
        return {"shop": self.shop, "access_token": self.token}

    # --- control -------------------------------------------------------------------------

    def add_sale(
        self,
        store: str,
        lines: list[Line],
        at: datetime,
        shopper: Shopper | None = None,
        note: str | None = None,
        discount: Decimal = Decimal("0"),
    ) -> str:
        items = [self._line_item(line) for line in lines]
        if items and discount:
            items[0]["total_discount"] = _s(discount)
            items[0]["total_discount_set"] = money_set(discount)
        gross = sum((line.price * line.quantity for line in lines), Decimal(0))
        total = gross - discount
        order_id = next(self._ids)
        number = next(self._numbers)
        customer = self._customer(shopper, at) if shopper else None
        self.orders[order_id] = {
            "id": order_id,
            "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
            "name": f"#{number}",
            "order_number": number,
            "number": number - 1000,
            "created_at": stamp(at),
            "updated_at": stamp(at),
            "processed_at": stamp(at),
            "closed_at": None,
            "cancelled_at": None,
            "cancel_reason": None,
            "currency": "THB",
            "presentment_currency": "THB",
            "financial_status": "paid",
            "fulfillment_status": "fulfilled",
            "confirmed": True,
            "test": False,
            "email": (shopper.email if shopper else None) or "",
            "phone": shopper.phone if shopper else None,
            "note": note,
            "note_attributes": [],
            "tags": "",
            "source_name": "pos",
            "location_id": int(store),
            "device_id": 1000 + int(store) % 100,
            "user_id": 799407056,
            "taxes_included": True,
            "subtotal_price": _s(total),
            "subtotal_price_set": money_set(total),
            "total_line_items_price": _s(gross),
            "total_line_items_price_set": money_set(gross),
            "total_discounts": _s(discount),
            "total_discounts_set": money_set(discount),
            "total_tax": _s(included_tax(total)),
            "total_tax_set": money_set(included_tax(total)),
            "total_price": _s(total),
            "total_price_set": money_set(total),
            "current_total_price": _s(total),
            "current_total_price_set": money_set(total),
            "tax_lines": [{"title": "VAT", "rate": 0.07, "price": _s(included_tax(total))}],
            "discount_codes": [{"code": "POS", "amount": _s(discount), "type": "fixed_amount"}]
            if discount
            else [],
            "customer": customer,
            "line_items": items,
            "refunds": [],
        }
        return str(order_id)

    def add_refund(self, sale_id: str, amount: Decimal, at: datetime) -> str:
        order = self.orders[int(sale_id)]
        first = order["line_items"][0]
        refund_id = next(self._ids)
        tax = included_tax(amount)
        refund = {
            "id": refund_id,
            "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
            "order_id": order["id"],
            "created_at": stamp(at),
            "processed_at": stamp(at),
            "note": None,
            "restock": True,
            "user_id": 799407056,
            "refund_line_items": [
                {
                    "id": next(self._ids),
                    "line_item_id": first["id"],
                    "quantity": 1,
                    "restock_type": "return",
                    "location_id": order["location_id"],
                    "subtotal": float(amount - tax),  # a JSON number, as Shopify sends it
                    "subtotal_set": money_set(amount - tax),
                    "total_tax": float(tax),
                    "total_tax_set": money_set(tax),
                    "line_item": dict(first),
                }
            ],
            "transactions": [self._transaction(order, amount, at)],
            "order_adjustments": [],
        }
        order["refunds"].append(refund)
        left = Decimal(order["current_total_price"]) - amount
        order["current_total_price"] = _s(left)
        order["current_total_price_set"] = money_set(left)
        order["financial_status"] = "refunded" if left <= 0 else "partially_refunded"
        order["updated_at"] = stamp(at)
        return f"{sale_id}-r{refund_id}"

    def void(self, sale_id: str, at: datetime) -> None:
        order = self.orders[int(sale_id)]
        order.update(cancelled_at=stamp(at), cancel_reason="other", updated_at=stamp(at))
        order["financial_status"] = "voided"

    def edit_total(self, sale_id: str, total: Decimal, at: datetime) -> None:
        order = self.orders[int(sale_id)]
        for field in ("total_price", "current_total_price", "subtotal_price"):
            order[field] = _s(total)
            order[f"{field}_set"] = money_set(total)
        order["updated_at"] = stamp(at)

    def expire_page_tokens(self) -> None:
        self.token_generation += 1

    def webhook_for(self, vendor_ids: list[str], secret: str | None = None) -> Webhook:
        """One delivery (Shopify sends one order per delivery): `refunds/create` when a
        refund id is named, else `orders/updated` with the whole order."""
        orders = {v.split("-r", 1)[0] for v in vendor_ids}
        if len(orders) != 1:
            raise ValueError("Shopify delivers one order per webhook")
        order = self.orders[int(orders.pop())]
        refund_ids = [int(v.split("-r", 1)[1]) for v in vendor_ids if "-r" in v]
        if refund_ids:
            topic = "refunds/create"
            payload = next(r for r in order["refunds"] if r["id"] == refund_ids[0])
        else:
            topic, payload = "orders/updated", order
        body = json.dumps(payload).encode()
        return Webhook(self._webhook_headers(topic, body, secret or self.webhook_secret), body)

    def rate_limit_next(self, count: int, retry_after: str = "2.0") -> None:
        self.server.fail_next(count, 429, self.error_body(429), {"Retry-After": retry_after})

    def error_body(self, status: int) -> object:
        known = {
            400: {"errors": "Bad Request"},
            401: {"errors": AUTH_ERROR},
            403: {"errors": "Forbidden"},
            404: {"errors": "Not Found"},
            429: {"errors": RATE_ERROR},
        }
        return known.get(status, {"errors": "Internal Server Error"})

    # --- building ------------------------------------------------------------------------

    def _product(self, line: Line) -> dict[str, Any]:
        if line.sku not in self.products:
            product_id = next(self._ids)
            self.products[line.sku] = {
                "id": product_id,
                "title": line.name,
                "product_type": line.category,
                "vendor": "Loyalty Test",
                "variants": [{"id": next(self._ids), "product_id": product_id, "sku": line.sku}],
            }
        return self.products[line.sku]

    def _line_item(self, line: Line) -> dict[str, Any]:
        product = self._product(line)
        gross = line.price * line.quantity
        return {
            "id": next(self._ids),
            "admin_graphql_api_id": "gid://shopify/LineItem/0",
            "product_id": product["id"],
            "variant_id": product["variants"][0]["id"],
            "sku": line.sku,
            "title": line.name,
            "variant_title": None,
            "name": line.name,
            "vendor": product["vendor"],
            "quantity": line.quantity,
            "current_quantity": line.quantity,
            "price": _s(line.price),
            "price_set": money_set(line.price),
            "total_discount": "0.00",
            "total_discount_set": money_set(Decimal(0)),
            "taxable": True,
            "gift_card": False,
            "requires_shipping": False,
            "fulfillment_status": "fulfilled",
            "tax_lines": [{"title": "VAT", "rate": 0.07, "price": _s(included_tax(gross))}],
            "properties": [],
        }

    def _customer(self, shopper: Shopper, at: datetime) -> dict[str, Any]:
        for customer in self.customers.values():
            if (customer["phone"], customer["email"]) == (shopper.phone, shopper.email):
                return customer
        customer_id = next(self._ids)
        self.customers[customer_id] = {
            "id": customer_id,
            "email": shopper.email,
            "phone": shopper.phone,
            "first_name": "Test",
            "last_name": f"Shopper {customer_id}",
            "created_at": stamp(at),
            "updated_at": stamp(at),
            "state": "enabled",
            "verified_email": bool(shopper.email),
            "tags": "",
            "currency": "THB",
        }
        return self.customers[customer_id]

    def _transaction(self, order: dict[str, Any], amount: Decimal, at: datetime) -> dict:
        return {
            "id": next(self._ids),
            "order_id": order["id"],
            "kind": "refund",
            "status": "success",
            "gateway": "cash",
            "amount": _s(amount),
            "currency": "THB",
            "created_at": stamp(at),
            "processed_at": stamp(at),
            "location_id": order["location_id"],
            "device_id": order["device_id"],
            "parent_id": None,
            "source_name": "pos",
            "test": False,
        }

    def _webhook_headers(self, topic: str, body: bytes, secret: str) -> dict[str, str]:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        event = hashlib.sha256(body + topic.encode()).hexdigest()[:32]
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Shop-Domain": f"{self.shop}.myshopify.com",
            "X-Shopify-API-Version": VERSION,
            "X-Shopify-Webhook-Id": f"whk-{event}",
            "X-Shopify-Event-Id": f"evt-{event}",
            "X-Shopify-Triggered-At": datetime.now(SHOP_TZ).isoformat(),
        }

    # --- HTTP ----------------------------------------------------------------------------

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

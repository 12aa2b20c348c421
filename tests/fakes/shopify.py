"""A fake of Shopify's Admin REST API as a custom app sees it (routes in `shopify_api.py`):
orders with nested refunds, products and customers built as Shopify shapes them, webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import Flask

from tests.fakes.server import FakeServer
from tests.fakes.shopify_api import SHOP_TZ, VERSION, ShopifyApi
from tests.fakes.vendor import FakeVendor, Line, Shopper, Webhook

VAT = Decimal("0.07")
AUTH_ERROR = "[API] Invalid API key or access token (unrecognized login or wrong password)"
RATE_ERROR = (
    "Exceeded 2 calls per second for api client. "
    "Reduce request rates to resume uninterrupted service."
)


def _s(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01'))}"


def money_set(amount: Decimal) -> dict[str, Any]:
    bag = {"amount": _s(amount), "currency_code": "THB"}
    return {"shop_money": bag, "presentment_money": dict(bag)}


def stamp(at: datetime) -> str:
    return at.astimezone(SHOP_TZ).isoformat(timespec="seconds")


def included_tax(gross: Decimal) -> Decimal:
    return (gross * VAT / (1 + VAT)).quantize(Decimal("0.01"))


class FakeShopify(ShopifyApi, FakeVendor):
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

"""A fake of Square's Orders, Locations, Catalog and Customers APIs as documented (the routes
in `square_api.py`, the payloads in `square_shapes.py`): orders, refunds and signed webhooks."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pos_adapters.vendors.square import sign
from tests.fakes.server import FakeServer
from tests.fakes.square_api import MAX_LIMIT, TOKEN, SquareApi, error
from tests.fakes.square_shapes import (
    catalog_item,
    event,
    money,
    money_totals,
    new_id,
    order_discount,
    order_updated_event,
    payment_event,
    payment_refund,
    return_line,
    return_order,
    sale_order,
    spread_discount,
    stamp,
    tender,
    tender_refund,
)
from tests.fakes.vendor import FakeVendor, Line, Shopper, Webhook


class FakeSquare(SquareApi, FakeVendor):
    """Square in memory. `page_size` caps a page below the requested `limit` (Square may return
    fewer than `limit`); `refund_names_return_order` picks which order a refund webhook's
    `refund.order_id` names, since the docs do not say."""

    kind = "square"

    def __init__(self, locations: int = 2, page_size: int = MAX_LIMIT) -> None:
        self.location_ids = [f"L{new_id(12).upper()}" for _ in range(locations)]
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
        return json.loads(error(status).get_data())

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
        order_id = new_id()
        customer_id = self._customer_for(shopper, at) if shopper else None
        items = [self._line_item(line, store) for line in lines]
        spread_discount(items, discount)
        total = sum((line.price * line.quantity for line in lines), Decimal(0)) - discount
        tender_ = tender(order_id, store, total, at, note, customer_id)
        order = {**sale_order(order_id, store, items, tender_, at), **money_totals(total, discount)}
        if discount:
            order["discounts"] = [order_discount(discount)]
        if customer_id:
            order["customer_id"] = customer_id
        self.orders[order_id] = order
        return order_id

    def add_refund(self, sale_id: str, amount: Decimal, at: datetime) -> str:
        sale = self.orders[sale_id]
        refund = tender_refund(sale, amount, at)
        order = return_order(sale, return_line(sale["line_items"][0], amount), refund, amount, at)
        if sale.get("customer_id"):
            order["customer_id"] = sale["customer_id"]
        return_id = order["id"]
        self.orders[return_id] = order
        self.refunds[return_id] = payment_refund(refund, sale, return_id, amount, at)
        return return_id

    def void(self, sale_id: str, at: datetime) -> None:
        self._touch(sale_id, at)["state"] = "CANCELED"

    def edit_total(self, sale_id: str, total: Decimal, at: datetime) -> None:
        order = self._touch(sale_id, at)
        order["total_money"] = money(total)
        order["net_amounts"]["total_money"] = money(total)
        order["tenders"][0]["amount_money"] = money(total)

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
            "Square-Initial-Delivery-Timestamp": stamp(datetime.now(UTC)),
        }
        return Webhook(headers=headers, body=body)

    # --- data -----------------------------------------------------------------------------

    def _line_item(self, line: Line, store: str) -> dict[str, Any]:
        gross = line.price * line.quantity
        item = {
            "uid": new_id(22),
            "name": line.name,
            "quantity": str(line.quantity),
            "item_type": "ITEM" if line.sku else "CUSTOM_AMOUNT",
            "base_price_money": money(line.price),
            "variation_total_price_money": money(gross),
            "gross_sales_money": money(gross),
            "total_tax_money": money(Decimal(0)),
            "total_discount_money": money(Decimal(0)),
            "total_money": money(gross),
        }
        if line.sku:
            item["catalog_object_id"] = self._variation_for(line)
            item["variation_name"] = "Regular"
        return item

    def _variation_for(self, line: Line) -> str:
        for obj in self.catalog.values():
            data = obj.get("item_variation_data") or {}
            if obj["type"] == "ITEM_VARIATION" and data.get("sku") == line.sku:
                return obj["id"]
        category_id = self._category_for(line.category) if line.category else None
        item, variation = catalog_item(line, category_id)
        self.catalog[item["id"]] = item
        self.catalog[variation["id"]] = variation
        return variation["id"]

    def _category_for(self, name: str) -> str:
        for obj in self.catalog.values():
            if obj["type"] == "CATEGORY" and obj["category_data"]["name"] == name:
                return obj["id"]
        category_id = new_id(24).upper()
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
        customer = {"id": new_id(26).upper(), "created_at": stamp(at), "updated_at": stamp(at)}
        if shopper.phone:
            customer["phone_number"] = shopper.phone
        if shopper.email:
            customer["email_address"] = shopper.email
        customer["creation_source"] = "DIRECTORY"
        self.customers[customer["id"]] = customer
        return customer["id"]

    def _touch(self, order_id: str, at: datetime) -> dict[str, Any]:
        order = self.orders[order_id]
        order["updated_at"] = stamp(at)
        order["version"] = order.get("version", 1) + 1
        return order

    def _event_for(self, order: dict[str, Any]) -> dict[str, Any]:
        if order.get("returns"):
            refund = dict(self.refunds[order["id"]])
            if not self.refund_names_return_order:
                refund["order_id"] = order["returns"][0]["source_order_id"]
            return event("refund.created", "refund", {"refund": refund}, refund["id"])
        if order.get("state") == "COMPLETED" and order.get("version") == 4:
            return payment_event(order)
        return order_updated_event(order)

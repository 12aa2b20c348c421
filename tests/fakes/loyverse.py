"""A fake Loyverse API v1.0 (routes in `loyverse_api.py`): receipts, customers, items and
categories held in memory and built as Loyverse shapes them, and signed webhooks."""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.fakes.loyverse_api import ERROR_CODES, Json, LoyverseApi, Stored, errors
from tests.fakes.server import FakeServer
from tests.fakes.vendor import FakeVendor, Line, Shopper, Webhook

VAT = Decimal("7")  # Thai VAT, included in prices


def stamp(moment: datetime) -> str:
    """Loyverse's time format: `2025-10-18T07:48:05.000Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def number(amount: Decimal) -> int | float:
    """Baht as Loyverse writes it: a JSON number, integral when whole (`550`, `46.21`)."""
    amount = Decimal(amount).quantize(Decimal("0.01"))
    return int(amount) if amount == amount.to_integral_value() else float(amount)


class FakeLoyverse(LoyverseApi, FakeVendor):
    kind = "loyverse"

    def __init__(self, token: str = "lv-token-123") -> None:
        self.token = token
        self.merchant_id = str(uuid.uuid4())
        self.stores = (str(uuid.uuid4()), str(uuid.uuid4()))
        self.devices = {store: str(uuid.uuid4()) for store in self.stores}
        self._lock = threading.RLock()
        self._receipts: dict[str, Stored] = {}
        self._order: list[tuple[datetime, int, str]] = []  # (created, seq, number), ascending
        self._seq = 1000
        self._lines = 0
        self._generation = 0  # page tokens of an older generation are INVALID_CURSOR
        self.customers: dict[str, Json] = {}
        self._customer_ids: dict[tuple[Any, Any], str] = {}  # (phone, email) -> id
        self.items: dict[str, Json] = {}  # item_id -> item
        self.categories: dict[str, Json] = {}  # category_id -> category
        self._by_sku: dict[str, Json] = {}
        self.server = FakeServer(self._app()).start()

    # -- FakeVendor ---------------------------------------------------------------------

    @property
    def credentials(self) -> dict[str, str]:
        return {"access_token": self.token}

    def add_sale(
        self,
        store: str,
        lines: list[Line],
        at: datetime,
        shopper: Shopper | None = None,
        note: str | None = None,
        discount: Decimal = Decimal("0"),
    ) -> str:
        line_items = [self._line_item(line, line.quantity, line.price) for line in lines]
        gross = sum((Decimal(line.price) * line.quantity for line in lines), Decimal("0"))
        customer_id = self._customer_for(shopper, at) if shopper else None
        payload = self._receipt("SALE", store, at, gross - discount, line_items, discount)
        payload.update(customer_id=customer_id, note=note)
        return self.put_receipt(payload)

    def add_refund(self, sale_id: str, amount: Decimal, at: datetime) -> str:
        """A REFUND receipt of the sale's first line (as many units as `amount` buys at its
        price, else one unit at `amount`); positive amounts. The sale is left as it was."""
        with self._lock:
            sale = self._receipts[sale_id].payload
        first = sale["line_items"][0]
        price = Decimal(str(first["price"]))
        units, left = divmod(amount, price) if price else (0, amount)
        quantity, unit = (int(units), price) if units and not left else (1, amount)
        line = Line(first["sku"], first["item_name"], quantity, unit, "")
        payload = self._receipt("REFUND", sale["store_id"], at, amount, [self._line_item(line)])
        payload.update(refund_for=sale_id, customer_id=sale["customer_id"])
        return self.put_receipt(payload)

    def void(self, sale_id: str, at: datetime) -> None:
        self._change(sale_id, at, cancelled_at=stamp(at))

    def edit_total(self, sale_id: str, total: Decimal, at: datetime) -> None:
        self._change(sale_id, at, total_money=number(total))

    def webhook_for(self, vendor_ids: list[str], secret: str | None = None) -> Webhook:
        """A `receipts.update` delivery signed as OAuth-made webhooks are: hex HMAC-SHA1 of
        the body in `X-Loyverse-Signature`."""
        body = self.webhook_body(vendor_ids)
        key = (secret or self.webhook_secret).encode()
        signature = hmac.new(key, body, hashlib.sha1).hexdigest()
        return Webhook(
            {"Content-Type": "application/json", "X-Loyverse-Signature": signature}, body
        )

    def unsigned_webhook_for(self, vendor_ids: list[str], secret: str | None = None) -> Webhook:
        """A delivery to a webhook made with a personal token: unsigned, with our secret in
        the URL we registered."""
        body = self.webhook_body(vendor_ids)
        token = secret or self.webhook_secret
        return Webhook({"Content-Type": "application/json"}, body, f"?token={token}")

    def webhook_body(self, vendor_ids: list[str]) -> bytes:
        with self._lock:
            receipts = [self._receipts[number].payload for number in vendor_ids]
        event = {
            "merchant_id": self.merchant_id,
            "type": "receipts.update",
            "created_at": stamp(datetime.now(UTC)),
            "receipts": receipts,
        }
        return json.dumps(event).encode()

    def error_body(self, status: int) -> object:
        code = ERROR_CODES.get(status, "INTERNAL_SERVER_ERROR")
        return errors(code, f"fake Loyverse answers {status}")

    # -- more control ---------------------------------------------------------------------

    def put_receipt(self, payload: Json) -> str:
        """Store a receipt payload as given (a fixture, or one the fake built)."""
        with self._lock:
            number_ = str(payload["receipt_number"])
            self._seq += 1
            stored = Stored(
                payload,
                datetime.fromisoformat(payload["created_at"]),
                datetime.fromisoformat(payload["updated_at"]),
                self._seq,
            )
            old = self._receipts.pop(number_, None)
            if old is not None:
                self._order.remove((old.created, old.seq, number_))
            self._receipts[number_] = stored
            bisect.insort(self._order, (stored.created, stored.seq, number_))
        return number_

    def put_item(self, item: Json) -> None:
        with self._lock:
            self.items[item["id"]] = item

    def put_category(self, category: Json) -> None:
        with self._lock:
            self.categories[category["id"]] = category

    def put_customer(self, customer: Json) -> None:
        with self._lock:
            self.customers[customer["id"]] = customer
            self._customer_ids[(customer.get("phone_number"), customer.get("email"))] = customer[
                "id"
            ]

    def expire_cursors(self) -> None:
        """Every page token handed out so far becomes INVALID_CURSOR."""
        with self._lock:
            self._generation += 1

    def receipt(self, number_: str) -> Json:
        with self._lock:
            return self._receipts[number_].payload

    # -- building payloads ------------------------------------------------------------------

    def _receipt(
        self,
        kind: str,
        store: str,
        at: datetime,
        total: Decimal,
        line_items: list[Json],
        discount: Decimal = Decimal("0"),
    ) -> Json:
        if store not in self.devices:
            raise KeyError(f"unknown store {store}")
        with self._lock:
            self._seq += 1
            receipt_number = f"{self.stores.index(store) + 1}-{self._seq}"
        tax = (total * VAT / (100 + VAT)).quantize(Decimal("0.01"))
        when = stamp(at)
        return {
            "receipt_number": receipt_number,
            "note": None,
            "receipt_type": kind,
            "refund_for": None,
            "order": None,
            "created_at": when,
            "updated_at": when,
            "source": "point of sale",
            "receipt_date": when,
            "cancelled_at": None,
            "total_money": number(total),
            "total_tax": number(tax),
            "points_earned": 0,
            "points_deducted": 0,
            "points_balance": 0,
            "customer_id": None,
            "total_discount": number(discount),
            "employee_id": None,
            "store_id": store,
            "pos_device_id": self.devices[store],
            "dining_option": None,
            "total_discounts": [_discount(discount)] if discount else [],
            "total_taxes": [_tax(tax)] if tax else [],
            "tip": 0,
            "surcharge": 0,
            "line_items": line_items,
            "payments": [_cash(total, when)],
        }

    def _line_item(self, line: Line, quantity: int | None = None, price: Any = None) -> Json:
        item = self._item_for(line)
        quantity = line.quantity if quantity is None else quantity
        price = Decimal(line.price if price is None else price)
        total = price * quantity
        return {
            "id": self._line_id(),
            "item_id": item["id"],
            "variant_id": item["variants"][0]["variant_id"],
            "item_name": item["item_name"],
            "variant_name": None,
            "sku": line.sku,
            "quantity": quantity,
            "price": number(price),
            "gross_total_money": number(total),
            "total_money": number(total),
            "cost": 0,
            "cost_total": 0,
            "line_note": None,
            "line_taxes": [],
            "total_discount": 0,
            "line_discounts": [],
            "line_modifiers": [],
        }

    def _line_id(self) -> str:
        """A UUID-shaped line id from a counter (uuid4 is slow for 100,000 receipts)."""
        with self._lock:
            self._lines += 1
            return f"9553152a-0000-4000-8000-{self._lines:012x}"

    def _item_for(self, line: Line) -> Json:
        """The catalogue item of a SKU, made on first sight with its category."""
        with self._lock:
            if line.sku in self._by_sku:
                return self._by_sku[line.sku]
            category_id = self._category_for(line.category) if line.category else None
            item = {
                "id": str(uuid.uuid4()),
                "handle": line.sku.lower(),
                "item_name": line.name,
                "category_id": category_id,
                "track_stock": False,
                "variants": [
                    {"variant_id": str(uuid.uuid4()), "sku": line.sku, "default_price": None}
                ],
                "created_at": "2020-01-01T00:00:00.000Z",
                "updated_at": "2020-01-01T00:00:00.000Z",
                "deleted_at": None,
            }
            self.items[item["id"]] = self._by_sku[line.sku] = item
            return item

    def _category_for(self, name: str) -> str:
        for category in self.categories.values():
            if category["name"] == name:
                return category["id"]
        category = {
            "id": str(uuid.uuid4()),
            "name": name,
            "color": "GREY",
            "created_at": "2020-01-01T00:00:00.000Z",
            "deleted_at": None,
        }
        self.categories[category["id"]] = category
        return category["id"]

    def _customer_for(self, shopper: Shopper, at: datetime) -> str:
        with self._lock:
            known = self._customer_ids.get((shopper.phone, shopper.email))
            if known is not None:
                return known
            customer = _customer(shopper, stamp(at))
            self.customers[customer["id"]] = customer
            self._customer_ids[(shopper.phone, shopper.email)] = customer["id"]
            return customer["id"]

    def _change(self, sale_id: str, at: datetime, **fields: Any) -> None:
        with self._lock:
            payload = dict(self._receipts[sale_id].payload, updated_at=stamp(at), **fields)
            self.put_receipt(payload)

    # -- the HTTP API -------------------------------------------------------------------


# -- helpers ----------------------------------------------------------------------------------


def _discount(amount: Decimal) -> Json:
    return {
        "id": "d15c0000-0000-4000-8000-000000000001",
        "type": "FIXED_AMOUNT",
        "name": "Discount",
        "money_amount": number(amount),
    }


def _tax(amount: Decimal) -> Json:
    return {
        "id": "c2afb81c-0000-4000-8000-000000000007",
        "type": "INCLUDED",
        "name": "VAT",
        "rate": float(VAT),
        "money_amount": number(amount),
    }


def _cash(total: Decimal, when: str) -> Json:
    return {
        "payment_type_id": "a9dd8a31-0000-4000-8000-00000000ca54",
        "name": "Cash",
        "type": "CASH",
        "money_amount": number(total),
        "paid_at": when,
        "payment_details": None,
    }


def _customer(shopper: Shopper, when: str) -> Json:
    return {
        "id": str(uuid.uuid4()),
        "name": "Shopper",
        "email": shopper.email,
        "phone_number": shopper.phone,
        "address": None,
        "city": None,
        "region": None,
        "postal_code": None,
        "country_code": "TH",
        "customer_code": None,
        "note": None,
        "first_visit": when,
        "last_visit": when,
        "total_visits": 1,
        "total_spent": 0,
        "total_points": 0,
        "created_at": when,
        "updated_at": when,
        "deleted_at": None,
        "permanent_deletion_at": None,
    }

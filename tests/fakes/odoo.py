"""A fake Odoo Point of Sale (JSON-RPC in `odoo_api.py`): orders, lines, products and
partners in memory with the fields of one release (16 to 18), and webhooks with a URL token."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from flask import Flask

from tests.fakes.odoo_api import OdooJsonRpc, Row, line_of, odoo_time
from tests.fakes.server import FakeServer
from tests.fakes.vendor import FakeVendor, Line, Shopper, Webhook

TAX = Decimal("1.07")  # Thai VAT 7 %, included in the price
COMMON_ORDER = {
    "id": "integer", "name": "char", "pos_reference": "char", "date_order": "datetime",
    "create_date": "datetime", "write_date": "datetime", "state": "selection",
    "amount_total": "float", "amount_tax": "float", "amount_paid": "float",
    "partner_id": "many2one:res.partner", "config_id": "many2one:pos.config",
    "lines": "one2many:pos.order.line",
}  # fmt: skip
ORDER_BY_VERSION = {
    16: {"note": "text", "refunded_order_ids": "many2many:pos.order"},
    18: {"general_note": "text", "refunded_order_id": "many2one:pos.order", "mobile": "char",
         "email": "char"},
}  # fmt: skip
SCHEMA = {
    "pos.order.line": {
        "id": "integer", "name": "char", "order_id": "many2one:pos.order",
        "product_id": "many2one:product.product", "full_product_name": "char",
        "qty": "float", "price_unit": "float", "discount": "float", "price_subtotal": "float",
        "price_subtotal_incl": "float", "refunded_orderline_id": "many2one:pos.order.line",
    },
    "product.product": {
        "id": "integer", "name": "char", "default_code": "char",
        "categ_id": "many2one:product.category", "active": "boolean",
    },
    "product.category": {"id": "integer", "name": "char", "complete_name": "char"},
    "res.partner": {
        "id": "integer", "name": "char", "phone": "char", "mobile": "char", "email": "char",
    },
    "pos.config": {"id": "integer", "name": "char"},
}  # fmt: skip


class FakeOdoo(OdooJsonRpc, FakeVendor):
    kind = "odoo"
    stores = ("1", "2")

    def __init__(self, version: int = 18) -> None:
        self.version = version
        self.database, self.username, self.api_key, self.uid = "shop", "api@shop.test", "k-1", 2
        self.schema = {**SCHEMA, "pos.order": {**COMMON_ORDER, **ORDER_BY_VERSION[version]}}
        self.tables: dict[str, dict[int, Row]] = {model: {} for model in self.schema}
        for name in ("Main Shop", "Bar"):
            self._insert("pos.config", {"name": name})
        self._insert("product.category", {"name": "All", "complete_name": "All"})
        app = Flask("fake_odoo")
        app.post("/jsonrpc")(self._jsonrpc)
        self.server = FakeServer(app).start()

    # --- FakeVendor ----------------------------------------------------------------------

    @property
    def credentials(self) -> dict[str, str]:
        return {"database": self.database, "username": self.username, "api_key": self.api_key}

    def add_sale(
        self,
        store: str,
        lines: list[Line],
        at: datetime,
        shopper: Shopper | None = None,
        note: str | None = None,
        discount: Decimal = Decimal("0"),
    ) -> str:
        order_id = self._new_order(int(store), _naive(at), self._partner(shopper), note)
        for line in lines:
            product = self._product(line.sku, line.name, line.category)
            self._add_line(order_id, product, Decimal(line.quantity), line.price)
        if discount:
            product = self._product("DISC", "Discount", "")
            self._add_line(order_id, product, Decimal(1), -discount)
        self._total(order_id)
        return str(order_id)

    def add_refund(self, sale_id: str, amount: Decimal, at: datetime) -> str:
        sale = self.tables["pos.order"][int(sale_id)]
        sold = min(i for i, line in self.tables["pos.order.line"].items() if line_of(line, sale))
        sold_line = self.tables["pos.order.line"][sold]
        price = Decimal(str(sold_line["price_unit"]))
        ratio = amount / price
        # Odoo refunds whole units at the sold price; another amount is one unit at that price
        qty, unit = (ratio, price) if ratio == ratio.to_integral() else (Decimal(1), amount)
        refund_id = self._new_order(sale["config_id"], _naive(at), sale["partner_id"], None)
        refund = self.tables["pos.order"][refund_id]
        refund["name"], refund["pos_reference"] = f"{sale['name']} REFUND", sale["pos_reference"]
        product = sold_line["product_id"]
        self._add_line(refund_id, product, -qty, unit, refunded=sold)
        self._total(refund_id)
        return str(refund_id)

    def void(self, sale_id: str, at: datetime) -> None:
        self._write("pos.order", int(sale_id), {"state": "cancel"}, at)

    def edit_total(self, sale_id: str, total: Decimal, at: datetime) -> None:
        self._write("pos.order", int(sale_id), {"amount_total": float(total)}, at)

    def webhook_for(self, vendor_ids: list[str], secret: str | None = None) -> Webhook:
        """Odoo's server action posts one record per call; this builds that call."""
        if len(vendor_ids) != 1:
            raise ValueError("an Odoo webhook announces one record")
        order = self.tables["pos.order"][int(vendor_ids[0])]
        payload = {
            "_action": "Send POS orders to loyalty(#31)",
            "_id": order["id"],
            "_model": "pos.order",
            "id": order["id"],
            "state": order["state"],
            "write_date": odoo_time(order["write_date"]),
        }
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()  # as orjson
        token = secret if secret is not None else self.webhook_secret
        return Webhook({"Content-Type": "application/json"}, body, f"?token={token}")

    def error_body(self, status: int) -> object:
        """A reverse proxy's answer (Odoo itself has no rate limit or 5xx envelope)."""
        return {"error": f"{status} {HTTPStatus(status).phrase}"}

    # --- extra control for tests ---------------------------------------------------------

    def add_draft(self, store: str, at: datetime) -> str:
        order_id = self._new_order(int(store), _naive(at), False, None)
        self.tables["pos.order"][order_id]["state"] = "draft"
        return str(order_id)

    def corrupt(self, order_id: str, **values: Any) -> None:
        """Store values Odoo would not (a broken custom module, a bad import)."""
        self.tables["pos.order"][int(order_id)].update(values)

    def seed(self, model: str, rows: list[Row]) -> None:
        """Keep rows given in Odoo's read shape (a fixture); a many2one to a record the fake
        lacks creates it under the pair's name."""
        for row in rows:
            stored: Row = {}
            for name, value in row.items():
                kind = self.schema[model].get(name, "")
                if kind.startswith("many2one:") and value:
                    stored[name] = self._stub(kind.split(":")[1], value)
                elif kind == "datetime" and value:
                    stored[name] = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
                elif kind and not kind.startswith(("one2many:", "many2many:")):
                    stored[name] = value
            self.tables[model].setdefault(row["id"], {}).update(stored)

    def _stub(self, model: str, pair: list[Any]) -> int:
        record_id, name = pair
        if record_id not in self.tables[model]:
            self.tables[model][record_id] = {"id": record_id, "name": name, "complete_name": name}
        return record_id

    # --- data ----------------------------------------------------------------------------

    def _insert(self, model: str, values: Row) -> int:
        table = self.tables[model]
        new_id = max(table, default=0) + 1
        table[new_id] = {"id": new_id, **values}
        return new_id

    def _write(self, model: str, record_id: int, values: Row, at: datetime) -> None:
        self.tables[model][record_id].update(values, write_date=_naive(at))

    def _new_order(self, config: int, at: datetime, partner: Any, note: str | None) -> int:
        seq = len(self.tables["pos.order"]) + 1
        config_name = self.tables["pos.config"][config]["name"]
        values: Row = {
            "name": f"{config_name}/{seq:04d}",
            "pos_reference": f"Order 00001-001-{seq:04d}",
            "date_order": at,
            "create_date": at,
            "write_date": at,
            "state": "paid",
            "partner_id": partner,
            "config_id": config,
            "note" if self.version == 16 else "general_note": note or False,
        }
        if self.version == 18:
            contact = self.tables["res.partner"].get(partner) or {}
            values["mobile"] = contact.get("mobile", False)
            values["email"] = contact.get("email", False)
        return self._insert("pos.order", values)

    def _partner(self, shopper: Shopper | None) -> int | bool:
        if shopper is None:
            return False
        phone, email = shopper.phone or False, shopper.email or False
        for partner_id, partner in self.tables["res.partner"].items():
            if (partner["phone"], partner["email"]) == (phone, email):
                return partner_id  # the same shopper is the same customer
        seq = len(self.tables["res.partner"]) + 1
        values = {"name": f"Customer {seq}", "phone": phone, "mobile": phone, "email": email}
        return self._insert("res.partner", values)

    def _product(self, sku: str, name: str, category: str) -> int:
        for product_id, product in self.tables["product.product"].items():
            if _same_product(product, sku, name):
                return product_id
        categ = 1
        if category:
            leaf = f"All / {category}"
            found = [i for i, c in self.tables["product.category"].items() if c["name"] == leaf]
            values = {"name": category, "complete_name": leaf}
            categ = found[0] if found else self._insert("product.category", values)
        values = {"name": name, "default_code": sku or False, "categ_id": categ, "active": True}
        return self._insert("product.product", values)

    def _add_line(
        self, order_id: int, product: int, qty: Decimal, price: Decimal, refunded: int = 0
    ) -> None:
        incl = (qty * price).quantize(Decimal("0.01"))
        name = self.tables["product.product"][product]["name"]
        values = {
            "name": f"{self.tables['pos.order'][order_id]['name']}-{product}",
            "order_id": order_id,
            "product_id": product,
            "full_product_name": name,
            "qty": float(qty),
            "price_unit": float(price),
            "discount": 0.0,
            "price_subtotal": float((incl / TAX).quantize(Decimal("0.01"))),
            "price_subtotal_incl": float(incl),
            "refunded_orderline_id": refunded or False,
        }
        self._insert("pos.order.line", values)

    def _total(self, order_id: int) -> None:
        lines = [
            line for line in self.tables["pos.order.line"].values() if line["order_id"] == order_id
        ]
        incl = sum(Decimal(str(line["price_subtotal_incl"])) for line in lines)
        excl = sum(Decimal(str(line["price_subtotal"])) for line in lines)
        order = self.tables["pos.order"][order_id]
        order.update(
            amount_total=float(incl), amount_tax=float(incl - excl), amount_paid=float(incl)
        )

    # --- JSON-RPC ------------------------------------------------------------------------


def _same_product(product: Row, sku: str, name: str) -> bool:
    if sku:
        return product["default_code"] == sku
    return not product["default_code"] and product["name"] == name


def _naive(moment: datetime) -> datetime:
    """UTC without a zone, as Odoo stores datetimes."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment

"""Test data made through the same services the product uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from loyalty import staff
from loyalty.auth import sign_token
from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.unit_of_work import unit_of_work

# Tests log in for real, but a deliberately slow hash per fixture would dominate the suite.
FAST_HASH = "pbkdf2:sha256:1000"


@dataclass
class Program:
    """A small program: stores, terminal keys and staff tokens, keyed by name."""

    stores: dict[str, int] = field(default_factory=dict)
    terminal_keys: dict[str, str] = field(default_factory=dict)
    staff_tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        token = self.terminal_keys.get(who) or self.staff_tokens[who]
        return {"Authorization": f"Bearer {token}"}


def make_program(app: Flask) -> Program:
    with unit_of_work():
        return _make_program()


def _make_program() -> Program:
    program = Program()
    for code, name in (("BKK01", "Siam Paragon"), ("BKK02", "Thonglor")):
        program.stores[code] = staff.create_store(db.session, code, name).id
        _terminal, key = staff.create_terminal(db.session, code, f"Till 1 {code}")
        program.terminal_keys[code] = key
    for role in ("cashier", "marketer", "admin"):
        store = "BKK01" if role == "cashier" else None
        user = staff.create_user(
            db.session, f"{role}@example.com", role, "password123", store, hash_method=FAST_HASH
        )
        program.staff_tokens[role] = sign_token("staff", {"u": user.id})
    return program


def shopper_headers(member_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {sign_token('shopper', {'m': member_id})}"}


_counter = iter(range(10_000_000))


def enrol(client: FlaskClient, program: Program, who: str = "BKK01", **fields: Any) -> dict:
    n = next(_counter)
    body = {"name": f"Member {n}", "phone": f"+668{n:08d}"[:12]}
    body.update(fields)
    response = client.post("/api/v1/members", json=body, headers=program.headers(who))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def receipt(external_id: str, total: str, member: dict | None = None, **extra: Any) -> dict:
    body: dict[str, Any] = {
        "external_id": external_id,
        "occurred_at": (extra.pop("occurred_at", None) or utcnow()).isoformat(),
        "type": "sale",
        "currency": "THB",
        "items": [
            {
                "sku": "CF-LATTE",
                "name": "Latte",
                "category": "coffee",
                "quantity": 1,
                "unit_price": total,
            }
        ],
        "discount": "0.00",
        "total": total,
    }
    if member is not None:
        body["member"] = member
    body.update(extra)
    return body


def iso(at: datetime) -> str:
    return at.isoformat()

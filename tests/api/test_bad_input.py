"""Malformed, hostile and out-of-range requests to every write endpoint.

Each gets a 4xx application/problem+json answer whose `errors` names the field (for
validation failures), and nothing changes: the row count of every table, the members'
profiles and balances, the reward, voucher, redemption and receipt stay as they were.

One program is built for the whole module (nothing here may change it); an endpoint that
writes and has no row in CASES fails `test_every_write_endpoint_has_bad_input_cases`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NamedTuple
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from loyalty import create_app
from loyalty.db import MAX_ID, utcnow
from loyalty.extensions import db
from tests import conftest as base
from tests import factories
from tests.api.conftest import problem_of

DROP = object()  # a change that removes the field
TEN_KB = "x" * 10_240
NUL = "bad\x00text"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class Raw(NamedTuple):
    """A body sent as it is, with its content type."""

    data: bytes
    content_type: str = "application/json"


class Endpoint(NamedTuple):
    method: str
    rule: str  # as in the URL map
    path: str  # {member}, {reward}, … name the world's records
    who: str
    valid: dict[str, Any] | None  # "<member>" / "<member_no>" name the world's member
    required: str | None = None  # a field an empty body is missing


M = "/api/v1/members/<int:member_id>"
RECEIPT = {
    "external_id": "R-NEW-1",
    "occurred_at": (utcnow() - timedelta(days=1)).isoformat(),
    "type": "sale",
    "currency": "THB",
    "member": {"member_no": "<member_no>"},
    "items": [{"sku": "CF-LATTE", "name": "Latte", "quantity": 2, "unit_price": "65.00"}],
    "discount": "0.00",
    "total": "130.00",
}
ENDPOINTS = {
    "token": Endpoint(
        "POST",
        "/api/v1/auth/token",
        "/api/v1/auth/token",
        "none",
        {"email": "admin@example.com", "password": "password123"},
        "email",
    ),
    "otp-request": Endpoint(
        "POST",
        "/api/v1/auth/otp/request",
        "/api/v1/auth/otp/request",
        "none",
        {"phone": "0812345678"},
        "phone",
    ),
    "otp-verify": Endpoint(
        "POST",
        "/api/v1/auth/otp/verify",
        "/api/v1/auth/otp/verify",
        "none",
        {"phone": "0812345678", "code": "123456"},
        "code",
    ),
    "enrol": Endpoint(
        "POST",
        "/api/v1/members",
        "/api/v1/members",
        "BKK01",
        {
            "name": "Malee Srisuk",
            "phone": "0823456789",
            "email": "malee@example.com",
            "birthdate": "1992-03-04",
            "locale": "th",
            "consents": {"marketing_sms": True},
            "card_kind": "digital",
        },
        "name",
    ),
    "update": Endpoint(
        "PATCH",
        M,
        "/api/v1/members/{member}",
        "cashier",
        {
            "name": "Somchai J.",
            "phone": "0834567890",
            "email": "new@example.com",
            "birthdate": "1990-05-17",
            "locale": "en",
            "consents": {"marketing_email": False},
        },
    ),
    "replace-card": Endpoint(
        "POST", f"{M}/card/replace", "/api/v1/members/{member}/card/replace", "cashier", {}
    ),
    "block": Endpoint(
        "POST",
        f"{M}/cards/<card_no>/block",
        "/api/v1/members/{member}/cards/{card}/block",
        "cashier",
        None,
    ),
    "unblock": Endpoint(
        "POST",
        f"{M}/cards/<card_no>/unblock",
        "/api/v1/members/{member}/cards/{card}/unblock",
        "cashier",
        None,
    ),
    "resolve": Endpoint(
        "POST",
        "/api/v1/cards/resolve",
        "/api/v1/cards/resolve",
        "BKK01",
        {"code": "LD1.800000000011.1.AAAAAAAAAAAAAAAA"},
        "code",
    ),
    "adjust": Endpoint(
        "POST",
        f"{M}/adjustments",
        "/api/v1/members/{member}/adjustments",
        "admin",
        {"points": 5, "reason": "goodwill"},
        "points",
    ),
    "redeem": Endpoint(
        "POST",
        "/api/v1/redemptions",
        "/api/v1/redemptions",
        "admin",
        {"member_id": "<member>", "points": 1, "external_id": "POS-77"},
        "member_id",
    ),
    "cancel": Endpoint(
        "POST",
        "/api/v1/redemptions/<int:redemption_id>/cancel",
        "/api/v1/redemptions/{redemption}/cancel",
        "admin",
        None,
    ),
    "reward-create": Endpoint(
        "POST",
        "/api/v1/rewards",
        "/api/v1/rewards",
        "marketer",
        {
            "name": "Tote bag",
            "description": "Canvas",
            "points_cost": 50,
            "stock": 10,
            "starts_at": "2026-01-01T00:00:00+07:00",
            "ends_at": "2027-01-01T00:00:00+07:00",
            "voucher_days": 30,
            "active": True,
        },
        "name",
    ),
    "reward-update": Endpoint(
        "PATCH",
        "/api/v1/rewards/<int:reward_id>",
        "/api/v1/rewards/{reward}",
        "marketer",
        {"name": "Big cookie", "points_cost": 2, "stock": 20, "active": False},
    ),
    "voucher-use": Endpoint(
        "POST",
        "/api/v1/vouchers/<code>/use",
        "/api/v1/vouchers/{voucher}/use",
        "BKK01",
        None,
    ),
    "settings": Endpoint(
        "PUT",
        "/api/v1/program/settings",
        "/api/v1/program/settings",
        "admin",
        {"earn_rate": {"points": 2, "amount": "20.00"}, "points_expiry": {"months": 12}},
        "earn_rate",
    ),
    "receipt": Endpoint(
        "POST", "/api/v1/transactions", "/api/v1/transactions", "BKK01", RECEIPT, "total"
    ),
    "claim": Endpoint(
        "POST",
        "/api/v1/transactions/claim",
        "/api/v1/transactions/claim",
        "shopper",
        {"external_id": "ANON-1", "total": "50.00", "store": "BKK01"},
        "total",
    ),
    "store-create": Endpoint(
        "POST",
        "/api/v1/stores",
        "/api/v1/stores",
        "admin",
        {"code": "CNX01", "name": "Nimman"},
        "code",
    ),
    "terminal-create": Endpoint(
        "POST",
        "/api/v1/terminals",
        "/api/v1/terminals",
        "admin",
        {"store": "BKK02", "name": "Till 2"},
        "store",
    ),
    "terminal-revoke": Endpoint(
        "POST",
        "/api/v1/terminals/<int:terminal_id>/revoke",
        "/api/v1/terminals/{terminal}/revoke",
        "admin",
        None,
    ),
    "user-create": Endpoint(
        "POST",
        "/api/v1/users",
        "/api/v1/users",
        "admin",
        {"email": "new.cashier@example.com", "role": "cashier", "password": "password123"},
        "email",
    ),
}


class Case(NamedTuple):
    endpoint: str
    label: str
    body: dict | Raw | None
    status: int
    field: str | None
    path: str | None = None
    headers: dict[str, str] | None = None


def changed(endpoint: str, **changes: Any) -> dict:
    """The endpoint's valid body with some fields changed (DROP removes one)."""
    body = dict(ENDPOINTS[endpoint].valid or {})
    for key, value in changes.items():
        if value is DROP:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def bad(endpoint: str, label: str, field: str, status: int = 422, **changes: Any) -> Case:
    return Case(endpoint, label, changed(endpoint, **changes), status, field)


def generic_cases(name: str, endpoint: Endpoint) -> Iterator[Case]:
    """What every endpoint with a JSON body must refuse."""
    valid = endpoint.valid or {}
    yield Case(name, "not JSON at all", Raw(b'{"name": '), 400, "_schema")
    yield Case(name, "bytes that are not UTF-8", Raw(b'{"name": "\xff\xfe"}'), 400, "_schema")
    yield Case(name, "JSON nested 100 000 deep", Raw(b"[" * 100_000 + b"]" * 100_000), 400, None)
    yield Case(name, "a number of 5 000 digits", Raw(b'{"n": 1' + b"0" * 5000 + b"}"), 400, None)
    yield Case(name, "a JSON array", Raw(b"[1, 2, 3]"), 422, "_schema")
    yield Case(name, "a bare JSON string", Raw(b'"hello"'), 422, "_schema")
    yield Case(name, "JSON null", Raw(b"null"), 422, "_schema")
    yield Case(name, "an unknown field", {**valid, "unexpected": 1}, 422, "unexpected")
    garbage = {**valid, "unexpected": {"a": [[{"b": None}], {"c": {}}]}}
    yield Case(name, "nested garbage", garbage, 422, "unexpected")
    form = Raw(urlencode({"name": "x"}).encode(), "application/x-www-form-urlencoded")
    yield Case(name, "a form body", form, 415, None)
    yield Case(
        name, "JSON sent as text/plain", Raw(json.dumps(valid).encode(), "text/plain"), 415, None
    )
    if endpoint.required:
        yield Case(name, "an empty body", None, 422, endpoint.required)
    for key, value in valid.items():
        if isinstance(value, str) and not value.startswith("<"):
            yield Case(name, f"10 kB of text in {key}", {**valid, key: TEN_KB}, 422, key)
            yield Case(name, f"a NUL character in {key}", {**valid, key: NUL}, 422, key)


def path_cases(name: str, endpoint: Endpoint) -> Iterator[Case]:
    """What every endpoint that takes no body must refuse."""
    yield Case(name, "a body that is not JSON", Raw(b"<a/>", "application/xml"), 415, None)


def item(**changes: Any) -> list[dict]:
    """A receipt's items: one line, changed."""
    return [{"sku": "A", "quantity": 1, "unit_price": "1.00", **changes}]


def rate(points: Any = 1, amount: Any = "25.00") -> dict:
    return {"points": points, "amount": amount}


def at_path(endpoint: str, label: str, path: str, status: int = 404, field: str | None = None):
    """A request to a path that names nothing (or names it with a hostile character)."""
    valid = ENDPOINTS[endpoint].valid
    return Case(endpoint, label, None if valid is None else dict(valid), status, field, path)


def with_key(key: str, label: str) -> Case:
    return Case("redeem", label, changed("redeem"), 422, IDEMPOTENCY, headers={IDEMPOTENCY: key})


IDEMPOTENCY = "Idempotency-Key"
AMOUNT, RATE_POINTS, MONTHS = "earn_rate.amount", "earn_rate.points", "points_expiry.months"
REFUND = {"type": "refund", "member": DROP}
SPECIFIC = [
    bad("token", "an email that is not one", "email", email="admin"),
    bad("token", "an empty password", "password", password=""),
    bad("token", "a number for a password", "password", password=123456789),
    bad("otp-request", "a phone that is not one", "phone", phone="call me"),
    bad("otp-request", "a phone and an email", "phone", email="a@example.com"),
    bad("otp-request", "a phone as a number", "phone", phone=812345678),
    bad("otp-verify", "a five-digit code", "code", code="12345"),
    bad("otp-verify", "a code of letters", "code", code="abcdef"),
    bad("otp-verify", "a code as a number", "code", code=123456),
    bad("enrol", "a blank name", "name", name="   "),
    bad("enrol", "a number for a name", "name", name=42),
    bad("enrol", "no phone and no email", "phone", phone=DROP, email=DROP),
    bad("enrol", "a phone that is not one", "phone", phone="0000"),
    bad("enrol", "a phone as a number", "phone", phone=812345678),
    bad("enrol", "an email that is not one", "email", email="malee@"),
    bad("enrol", "the 30th of February", "birthdate", birthdate="1992-02-30"),
    bad("enrol", "a day-first date", "birthdate", birthdate="04/03/1992"),
    bad("enrol", "a birthdate in the future", "birthdate", birthdate="2999-01-01"),
    bad("enrol", "a birthdate in 1800", "birthdate", birthdate="1800-01-01"),
    bad("enrol", "a birthdate as a number", "birthdate", birthdate=19920304),
    bad("enrol", "an unknown locale", "locale", locale="fr"),
    bad("enrol", "consents as a list", "consents", consents=["marketing_sms"]),
    bad("enrol", "an unknown consent channel", "consents", consents={"marketing_fax": True}),
    bad("enrol", "a consent of 'yes'", "consents", consents={"marketing_sms": "yes"}),
    bad("enrol", "a consent of 1", "consents", consents={"marketing_sms": 1}),
    bad("enrol", "an unknown card kind", "card_kind", card_kind="plastic"),
    bad("enrol", "the phone of an enrolled member", None, 409, phone="+66812345678"),
    bad("enrol", "the email of an enrolled member", None, 409, email="m@example.com"),
    bad("update", "a blank name", "name", name=""),
    bad("update", "a null name", "name", name=None),
    bad("update", "a valid name with a bad phone", "phone", phone="12"),
    bad("update", "a null email", "email", email=None),
    bad("update", "a birthdate in the future", "birthdate", birthdate="2999-12-31"),
    bad("update", "a consent of 'no'", "consents", consents={"marketing_email": "no"}),
    bad("update", "the other member's email", None, 409, email="o@example.com"),
    bad("update", "the other member's phone", None, 409, phone="0898765432"),
    bad("replace-card", "an unknown card kind", "kind", kind="plastic"),
    bad("replace-card", "a number for a kind", "kind", kind=1),
    bad("resolve", "an empty code", "code", code=""),
    bad("resolve", "a number for a code", "code", code=12345),
    bad("resolve", "no code", "code", code=DROP),
    bad("adjust", "zero points", "points", points=0),
    bad("adjust", "points as a string", "points", points="5"),
    bad("adjust", "fractional points", "points", points=5.5),
    bad("adjust", "two billion points", "points", points=2_000_000_000),
    bad("adjust", "true for points", "points", points=True),
    bad("adjust", "a blank reason", "reason", reason="   "),
    bad("adjust", "no reason", "reason", reason=DROP),
    bad("adjust", "a reason of 301 characters", "reason", reason="r" * 301),
    bad("adjust", "taking more than the balance", None, 409, points=-1_000),
    bad("redeem", "zero points", "points", points=0),
    bad("redeem", "negative points", "points", points=-5),
    bad("redeem", "points as a string", "points", points="1"),
    bad("redeem", "points as a float", "points", points=1.0),
    bad("redeem", "a trillion points", "points", points=10**12),
    bad("redeem", "more points than the balance", None, 409, points=1_000_000),
    bad("redeem", "no points and no reward", "points", points=DROP),
    bad("redeem", "a member id as a string", "member_id", member_id="1"),
    bad("redeem", "a member id of 0", "member_id", member_id=0),
    bad("redeem", "a member id beyond 64 bits", "member_id", member_id=2**64),
    bad("redeem", "a member id of 2^63", "member_id", member_id=MAX_ID + 1),
    bad("redeem", "an unknown member", None, 404, member_id=MAX_ID),
    bad("redeem", "a reward id beyond 64 bits", "reward_id", reward_id=2**64),
    bad("redeem", "an unknown reward", None, 404, reward_id=MAX_ID),
    bad("redeem", "an empty external id", "external_id", external_id=""),
    bad("redeem", "a code of 10 kB", "code", code=TEN_KB),
    with_key("k" * 300, "an Idempotency-Key of 300 characters"),
    with_key(NUL, "a NUL in the Idempotency-Key"),
    bad("reward-create", "a blank name", "name", name=""),
    bad("reward-create", "a cost of 0", "points_cost", points_cost=0),
    bad("reward-create", "a negative cost", "points_cost", points_cost=-10),
    bad("reward-create", "a cost as a string", "points_cost", points_cost="50"),
    bad("reward-create", "a fractional cost", "points_cost", points_cost=49.5),
    bad("reward-create", "negative stock", "stock", stock=-1),
    bad("reward-create", "a naive start time", "starts_at", starts_at="2026-01-01T00:00:00"),
    bad("reward-create", "a start in year 1", "starts_at", starts_at="0001-01-01T00:00+14:00"),
    bad("reward-create", "an end in year 9999", "ends_at", ends_at="9999-12-31T23:59-12:00"),
    bad("reward-create", "an end before the start", "ends_at", ends_at="2025-01-01T00:00:00Z"),
    bad("reward-create", "a date for a time", "starts_at", starts_at="2026-01-01"),
    bad("reward-create", "zero voucher days", "voucher_days", voucher_days=0),
    bad("reward-create", "'yes' for active", "active", active="yes"),
    bad("reward-update", "a null name", "name", name=None),
    bad("reward-update", "stock below what is issued", "stock", stock=0),
    bad("reward-update", "a cost of 0", "points_cost", points_cost=0),
    bad("reward-update", "1 for active", "active", active=1),
    bad("settings", "a float amount", AMOUNT, earn_rate=rate(amount=25.0)),
    bad("settings", "three decimal places", AMOUNT, earn_rate=rate(amount="25.001")),
    bad("settings", "an exponent", AMOUNT, earn_rate=rate(amount="1e3")),
    bad("settings", "NaN", AMOUNT, earn_rate=rate(amount="NaN")),
    bad("settings", "a zero amount", AMOUNT, earn_rate=rate(amount="0.00")),
    bad("settings", "a negative amount", AMOUNT, earn_rate=rate(amount="-25.00")),
    bad("settings", "zero points", RATE_POINTS, earn_rate=rate(points=0)),
    bad("settings", "points as a string", RATE_POINTS, earn_rate=rate(points="1")),
    bad("settings", "an earn rate as a string", "earn_rate", earn_rate="1 per 25"),
    bad("settings", "zero months", MONTHS, points_expiry={"months": 0}),
    bad("settings", "1 000 months", MONTHS, points_expiry={"months": 1000}),
    bad("settings", "no expiry", "points_expiry", points_expiry=DROP),
    bad("receipt", "a float total", "total", total=130.0),
    bad("receipt", "a float unit price", "items.0.unit_price", items=item(unit_price=65.5)),
    bad("receipt", "a negative total", "total", total="-1.00"),
    bad("receipt", "a total of a billion", "total", total="1000000000.00"),
    bad("receipt", "three decimal places", "total", total="130.001"),
    bad("receipt", "an exponent", "total", total="1.3e2"),
    bad("receipt", "a negative discount", "discount", discount="-5.00"),
    bad("receipt", "a zero quantity", "items.0.quantity", items=item(quantity=0)),
    bad("receipt", "a fractional quantity", "items.0.quantity", items=item(quantity=1.5)),
    bad("receipt", "a billion of an item", "items.0.quantity", items=item(quantity=10**9)),
    bad("receipt", "an item without a sku", "items.0.sku", items=item(sku=None)),
    bad("receipt", "a sku of 10 kB", "items.0.sku", items=item(sku=TEN_KB)),
    bad("receipt", "items as an object", "items", items={"sku": "A"}),
    bad("receipt", "501 items", "items", items=item() * 501),
    bad("receipt", "a naive time", "occurred_at", occurred_at="2026-01-10T10:15:00"),
    bad("receipt", "the 30th of February", "occurred_at", occurred_at="2026-02-30T10:15+07:00"),
    bad("receipt", "a time in words", "occurred_at", occurred_at="yesterday"),
    bad("receipt", "a time as a number", "occurred_at", occurred_at=1767000000),
    bad("receipt", "a time in 1999", "occurred_at", occurred_at="1999-12-31T23:59:59+07:00"),
    bad("receipt", "a time in year 1", "occurred_at", occurred_at="0001-01-01T00:00:00+14:00"),
    bad("receipt", "a time in 2999", "occurred_at", occurred_at="2999-01-01T00:00:00+07:00"),
    bad("receipt", "an unknown type", "type", type="void"),
    bad("receipt", "an unknown currency", "currency", currency="XXX"),
    bad("receipt", "another currency than the program's", "currency", currency="USD"),
    bad("receipt", "an external id with a space", "external_id", external_id="R 1"),
    bad("receipt", "two ways to name the member", "member", member={"member_no": "1", "code": "2"}),
    bad("receipt", "an empty member", "member", member={}),
    bad("receipt", "a member as a string", "member", member="0000000018"),
    bad("receipt", "an unknown member number", "member.member_no", member={"member_no": "999"}),
    bad("receipt", "an unknown phone", "member.phone", member={"phone": "0899999999"}),
    bad("receipt", "a code that is not a card's", "member.code", member={"code": "hello"}),
    bad("receipt", "a member number of 10 kB", "member.member_no", member={"member_no": TEN_KB}),
    bad("receipt", "a refund without its sale", "refund_of", **REFUND),
    bad("receipt", "a sale naming a sale", "refund_of", refund_of="SALE-1"),
    bad("receipt", "a refund of an unknown sale", "refund_of", refund_of="NOPE", **REFUND),
    bad(
        "receipt",
        "a refund beyond the sale",
        "total",
        refund_of="SALE-1",
        total="1000.01",
        **REFUND,
    ),
    bad("claim", "a float total", "total", total=50.0),
    bad("claim", "a negative total", "total", total="-50.00"),
    bad("claim", "an empty receipt number", "external_id", external_id=""),
    bad("claim", "a store code of 10 kB", "store", store=TEN_KB),
    bad("store-create", "a code with a space", "code", code="CNX 01"),
    bad("store-create", "an existing code", None, 409, code="BKK01"),
    bad("terminal-create", "an unknown store", None, 404, store="NOPE"),
    bad("user-create", "an unknown role", "role", role="owner"),
    bad("user-create", "a short password", "password", password="short"),
    bad("user-create", "an email that is not one", "email", email="cashier"),
    bad("user-create", "an existing email", None, 409, email="admin@example.com"),
    at_path("cancel", "an unknown redemption", "/api/v1/redemptions/{max_id}/cancel"),
    at_path("cancel", "an id beyond 64 bits", "/api/v1/redemptions/{past_max}/cancel"),
    at_path("cancel", "a negative id", "/api/v1/redemptions/-1/cancel"),
    at_path("block", "an unknown card", "/api/v1/members/{member}/cards/800000000000/block"),
    at_path(
        "block",
        "a NUL in the card number",
        "/api/v1/members/{member}/cards/8%00/block",
        422,
        "card_no",
    ),
    at_path("block", "an id beyond 64 bits", "/api/v1/members/{past_max}/cards/{card}/block"),
    at_path("unblock", "an unknown member", "/api/v1/members/{max_id}/cards/{card}/unblock"),
    at_path("voucher-use", "an unknown voucher", "/api/v1/vouchers/VNOPE/use"),
    at_path("voucher-use", "a NUL in the code", "/api/v1/vouchers/V%00/use", 422, "code"),
    at_path("voucher-use", "a code of 10 kB", f"/api/v1/vouchers/{TEN_KB}/use"),
    at_path("terminal-revoke", "an unknown terminal", "/api/v1/terminals/{max_id}/revoke"),
    at_path("adjust", "an id beyond 64 bits", "/api/v1/members/{past_max}/adjustments"),
    at_path("update", "an unknown member", "/api/v1/members/{max_id}"),
    at_path("reward-update", "an unknown reward", "/api/v1/rewards/{max_id}"),
]


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for name, endpoint in ENDPOINTS.items():
        more = generic_cases if endpoint.valid is not None else path_cases
        cases.extend(more(name, endpoint))
    return cases + SPECIFIC


CASES = all_cases()


@dataclass
class World:
    app: Flask
    client: FlaskClient
    program: factories.Program
    ids: dict[str, Any] = field(default_factory=dict)
    shopper: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        if who == "none":
            return {}
        return self.shopper if who == "shopper" else self.program.headers(who)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.client.open(path, method=method, headers=self.program.headers("admin"), **kwargs)
        assert r.status_code < 300, (path, r.get_json())
        return r.get_json()


def build_world(app: Flask) -> World:
    client = app.test_client()
    with app.app_context():
        world = World(app, client, factories.make_program(app))
        member = factories.enrol(client, world.program, phone="0812345678", email="m@example.com")
        other = factories.enrol(client, world.program, phone="0898765432", email="o@example.com")
        world.shopper = factories.shopper_headers(member["id"])
    till = world.program.headers("BKK01")
    sale = factories.receipt("SALE-1", "1000.00", {"member_no": member["member_no"]})
    recorded = client.post("/api/v1/transactions", json=sale, headers=till)
    assert recorded.status_code == 201
    anonymous = factories.receipt("ANON-1", "50.00")
    assert client.post("/api/v1/transactions", json=anonymous, headers=till).status_code == 201
    reward = world.ok("POST", "/api/v1/rewards", json={"name": "Cookie", "points_cost": 1})
    made = world.ok(
        "POST",
        "/api/v1/redemptions",
        json={"member_id": member["id"], "points": 1, "reward_id": reward["id"]},
    )
    spare = world.ok("POST", "/api/v1/terminals", json={"store": "BKK02", "name": "Spare"})
    world.ids = {
        "member": member["id"],
        "member_no": member["member_no"],
        "other": other["id"],
        "card": member["card"]["card_no"],
        "reward": reward["id"],
        "redemption": made["id"],
        "voucher": made["voucher_code"],
        "sale": recorded.get_json()["id"],
        "terminal": spare["id"],
        "max_id": MAX_ID,
        "past_max": MAX_ID + 1,
    }
    return world


@pytest.fixture(scope="module")
def world(database_url: str) -> Iterator[World]:
    """One program for the module; the requests here must leave it as it is."""
    app = create_app(base.test_config(database_url))
    yield build_world(app)
    with app.app_context():
        base.empty_database()
        db.engine.dispose()


def table_counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            table.name: db.session.scalar(select(func.count()).select_from(table))
            for table in db.metadata.sorted_tables
        }


def state(w: World) -> dict[str, Any]:
    """Everything a refused request must leave alone."""
    ids = w.ids
    reads = [
        f"/api/v1/members/{ids['member']}",
        f"/api/v1/members/{ids['other']}",
        f"/api/v1/members/{ids['member']}/consents",
        f"/api/v1/rewards/{ids['reward']}",
        f"/api/v1/redemptions/{ids['redemption']}",
        f"/api/v1/vouchers/{ids['voucher']}",
        f"/api/v1/transactions/{ids['sale']}",
        "/api/v1/program/settings",
        "/api/v1/terminals",
        "/api/v1/stores",
        "/api/v1/users",
    ]
    return {"tables": table_counts(w.app), **{path: w.ok("GET", path) for path in reads}}


def substitute(node: Any, ids: dict[str, Any]) -> Any:
    """Put the world's member into a body: "<member>" → its id, "<member_no>" → its number."""
    if isinstance(node, dict):
        return {k: substitute(v, ids) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, ids) for v in node]
    if isinstance(node, str) and node.startswith("<") and node.endswith(">"):
        return ids[node[1:-1]]
    return node


def send(w: World, case: Case):
    endpoint = ENDPOINTS[case.endpoint]
    path = (case.path or endpoint.path).format(**w.ids)
    headers = {**w.headers(endpoint.who), **(case.headers or {})}
    if isinstance(case.body, Raw):
        return w.client.open(
            path,
            method=endpoint.method,
            data=case.body.data,
            content_type=case.body.content_type,
            headers=headers,
        )
    body = None if case.body is None else substitute(case.body, w.ids)
    return w.client.open(path, method=endpoint.method, json=body, headers=headers)


def names(errors: dict[str, list[str]], field_name: str) -> bool:
    return any(key == field_name or key.startswith(f"{field_name}.") for key in errors)


def test_every_write_endpoint_has_bad_input_cases(world):
    writes = {
        (method, rule.rule)
        for rule in world.app.url_map.iter_rules()
        for method in rule.methods & WRITES
    }
    covered = {(ENDPOINTS[c.endpoint].method, ENDPOINTS[c.endpoint].rule) for c in CASES}
    assert writes - covered == set()
    assert covered - writes == set()


def test_the_valid_bodies_are_valid_but_for_the_broken_part(world):
    """Each valid body passes validation, so a refusal in a case is the broken part's doing."""
    for name in ("enrol", "redeem", "receipt", "reward-create", "settings", "adjust"):
        endpoint = ENDPOINTS[name]
        probe = changed(name, unexpected=1)
        r = send(world, Case(name, "probe", probe, 422, "unexpected"))
        errors = problem_of(r, 422)["errors"]
        assert list(errors) == ["unexpected"], (endpoint.rule, errors)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.endpoint}: {c.label}" for c in CASES])
def test_bad_input_is_refused_and_changes_nothing(world, case):
    before = state(world)
    r = send(world, case)
    body = problem_of(r, case.status)
    if case.field is not None:
        assert names(body.get("errors", {}), case.field), body
    assert state(world) == before

"""Fake POS vendors on local ports, and a POS source of ours connected to one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from importlib import import_module

import pytest
from flask.testing import FlaskClient

from loyalty.db import utcnow
from tests.factories import Program
from tests.fakes.vendor import FakeVendor, Line

FAKES = {
    "loyverse": "tests.fakes.loyverse:FakeLoyverse",
    "square": "tests.fakes.square:FakeSquare",
    "shopify": "tests.fakes.shopify:FakeShopify",
    "odoo": "tests.fakes.odoo:FakeOdoo",
}
LATTE = Line("CF-LATTE", "Latte", 2, Decimal("65.00"), "Coffee")
CAKE = Line("BK-CAKE", "Cheesecake", 1, Decimal("120.00"), "Bakery")


def start_fake(kind: str) -> FakeVendor:
    module, name = FAKES[kind].split(":")
    return getattr(import_module(module), name)()


@pytest.fixture(params=sorted(FAKES))
def vendor(request: pytest.FixtureRequest) -> Iterator[FakeVendor]:
    fake = start_fake(request.param)
    yield fake
    fake.stop()


@pytest.fixture
def ago() -> Callable[..., object]:
    """A moment `minutes` before now (vendor times in the past, in order)."""
    now = utcnow().replace(microsecond=0)
    return lambda minutes: now - timedelta(minutes=minutes)


def connect(client: FlaskClient, program: Program, fake: FakeVendor, **extra: object) -> dict:
    """Connect `fake` as a POS source: its first store is BKK01, its second BKK02."""
    body = {
        "kind": fake.kind,
        "name": f"{fake.kind} test shop",
        "base_url": fake.url,
        "credentials": fake.credentials,
        "webhook_secret": fake.webhook_secret,
        "stores": {fake.stores[0]: "BKK01", fake.stores[1]: "BKK02"},
        "poll_minutes": 5,
    }
    body.update(extra)
    response = client.post("/api/v1/pos-sources", json=body, headers=program.headers("admin"))
    assert response.status_code == 201, response.get_json()
    source = response.get_json()
    fake.set_webhook_url(source["webhook_url"])
    return source


def sync(client: FlaskClient, program: Program, source_id: int, **body: object) -> dict:
    response = client.post(
        f"/api/v1/pos-sources/{source_id}/sync", json=body, headers=program.headers("admin")
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def pulled(client: FlaskClient, program: Program, source_id: int) -> dict[str, dict]:
    """The transactions recorded from the source, by external id."""
    response = client.get(
        f"/api/v1/transactions?source={source_id}&per_page=500",
        headers=program.headers("marketer"),
    )
    assert response.status_code == 200, response.get_json()
    return {t["external_id"]: t for t in response.get_json()}

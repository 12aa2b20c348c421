"""The Loyverse adapter against the fake Loyverse API: mapping of the documented payloads,
full and incremental pulls, retries and errors, customers and webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from pos_adapters.vendor import Connection, Customer, Unreadable, VendorReceipt, vendor_class
from pos_adapters.vendor_http import VendorAuthError, VendorError, VendorHttp
from pos_adapters.vendors.loyverse import Client
from tests.fakes.loyverse import FakeLoyverse
from tests.fakes.vendor import Line, Shopper

DATA = Path(__file__).parents[2] / "data" / "pos" / "loyverse"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
COFFEE = Line("LAT-L", "Latte", 2, Decimal("85.00"), "Coffee")
CAKE = Line("CAK-1", "Cake", 1, Decimal("120.50"), "Bakery")


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


@pytest.fixture
def fake() -> Iterator[FakeLoyverse]:
    vendor = FakeLoyverse()
    yield vendor
    vendor.stop()


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def client(fake: FakeLoyverse, slept: list[float]) -> Client:
    return make_client(fake, slept, fake.credentials)


def make_client(fake: FakeLoyverse, slept: list[float], credentials: dict[str, str]) -> Client:
    connection = Connection(fake.url, credentials, webhook_secret=fake.webhook_secret)
    return Client(connection, VendorHttp(backoff=0.0, sleep=slept.append))


@pytest.fixture
def fixtures(fake: FakeLoyverse) -> FakeLoyverse:
    """The fake holding the documented payloads of tests/data/pos/loyverse."""
    for item in load("items.json")["items"]:
        fake.put_item(item)
    for category in load("categories.json")["categories"]:
        fake.put_category(category)
    fake.put_customer(load("customer.json"))
    for name in ("sale.json", "refund.json", "voided_sale.json"):
        fake.put_receipt(load(name))
    return fake


def sales(fake: FakeLoyverse, count: int, start: datetime = T0) -> list[str]:
    return [
        fake.add_sale(fake.stores[i % 2], [COFFEE], start + timedelta(minutes=i))
        for i in range(count)
    ]


def pull(client: Client, cursor: str | None = None, since: datetime | None = None):
    """Every page until `more` is false: the receipts, the pages and the final cursor."""
    receipts, pages = [], 0
    while True:
        page = client.fetch_page(cursor, since)
        receipts += page.receipts
        cursor, pages = page.cursor, pages + 1
        if not page.more:
            return receipts, pages, cursor


def by_id(receipts: list) -> dict[str, VendorReceipt]:
    return {r.vendor_id: r for r in receipts}


# -- mapping of the documented payloads ----------------------------------------------------


def test_a_sale_maps_baht_discount_lines_skus_and_categories(fixtures, client):
    (sale,) = client.fetch_receipts(["2-7340"])
    assert sale.type == "sale"
    assert sale.total == Decimal("545.00")
    assert sale.discount == Decimal("20.00")
    assert sale.occurred_at == datetime(2025, 10, 18, 7, 48, tzinfo=UTC)
    assert sale.store == "5f0c1f53-8c4a-4b3e-9a47-2b6f1c0d7e11"
    assert sale.device == "e7ed4a90-31d2-4c55-8f0e-7c4b1a2d9f30"
    assert sale.customer_id == "0f9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c"
    assert (sale.phone, sale.email) == (None, None)
    assert sale.note == "MEMBER LV-ABC-1234"
    assert not sale.voided
    latte, croissant, beans = sale.items
    assert (latte.sku, latte.name, latte.quantity, latte.unit_price, latte.category) == (
        "LAT-L",
        "Latte (Large)",
        Decimal("2.000"),
        Decimal("85.00"),
        "Coffee",
    )
    assert (croissant.sku, croissant.category) == ("CRO-01", "Bakery")
    assert beans.sku == "7966819c-f78b-4b81-909f-000000000033"  # no SKU: the variant id
    assert (beans.quantity, beans.unit_price) == (Decimal("0.250"), Decimal("1200.00"))


def test_a_refund_is_positive_and_names_its_sale(fixtures, client):
    (refund,) = client.fetch_receipts(["2-7351"])
    assert (refund.type, refund.total, refund.refund_of) == ("refund", Decimal("65.00"), "2-7340")
    assert refund.items[0].sku == "CRO-01"


def test_a_cancelled_sale_is_voided_with_its_fractional_amount(fixtures, client):
    (voided,) = client.fetch_receipts(["2-7352"])
    assert voided.voided
    assert voided.total == Decimal("46.21")


def test_a_listed_page_of_the_documented_shape_maps_every_receipt(fixtures, client):
    receipts, _, _ = pull(client)
    expected = [r["receipt_number"] for r in load("receipts_page.json")["receipts"]]
    assert [r.vendor_id for r in receipts] == expected  # newest first, as Loyverse lists


def test_categories_are_looked_up_once_per_item_and_listed_once(fixtures, client):
    client.fetch_receipts(["2-7340", "2-7351", "2-7352"])
    client.fetch_receipts(["2-7340"])
    items = fixtures.server.requests_to("/v1.0/items/")
    assert len(items) == len({s.path for s in items}) == 3
    assert len(fixtures.server.requests_to("/v1.0/categories")) == 1


def test_a_negative_refund_is_read_as_positive(fake, client):
    refund = load("refund.json") | {"total_money": -65, "total_discount": -5}
    fake.put_receipt(refund)
    (mapped,) = client.fetch_receipts(["2-7351"])
    assert (mapped.total, mapped.discount) == (Decimal("65.00"), Decimal("5.00"))


# -- pulling -----------------------------------------------------------------------------


def test_a_first_pull_reads_all_history_across_pages(fake, client):
    made = sales(fake, 600)
    receipts, pages, cursor = pull(client)
    assert pages == 3
    assert sorted(r.vendor_id for r in receipts) == sorted(made)
    listed = fake.server.requests_to("/v1.0/receipts")
    assert all(s.query["limit"] == "250" for s in listed)
    assert "updated_at_min" not in listed[0].query
    assert json.loads(cursor)["page"] is None


def test_an_incremental_pull_reads_new_receipts_with_an_overlap(fake, client):
    sales(fake, 300)
    _, _, cursor = pull(client)
    newest = T0 + timedelta(minutes=299)
    assert json.loads(cursor)["min"] == "2026-03-01T13:54:00.000Z"  # newest less 5 min
    new = fake.add_sale(fake.stores[0], [CAKE], newest + timedelta(hours=1))
    receipts, pages, _ = pull(client, cursor)
    ids = [r.vendor_id for r in receipts]
    assert pages == 1
    assert new in ids
    assert len(ids) == 7  # the new one plus 13:54..13:59 again (bounds inclusive)


def test_an_incremental_pull_sees_edits_voids_and_refunds(fake, client):
    made = sales(fake, 10)
    _, _, cursor = pull(client)
    later = T0 + timedelta(days=1)
    fake.edit_total(made[0], Decimal("99.00"), later)
    fake.void(made[1], later)
    refund = fake.add_refund(made[2], Decimal("85.00"), later)
    found = by_id(pull(client, cursor)[0])
    assert found[made[0]].total == Decimal("99.00")
    assert found[made[1]].voided
    assert (found[refund].type, found[refund].refund_of) == ("refund", made[2])
    assert found[refund].total == Decimal("85.00")


def test_since_backfills_from_that_time_only(fake, client):
    made = sales(fake, 20)
    receipts, _, _ = pull(client, since=T0 + timedelta(minutes=15))
    assert sorted(r.vendor_id for r in receipts) == sorted(made[15:])
    first = fake.server.requests_to("/v1.0/receipts")[0]
    assert first.query["updated_at_min"] == "2026-03-01T09:15:00.000Z"


def test_a_stale_page_token_restarts_the_window(fake, client):
    made = sales(fake, 300)
    first = client.fetch_page(None, None)
    assert first.more
    fake.expire_cursors()
    second = client.fetch_page(first.cursor, None)
    assert len(second.receipts) == 250  # the window again from its start
    receipts, _, _ = pull(client, second.cursor)
    assert {r.vendor_id for r in second.receipts + receipts} == set(made)


def test_an_unreadable_receipt_is_reported_and_the_page_goes_on(fake, client):
    made = sales(fake, 3)
    bad = dict(fake.receipt(made[1]), total_money="lots", line_items=[{"quantity": 1}])
    fake.put_receipt(bad)
    receipts = client.fetch_page(None, None).receipts
    unreadable = [r for r in receipts if isinstance(r, Unreadable)]
    assert [u.vendor_id for u in unreadable] == [made[1]]
    assert "lots" in unreadable[0].reason
    assert {r.vendor_id for r in receipts if isinstance(r, VendorReceipt)} == {made[0], made[2]}


def test_a_receipt_number_with_spaces_is_unreadable(fake, client):
    fake.put_receipt(load("sale.json") | {"receipt_number": "2 7340"})
    (receipt,) = client.fetch_page(None, None).receipts
    assert isinstance(receipt, Unreadable)


# -- HTTP faults ---------------------------------------------------------------------------


def test_a_wrong_token_raises_vendor_auth_error(fake, slept):
    client = make_client(fake, slept, {"access_token": "wrong"})
    with pytest.raises(VendorAuthError, match="UNAUTHORIZED"):
        client.fetch_page(None, None)


def test_a_429_waits_its_retry_after_then_succeeds(fake, client, slept):
    made = sales(fake, 2)
    fake.rate_limit_next(1, retry_after="7")
    receipts = client.fetch_page(None, None).receipts
    assert slept == [7.0]
    assert {r.vendor_id for r in receipts} == set(made)


def test_a_5xx_is_retried_then_succeeds(fake, client, slept):
    sales(fake, 2)
    fake.fail_next(2, 503)
    assert len(client.fetch_page(None, None).receipts) == 2
    assert len(slept) == 2


def test_a_persistent_outage_raises_vendor_error(fake, client):
    fake.fail_next(10, 500)
    with pytest.raises(VendorError, match="INTERNAL_SERVER_ERROR"):
        client.fetch_page(None, None)


# -- customers ---------------------------------------------------------------------------


def test_a_customer_gives_phone_and_email(fake, client):
    sale = fake.add_sale(fake.stores[0], [COFFEE], T0, Shopper("0812345678", "a@example.com"))
    (receipt,) = client.fetch_receipts([sale])
    assert client.customer(receipt.customer_id) == Customer("0812345678", "a@example.com")


def test_an_unknown_customer_is_none(fake, client):
    assert client.customer("no-such-customer") is None


# -- webhooks ----------------------------------------------------------------------------


def test_a_hex_signed_webhook_is_accepted_and_read(fake, client):
    made = sales(fake, 2)
    hook = fake.webhook_for(made)
    headers = {k.lower(): v for k, v in hook.headers.items()}
    assert client.verify_webhook(headers, hook.body, {})
    event = client.read_webhook(headers, hook.body)
    assert [r.vendor_id for r in event.receipts] == made


def test_a_base64_signature_is_accepted(fake, client):
    body = fake.webhook_body(sales(fake, 1))
    digest = hmac.new(fake.webhook_secret.encode(), body, hashlib.sha1).digest()
    assert client.verify_webhook(
        {"X-Loyverse-Signature": base64.b64encode(digest).decode()}, body, {}
    )


def test_an_unsigned_webhook_with_the_secret_in_the_url_is_accepted(fake, client):
    hook = fake.unsigned_webhook_for(sales(fake, 1))
    assert client.verify_webhook(hook.headers, hook.body, {"token": fake.webhook_secret})


def test_forged_or_missing_signatures_are_rejected(fake, client):
    made = sales(fake, 1)
    forged = fake.webhook_for(made, secret="not-the-secret")
    assert not client.verify_webhook(forged.headers, forged.body, {})
    good = fake.webhook_for(made)
    assert not client.verify_webhook(good.headers, good.body + b" ", {})
    assert not client.verify_webhook({}, good.body, {})
    assert not client.verify_webhook({}, good.body, {"token": "guess"})


def test_the_documented_webhook_body_is_read(fixtures, client):
    body = json.dumps(load("webhook_receipts_update.json")).encode()
    event = client.read_webhook({}, body)
    assert [(r.vendor_id, r.refund_of) for r in event.receipts] == [("2-7351", "2-7340")]


def test_other_webhook_types_are_empty_and_junk_is_refused(client):
    assert client.read_webhook({}, b'{"type": "items.update", "items": []}').receipts == []
    with pytest.raises(ValueError, match="webhook"):
        client.read_webhook({}, b"not json")


def test_a_line_of_a_deleted_item_keeps_no_category(fake, client):
    sale = fake.add_sale(fake.stores[0], [COFFEE], T0)
    fake.items.clear()
    (receipt,) = client.fetch_receipts([sale])
    assert (receipt.items[0].sku, receipt.items[0].category) == ("LAT-L", "")


def test_a_base_url_quoted_with_its_version_works(fake, slept):
    made = sales(fake, 1)
    connection = Connection(fake.url + "/v1.0/", fake.credentials)
    client = Client(connection, VendorHttp(backoff=0.0, sleep=slept.append))
    assert [r.vendor_id for r in client.fetch_page(None, None).receipts] == made


def test_the_adapter_is_registered_under_its_kind():
    assert vendor_class("loyverse") is Client
    assert Client.default_url == "https://api.loyverse.com"
    assert Client.credential_fields == ("access_token",)

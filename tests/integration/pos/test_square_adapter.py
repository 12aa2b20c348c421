"""The Square adapter against a local fake of Square's documented API: mapping, pulls,
retries, stale cursors, customers and webhooks. No database, no Redis."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from pos_adapters.vendor import Connection, Page, Unreadable, VendorReceipt
from pos_adapters.vendor_http import VendorAuthError, VendorError, VendorHttp
from pos_adapters.vendors.square import Client
from tests.fakes.square import FakeSquare
from tests.fakes.vendor import Line, Shopper

DATA = Path(__file__).resolve().parents[2] / "data" / "pos" / "square"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
LATTE = Line("LATTE-REG", "Latte", 2, Decimal("65.00"), "Coffee")
BUN = Line("BUN-1", "Bun", 1, Decimal("30.50"), "Bakery")


def fixture(name: str) -> Any:
    return json.loads((DATA / name).read_text())


@pytest.fixture
def fake() -> Iterator[FakeSquare]:
    square = FakeSquare(page_size=2)
    yield square
    square.stop()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def client_for(fake: FakeSquare, sleeps: list[float], **credentials: str) -> Client:
    connection = Connection(
        base_url=fake.url,
        credentials=credentials or fake.credentials,
        webhook_secret=fake.webhook_secret,
        webhook_url=fake.webhook_url,
    )
    return Client(connection, VendorHttp(backoff=0.0, sleep=sleeps.append))


@pytest.fixture
def client(fake: FakeSquare, sleeps: list[float]) -> Client:
    return client_for(fake, sleeps)


def pull(
    client: Client, cursor: str | None = None, since: datetime | None = None
) -> tuple[list, str]:
    """Every page of one sync run; the receipts and the cursor stored after the last page."""
    receipts: list = []
    for _ in range(50):
        page: Page = client.fetch_page(cursor, since)
        receipts += page.receipts
        cursor = page.cursor
        if not page.more:
            return receipts, cursor or ""
    raise AssertionError("the pull never ended")


def by_id(receipts: list) -> dict[str, VendorReceipt]:
    return {r.vendor_id: r for r in receipts if isinstance(r, VendorReceipt)}


def load_fixtures(fake: FakeSquare) -> None:
    catalog = fixture("catalog_batch_retrieve.json")
    fake.add_catalog(catalog["objects"] + catalog["related_objects"])
    fake.add_catalog(fixture("catalog_categories.json")["objects"])
    fake.location_ids.insert(0, fixture("sale_with_discount.json")["location_id"])
    for name in ("sale_with_discount.json", "return_order.json", "canceled_order.json"):
        fake.add_raw_order(fixture(name))
    fake.add_customer(fixture("customer.json")["customer"])


# --- mapping --------------------------------------------------------------------------------


def test_a_sale_maps_minor_units_discount_lines_skus_and_categories(fake, client):
    load_fixtures(fake)
    sale_id = fixture("sale_with_discount.json")["id"]
    [sale] = client.fetch_receipts([sale_id])
    assert sale.type == "sale"
    assert sale.vendor_id == sale_id
    assert not sale.voided
    assert (sale.total, sale.discount) == (Decimal("192.60"), Decimal("15.00"))
    assert sale.occurred_at == datetime(2026, 11, 2, 3, 15, 8, tzinfo=UTC)
    assert sale.store == "L8TJ2W9Q0KX3E"
    assert sale.device is None
    assert sale.customer_id == "JDKYHBWT1D4F8MFH63DBMEN8Y4"
    assert sale.phone is None
    assert sale.note == "MEMBER 4400-1234"  # the tender's note wins over a line's note
    latte, croissant, custom = sale.items
    assert (latte.sku, latte.name, latte.quantity, latte.unit_price, latte.category) == (
        "LATTE-REG",
        "Latte",
        Decimal(2),
        Decimal("65.00"),
        "Coffee",
    )
    assert (croissant.sku, croissant.category) == ("QW6OK5AZ2DEQVKGDYSQQFMBN", "Bakery")
    assert (custom.sku, custom.unit_price, custom.category) == (
        "mU3hQo0A8pJ2nT7cW4xYbD",
        Decimal("20.00"),
        "",
    )


def test_a_return_order_is_a_refund_of_its_sale_with_the_returned_amount(fake, client):
    load_fixtures(fake)
    [refund] = client.fetch_receipts([fixture("return_order.json")["id"]])
    assert refund.type == "refund"
    assert refund.refund_of == fixture("sale_with_discount.json")["id"]
    assert (refund.total, refund.discount) == (Decimal("64.20"), Decimal("5.00"))
    [line] = refund.items
    assert (line.sku, line.quantity, line.category) == ("LATTE-REG", Decimal(1), "Coffee")


def test_a_canceled_order_is_a_voided_sale(fake, client):
    load_fixtures(fake)
    [voided] = client.fetch_receipts([fixture("canceled_order.json")["id"]])
    assert voided.voided
    assert voided.type == "sale"
    assert voided.total == Decimal("67.50")
    assert voided.items[0].quantity == Decimal("1.5")


def test_a_zero_decimal_currency_is_not_divided(fake, client):
    order = fixture("canceled_order.json")
    text = json.dumps(order).replace('"THB"', '"JPY"')
    fake.location_ids.insert(0, order["location_id"])
    fake.add_raw_order(json.loads(text))
    [receipt] = client.fetch_receipts([order["id"]])
    assert receipt.total == Decimal(6750)
    assert receipt.items[0].unit_price == Decimal(4500)


def test_the_fake_builds_orders_in_the_fixtures_shape(fake):
    sale = fake.orders[fake.add_sale(fake.stores[0], [LATTE], T0, discount=Decimal(5))]
    refund = fake.orders[fake.add_refund(sale["id"], Decimal(20), T0)]
    assert set(sale) <= set(fixture("sale_with_discount.json"))
    assert set(sale["line_items"][0]) <= set(fixture("sale_with_discount.json")["line_items"][0])
    assert set(refund) <= set(fixture("return_order.json"))
    assert refund["total_money"]["amount"] == 0
    assert refund["return_amounts"]["total_money"]["amount"] == 2000


def test_an_unreadable_order_is_reported_and_the_rest_of_the_page_goes_on(fake, client):
    good = fake.add_sale(fake.stores[0], [LATTE], T0)
    bad = copy.deepcopy(fake.orders[good])
    bad["id"], bad["total_money"] = "BADORDER1", {"amount": "12.50", "currency": "THB"}
    fake.add_raw_order(bad)
    fake.page_size = 500
    page = client.fetch_page(None, None)
    assert {r.vendor_id for r in page.receipts} == {good, "BADORDER1"}
    [unreadable] = [r for r in page.receipts if isinstance(r, Unreadable)]
    assert unreadable.vendor_id == "BADORDER1"
    assert "total_money" in unreadable.reason


def test_catalog_lookups_are_cached_on_the_client(fake, client):
    for minute in range(3):
        fake.add_sale(fake.stores[0], [LATTE, BUN], T0 + timedelta(minutes=minute))
    pull(client)
    pull(client)
    assert len(fake.server.requests_to("/v2/catalog/batch-retrieve")) == 2  # variations, categories


# --- pulls ----------------------------------------------------------------------------------


def test_a_first_pull_reads_all_history_of_every_location_across_pages(fake, client):
    ids = {fake.add_sale(fake.stores[n % 2], [LATTE], T0 + timedelta(hours=n)) for n in range(5)}
    receipts, cursor = pull(client)
    assert set(by_id(receipts)) == ids
    searches = [json.loads(s.body) for s in fake.server.requests_to("/v2/orders/search")]
    assert len(searches) >= 3
    assert all(s["limit"] <= 500 for s in searches)
    assert "date_time_filter" not in searches[0]["query"]["filter"]
    assert searches[0]["query"]["sort"] == {"sort_field": "UPDATED_AT", "sort_order": "ASC"}
    assert set(searches[0]["query"]["filter"]["state_filter"]["states"]) == {
        "COMPLETED",
        "CANCELED",
    }
    assert json.loads(cursor)["since"] == "2026-11-01T13:00:00Z".replace("13:00", "12:55")


def test_more_than_ten_locations_are_searched_ten_at_a_time(sleeps):
    fake = FakeSquare(locations=12)
    try:
        first = fake.add_sale(fake.location_ids[0], [LATTE], T0)
        last = fake.add_sale(fake.location_ids[11], [LATTE], T0)
        receipts, _ = pull(client_for(fake, sleeps))
        assert set(by_id(receipts)) == {first, last}
        searches = [json.loads(s.body) for s in fake.server.requests_to("/v2/orders/search")]
        assert [len(s["location_ids"]) for s in searches] == [10, 2]
    finally:
        fake.stop()


def test_an_incremental_pull_sees_new_edited_voided_and_refunded_orders(fake, client):
    old, edited, voided, refunded = (
        fake.add_sale(fake.stores[0], [LATTE], T0 + timedelta(hours=n)) for n in range(4)
    )
    _, cursor = pull(client)
    later = T0 + timedelta(days=1)
    new = fake.add_sale(fake.stores[1], [BUN], later)
    fake.edit_total(edited, Decimal("99.00"), later)
    fake.void(voided, later)
    refund = fake.add_refund(refunded, Decimal("30.00"), later)
    receipts, cursor = pull(client, cursor)
    seen = by_id(receipts)
    assert {new, edited, voided, refund} <= set(seen) <= {new, edited, voided, refund, refunded}
    assert seen[edited].total == Decimal("99.00")
    assert seen[voided].voided
    assert seen[refund].refund_of == refunded
    assert seen[refund].total == Decimal("30.00")
    assert old not in seen  # only the last update before the cursor replays (the overlap)
    receipts, _ = pull(client, cursor)
    assert set(by_id(receipts)) <= {new, edited, voided, refund}


def test_since_backfills_from_that_time(fake, client):
    fake.add_sale(fake.stores[0], [LATTE], T0)
    recent = fake.add_sale(fake.stores[1], [LATTE], T0 + timedelta(days=2))
    receipts, _ = pull(client, since=T0 + timedelta(days=1))
    assert set(by_id(receipts)) == {recent}
    first = json.loads(fake.server.requests_to("/v2/orders/search")[0].body)
    assert first["query"]["filter"]["date_time_filter"] == {
        "updated_at": {"start_at": "2026-11-02T09:00:00Z"}
    }


def test_a_stale_page_token_restarts_the_window(fake, client):
    ids = {fake.add_sale(fake.stores[0], [LATTE], T0 + timedelta(minutes=n)) for n in range(5)}
    page = client.fetch_page(None, None)
    assert page.more
    fake.expire_cursors()
    receipts, _ = pull(client, page.cursor)
    assert set(by_id(receipts)) == ids


def test_the_fake_refuses_a_time_filter_on_another_field_than_the_sort(fake):
    body = {
        "location_ids": [fake.stores[0]],
        "query": {
            "filter": {"date_time_filter": {"created_at": {"start_at": "2026-01-01T00:00:00Z"}}},
            "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"},
        },
    }
    headers = {"Authorization": f"Bearer {fake.credentials['access_token']}"}
    answer = requests.post(f"{fake.url}/v2/orders/search", json=body, headers=headers, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["category"] == "INVALID_REQUEST_ERROR"


# --- failures -------------------------------------------------------------------------------


def test_a_wrong_token_raises_vendor_auth_error(fake, sleeps):
    with pytest.raises(VendorAuthError, match="UNAUTHORIZED"):
        client_for(fake, sleeps, access_token="wrong").fetch_page(None, None)
    assert sleeps == []


def test_a_rate_limit_waits_the_retry_after_then_succeeds(fake, client, sleeps):
    sale = fake.add_sale(fake.stores[0], [LATTE], T0)
    fake.rate_limit_next(1, retry_after="3")
    receipts, _ = pull(client)
    assert set(by_id(receipts)) == {sale}
    assert sleeps == [3.0]


def test_server_errors_are_retried_then_succeed(fake, client, sleeps):
    sale = fake.add_sale(fake.stores[0], [LATTE], T0)
    fake.fail_next(2, 503)
    receipts, _ = pull(client)
    assert set(by_id(receipts)) == {sale}
    assert len(sleeps) == 2


def test_a_persistent_outage_raises_vendor_error(fake, client):
    fake.fail_next(10, 500)
    with pytest.raises(VendorError, match="gave up") as raised:
        client.fetch_page(None, None)
    assert not isinstance(raised.value, VendorAuthError)


# --- customers ------------------------------------------------------------------------------


def test_a_customer_is_read_by_id(fake, client):
    sale = fake.add_sale(fake.stores[0], [LATTE], T0, shopper=Shopper("+66811112222", "a@b.co"))
    [receipt] = client.fetch_receipts([sale])
    found = client.customer(receipt.customer_id)
    assert (found.phone, found.email) == ("+66811112222", "a@b.co")
    assert client.customer("NOSUCHCUSTOMER") is None


def test_an_open_order_is_not_a_receipt_yet(fake, client):
    sale = fake.add_sale(fake.stores[0], [LATTE], T0)
    fake.orders[sale]["state"] = "OPEN"
    assert client.fetch_receipts([sale]) == []


# --- webhooks -------------------------------------------------------------------------------


def test_a_signed_webhook_is_accepted_in_any_header_case(fake, client):
    sale = fake.add_sale(fake.stores[0], [LATTE], T0)
    hook = fake.webhook_for([sale])
    assert client.verify_webhook(hook.headers, hook.body, {})
    upper = {k.upper(): v for k, v in hook.headers.items()}
    assert client.verify_webhook(upper, hook.body, {})


def test_forged_missing_or_misaddressed_signatures_are_rejected(fake, client, sleeps):
    sale = fake.add_sale(fake.stores[0], [LATTE], T0)
    forged = fake.webhook_for([sale], secret="not-the-secret")
    assert not client.verify_webhook(forged.headers, forged.body, {})
    good = fake.webhook_for([sale])
    assert not client.verify_webhook({"Content-Type": "application/json"}, good.body, {})
    assert not client.verify_webhook(good.headers, good.body + b" ", {})
    fake.set_webhook_url("https://elsewhere.example/hook")
    moved = fake.webhook_for([sale])
    assert not client.verify_webhook(moved.headers, moved.body, {})


def test_a_payment_or_order_event_names_its_order(fake, client):
    sale = fake.add_sale(fake.stores[0], [LATTE], T0)
    event = client.read_webhook({}, fake.webhook_for([sale]).body)
    assert event.receipt_ids == [sale]
    assert event.event_id
    fake.void(sale, T0 + timedelta(hours=1))
    assert client.read_webhook({}, fake.webhook_for([sale]).body).receipt_ids == [sale]


@pytest.mark.parametrize("names_return_order", [True, False])
def test_a_refund_event_leads_to_its_return_order(fake, client, names_return_order):
    sale = fake.add_sale(fake.stores[0], [LATTE], T0)
    refund = fake.add_refund(sale, Decimal("10.00"), T0 + timedelta(hours=1))
    fake.refund_names_return_order = names_return_order
    event = client.read_webhook({}, fake.webhook_for([refund]).body)
    assert event.receipt_ids == [refund]
    [receipt] = client.fetch_receipts(event.receipt_ids)
    assert receipt.type == "refund"
    assert receipt.refund_of == sale


def test_the_documented_webhook_bodies_are_read(fake, client):
    load_fixtures(fake)
    for name, order in (
        ("webhook_payment_created.json", "sale_with_discount.json"),
        ("webhook_order_updated.json", "canceled_order.json"),
        ("webhook_refund_created.json", "return_order.json"),
    ):
        event = client.read_webhook({}, (DATA / name).read_bytes())
        assert event.receipt_ids == [fixture(order)["id"]]
        assert event.event_id == fixture(name)["event_id"]


def test_an_event_of_no_interest_is_empty_and_junk_is_refused(client):
    body = json.dumps({"type": "customer.created", "event_id": "e1", "data": {"type": "customer"}})
    assert client.read_webhook({}, body.encode()).receipt_ids == []
    with pytest.raises(ValueError, match="JSON"):
        client.read_webhook({}, b"not json")
    with pytest.raises(ValueError, match="event type"):
        client.read_webhook({}, b"[]")

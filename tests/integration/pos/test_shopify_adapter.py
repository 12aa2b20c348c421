"""The Shopify adapter against the fake Admin REST API: mapping, pulls, errors, webhooks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from pos_adapters.vendor import Connection, Customer, Page, Unreadable, VendorReceipt
from pos_adapters.vendor_http import VendorAuthError, VendorError, VendorHttp
from pos_adapters.vendors.shopify import API_VERSION, PLACEHOLDER_URL, Client, map_order
from tests.fakes.shopify import FakeShopify
from tests.fakes.vendor import Line, Shopper

DATA = Path(__file__).resolve().parents[2] / "data" / "pos" / "shopify"
T0 = datetime(2025, 3, 1, 3, 0, tzinfo=UTC)
COFFEE = Line("COF-1", "Iced Latte", 2, Decimal("85.00"), "Coffee")
CAKE = Line("BAK-1", "Croissant", 1, Decimal("65.00"), "Bakery")


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    vendor = FakeShopify()
    yield vendor
    vendor.stop()


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def client(fake: FakeShopify, slept: list[float]) -> Client:
    return make_client(fake, slept, fake.credentials)


def make_client(fake: FakeShopify, slept: list[float], credentials: dict[str, str]) -> Client:
    connection = Connection(fake.url, credentials, webhook_secret=fake.webhook_secret)
    return Client(connection, VendorHttp(backoff=0.0, sleep=slept.append))


def fixture(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def pull(client: Client, cursor: str | None = None, since: datetime | None = None) -> tuple:
    """Every page of one sync: (receipts, last cursor, pages)."""
    receipts: list = []
    pages = 0
    while True:
        page: Page = client.fetch_page(cursor, since)
        receipts += page.receipts
        cursor, pages = page.cursor, pages + 1
        if not page.more:
            return receipts, cursor, pages


def ids(receipts: list) -> list[str]:
    return [r.vendor_id for r in receipts]


# --- mapping of the documented shapes ------------------------------------------------------


def test_a_sale_maps_money_discount_lines_store_device_customer_and_note() -> None:
    [sale] = map_order(fixture("order_sale.json")["order"], {"632910392": "Coffee"})
    assert sale.vendor_id == "450789469"
    assert (sale.type, sale.total, sale.discount) == ("sale", Decimal("225.00"), Decimal("20.00"))
    assert sale.occurred_at == datetime(2025, 3, 14, 2, 30, 12, tzinfo=UTC)
    assert (sale.store, sale.device, sale.note) == ("61000000001", "1001", "member 0812345678")
    assert (sale.customer_id, sale.phone, sale.email) == (
        "207119551",
        "+66812345678",
        "somchai@example.com",
    )
    latte, croissant, wrap = sale.items
    assert (latte.sku, latte.quantity, latte.unit_price, latte.category) == (
        "COF-LATTE-M",
        Decimal(2),
        Decimal("85.00"),
        "Coffee",
    )
    assert croissant.category == ""
    assert wrap.sku == "457924702"  # no SKU: the variant id
    assert not sale.voided


def test_a_refund_is_its_own_receipt_linked_to_the_sale_and_leaves_the_sale_unchanged() -> None:
    original = map_order(fixture("order_sale.json")["order"], {})
    sale, refund = map_order(fixture("order_refunded.json")["order"], {})
    assert sale == original[0]
    assert refund.vendor_id == "450789469-r509562969"
    assert (refund.type, refund.refund_of, refund.total) == ("refund", "450789469", Decimal("65"))
    assert refund.occurred_at == datetime(2025, 3, 15, 7, 2, 40, tzinfo=UTC)
    assert [(i.sku, i.quantity, i.unit_price) for i in refund.items] == [
        ("BAK-CROISSANT", Decimal(1), Decimal("65.00"))
    ]
    assert (refund.device, refund.note, refund.customer_id) == (
        "1002",
        "stale croissant",
        "207119551",
    )


def test_a_refund_without_transactions_counts_its_lines_subtotal_and_tax() -> None:
    order = fixture("order_refunded.json")["order"]
    order["refunds"][0]["transactions"] = []
    assert map_order(order, {})[1].total == Decimal("65.00")


def test_a_cancelled_order_is_a_voided_sale() -> None:
    [sale] = map_order(fixture("order_cancelled.json")["order"], {})
    assert sale.voided
    assert sale.total == Decimal("225.00")


def test_a_list_page_and_the_webhook_bodies_map() -> None:
    mapped = [r for o in fixture("orders_page.json")["orders"] for r in map_order(o, {})]
    assert ids(mapped) == ["450789469", "450789469-r509562969", "450789470"]
    assert all(isinstance(r, VendorReceipt) for r in mapped)


def test_the_fake_builds_orders_in_the_documented_shape(fake: FakeShopify) -> None:
    order = fake.orders[int(fake.add_sale(fake.stores[0], [COFFEE], T0, Shopper("+661", None)))]
    documented = fixture("order_sale.json")["order"]
    assert set(order) == set(documented)
    assert set(order["line_items"][0]) == set(documented["line_items"][0])
    fake.add_refund(str(order["id"]), Decimal("10"), T0)
    assert set(order["refunds"][0]) == set(fixture("webhook_refunds_create.json"))


def test_a_bad_amount_is_unreadable_and_the_rest_of_the_page_comes(
    fake: FakeShopify, client: Client
) -> None:
    good = fake.add_sale(fake.stores[0], [COFFEE], T0)
    bad = fake.add_sale(fake.stores[0], [CAKE], T0)
    fake.orders[int(bad)]["total_price_set"]["shop_money"]["amount"] = "12,50"
    receipts, _, _ = pull(client)
    [unreadable] = [r for r in receipts if isinstance(r, Unreadable)]
    assert unreadable.vendor_id == bad
    assert "amount" in unreadable.reason
    assert good in ids(receipts)


# --- pulls ---------------------------------------------------------------------------------


def test_a_first_pull_reads_all_history_over_several_pages(
    fake: FakeShopify, client: Client
) -> None:
    sales = [
        fake.add_sale(fake.stores[i % 2], [COFFEE], T0 + timedelta(minutes=i)) for i in range(260)
    ]
    receipts, cursor, pages = pull(client)
    assert pages == 2
    assert sorted(ids(receipts)) == sorted(sales)
    first = fake.server.requests_to("/orders.json")[0].query
    assert first == {"status": "any", "limit": "250"}  # no window: the beginning
    second = fake.server.requests_to("/orders.json")[1].query
    assert set(second) == {"limit", "page_info"}
    assert {r.category for r in receipts for r in r.items} == {"Coffee"}
    assert len(fake.server.requests_to("/products.json")) == 1  # cached after the first page


def test_an_incremental_pull_sees_new_edited_voided_and_refunded_orders(
    fake: FakeShopify, client: Client
) -> None:
    old = [fake.add_sale(fake.stores[0], [COFFEE], T0 + timedelta(hours=i)) for i in range(4)]
    _, cursor, _ = pull(client)
    later = T0 + timedelta(days=1)
    new = fake.add_sale(fake.stores[1], [CAKE], later)
    fake.edit_total(old[0], Decimal("99"), later)
    fake.void(old[1], later)
    refund = fake.add_refund(old[2], Decimal("20"), later)
    receipts, _, _ = pull(client, cursor)
    query = fake.server.requests_to("/orders.json")[-1].query
    assert query["updated_at_min"] == (T0 + timedelta(hours=3) - timedelta(minutes=5)).isoformat()
    by_id = {r.vendor_id: r for r in receipts}
    assert old[3] in by_id  # inside the overlap: a harmless replay
    assert by_id[new].store == fake.stores[1]
    assert by_id[old[0]].total == Decimal("99.00")
    assert by_id[old[1]].voided
    assert by_id[refund].refund_of == old[2]
    assert by_id[refund].total == Decimal("20.00")
    assert by_id[old[2]].total == Decimal("170.00")  # the sale itself is unchanged


def test_a_pull_with_nothing_new_keeps_its_mark(fake: FakeShopify, client: Client) -> None:
    fake.add_sale(fake.stores[0], [COFFEE], T0)
    _, cursor, _ = pull(client)
    _, again, _ = pull(client, cursor)
    _, third, _ = pull(client, again)
    assert json.loads(third)["start"] == json.loads(again)["start"]


def test_since_backfills_from_that_time(fake: FakeShopify, client: Client) -> None:
    fake.add_sale(fake.stores[0], [COFFEE], T0)
    recent = fake.add_sale(fake.stores[0], [COFFEE], T0 + timedelta(days=10))
    receipts, _, _ = pull(client, since=T0 + timedelta(days=5))
    assert ids(receipts) == [recent]
    sent = fake.server.requests_to("/orders.json")[0].query["updated_at_min"]
    assert sent == "2025-03-06T03:00:00+00:00"


def test_a_stale_page_token_restarts_the_window(fake: FakeShopify, client: Client) -> None:
    sales = [fake.add_sale(fake.stores[0], [COFFEE], T0 + timedelta(minutes=i)) for i in range(251)]
    page = client.fetch_page(None, None)
    assert page.more
    fake.expire_page_tokens()
    receipts, _, _ = pull(client, page.cursor)
    assert sorted(ids(page.receipts + receipts)) == sorted(sales + sales[1:])  # newest first, twice
    statuses = [s.query.get("page_info") is not None for s in fake.server.requests_to("orders")]
    assert statuses == [False, True, False, True]


def test_fetch_receipts_returns_the_orders_sale_and_refunds(
    fake: FakeShopify, client: Client
) -> None:
    sale = fake.add_sale(fake.stores[0], [COFFEE], T0)
    refund = fake.add_refund(sale, Decimal("85"), T0 + timedelta(hours=1))
    assert ids(client.fetch_receipts([refund])) == [sale, refund]


def test_the_customer_is_looked_up(fake: FakeShopify, client: Client) -> None:
    sale = fake.add_sale(fake.stores[0], [COFFEE], T0, Shopper("+66811111111", "a@example.com"))
    customer_id = fake.orders[int(sale)]["customer"]["id"]
    assert client.customer(str(customer_id)) == Customer("+66811111111", "a@example.com")
    assert client.customer("1") is None


def test_the_placeholder_url_becomes_the_shops_host() -> None:
    connection = Connection(PLACEHOLDER_URL, {"shop": "my-shop", "access_token": "x"})
    client = Client(connection, VendorHttp())
    assert client.rest.base == f"https://my-shop.myshopify.com/admin/api/{API_VERSION}"


# --- errors --------------------------------------------------------------------------------


def test_a_wrong_token_raises_vendor_auth_error(fake: FakeShopify, slept: list[float]) -> None:
    client = make_client(fake, slept, {"shop": fake.shop, "access_token": "wrong"})
    with pytest.raises(VendorAuthError, match="Invalid API key or access token"):
        client.fetch_page(None, None)


def test_a_429_waits_its_retry_after_then_succeeds(
    fake: FakeShopify, client: Client, slept: list[float]
) -> None:
    sale = fake.add_sale(fake.stores[0], [COFFEE], T0)
    fake.rate_limit_next(1, "2.0")
    assert sale in ids(client.fetch_page(None, None).receipts)
    assert slept == [2.0]


def test_a_5xx_is_retried_then_succeeds(
    fake: FakeShopify, client: Client, slept: list[float]
) -> None:
    sale = fake.add_sale(fake.stores[0], [COFFEE], T0)
    fake.fail_next(2, 503)
    assert sale in ids(client.fetch_page(None, None).receipts)
    assert len(slept) == 2


def test_a_persistent_outage_raises_vendor_error(fake: FakeShopify, client: Client) -> None:
    fake.fail_next(10, 500)
    with pytest.raises(VendorError, match="gave up"):
        client.fetch_page(None, None)


def test_the_fake_refuses_filters_next_to_page_info(fake: FakeShopify, client: Client) -> None:
    response = client.rest.get("orders.json", {"page_info": "x", "status": "any"})
    assert response.status_code == 400
    assert "status cannot be passed when page_info is present" in response.text


# --- webhooks ------------------------------------------------------------------------------


def test_a_signed_order_webhook_is_accepted_and_carries_the_receipt(
    fake: FakeShopify, client: Client
) -> None:
    sale = fake.add_sale(fake.stores[0], [COFFEE], T0, note="card 1234")
    hook = fake.webhook_for([sale])
    headers = {k.lower(): v for k, v in hook.headers.items()}
    assert client.verify_webhook(headers, hook.body, {})
    event = client.read_webhook(headers, hook.body)
    assert event.event_id == hook.headers["X-Shopify-Event-Id"]
    assert [(r.vendor_id, r.note) for r in event.receipts] == [(sale, "card 1234")]


def test_a_refund_webhook_names_its_order(fake: FakeShopify, client: Client) -> None:
    sale = fake.add_sale(fake.stores[0], [COFFEE], T0)
    hook = fake.webhook_for([fake.add_refund(sale, Decimal("10"), T0)])
    assert client.verify_webhook(hook.headers, hook.body, {})
    assert client.read_webhook(hook.headers, hook.body).receipt_ids == [sale]


def test_forged_or_unsigned_webhooks_are_rejected(fake: FakeShopify, client: Client) -> None:
    sale = fake.add_sale(fake.stores[0], [COFFEE], T0)
    forged = fake.webhook_for([sale], secret="not-the-secret")
    assert not client.verify_webhook(forged.headers, forged.body, {})
    good = fake.webhook_for([sale])
    assert not client.verify_webhook(good.headers, good.body + b" ", {})
    unsigned = {k: v for k, v in good.headers.items() if k != "X-Shopify-Hmac-Sha256"}
    assert not client.verify_webhook(unsigned, good.body, {})


def test_other_topics_are_empty_and_junk_is_a_value_error(client: Client) -> None:
    assert client.read_webhook({"X-Shopify-Topic": "products/update"}, b"{}").receipts == []
    with pytest.raises(ValueError, match="not JSON"):
        client.read_webhook({"X-Shopify-Topic": "orders/create"}, b"<html>")

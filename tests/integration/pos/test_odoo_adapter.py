"""The Odoo adapter against the fake Odoo JSON-RPC server: mapping of Odoo's payload shapes,
pulls by write_date, retries and errors, customers and the automation-rule webhook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pos_adapters.vendor import Connection, Page, Unreadable, VendorReceipt, vendor_class
from pos_adapters.vendor_http import VendorAuthError, VendorError, VendorHttp
from pos_adapters.vendors.odoo import Client
from tests.fakes.odoo import FakeOdoo
from tests.fakes.vendor import Line, Shopper

DATA = Path(__file__).parents[2] / "data" / "pos" / "odoo"
T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
LATTE = Line("COF-LAT", "Iced Latte", 2, Decimal("65"), "Coffee")
WATER = Line("", "Water", 1, Decimal("10"))


def fixture(name: str) -> Any:
    return json.loads((DATA / name).read_text())


@pytest.fixture(params=[18, 16], ids=["odoo18", "odoo16"])
def odoo(request: pytest.FixtureRequest) -> Iterator[FakeOdoo]:
    fake = FakeOdoo(version=request.param)
    yield fake
    fake.stop()


@pytest.fixture
def odoo18() -> Iterator[FakeOdoo]:
    fake = FakeOdoo(version=18)
    yield fake
    fake.stop()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def client(fake: FakeOdoo, sleeps: list[float], page_size: int = 100, **creds: str) -> Client:
    http = VendorHttp(backoff=0.0, sleep=sleeps.append)
    connection = Connection(
        fake.url, {**fake.credentials, **creds}, webhook_secret=fake.webhook_secret
    )
    adapter = Client(connection, http)
    adapter.page_size = page_size
    return adapter


def seeded(fake: FakeOdoo) -> FakeOdoo:
    for model, name in [
        ("product.product", "product_product_search_read.json"),
        ("res.partner", "res_partner_search_read.json"),
        ("pos.order", "pos_order_search_read.json"),
        ("pos.order.line", "pos_order_line_search_read.json"),
    ]:
        fake.seed(model, fixture(name)["result"])
    return fake


def pull(adapter: Client, cursor: str | None = None, since: datetime | None = None) -> list[Page]:
    pages = [adapter.fetch_page(cursor, since)]
    while pages[-1].more:
        pages.append(adapter.fetch_page(pages[-1].cursor, None))
    return pages


def receipts(pages: list[Page]) -> list[VendorReceipt]:
    return [r for page in pages for r in page.receipts if isinstance(r, VendorReceipt)]


def calls(fake: FakeOdoo, model: str) -> int:
    bodies = [json.loads(seen.body) for seen in fake.server.requests_to("/jsonrpc")]
    return sum(1 for b in bodies if b["params"]["args"][3:4] == [model])


# --- mapping of Odoo's payloads ------------------------------------------------------------


def test_the_adapter_is_registered_as_odoo() -> None:
    assert vendor_class("odoo") is Client
    assert Client.default_url == ""
    assert Client.credential_fields == ("database", "username", "api_key")


def test_a_sale_maps_total_discount_lines_customer_and_note(odoo18, sleeps) -> None:
    [sale] = client(seeded(odoo18), sleeps).fetch_receipts(["41"])
    assert isinstance(sale, VendorReceipt)
    assert (sale.vendor_id, sale.type, sale.voided) == ("41", "sale", False)
    assert sale.occurred_at == datetime(2026, 11, 20, 3, 15, 42, tzinfo=UTC)
    assert sale.total == Decimal("182.00")
    assert sale.discount == Decimal("33.00")  # 10 % of 130 on the latte + a 20 baht line
    assert (sale.store, sale.device) == ("1", None)
    assert (sale.customer_id, sale.phone) == ("7", "+66 81 234 5678")
    assert sale.email == "somchai@example.com"
    assert sale.note == "member M-000123"
    assert [(i.sku, i.name, i.quantity, i.unit_price, i.category) for i in sale.items] == [
        ("COF-LAT", "Iced Latte", Decimal("2.000"), Decimal("65.00"), "Coffee"),
        ("BAK-CRO", "Butter Croissant", Decimal("1.000"), Decimal("55.00"), "Bakery"),
        ("13", "Drinking Water 600 ml", Decimal("3.000"), Decimal("10.00"), "Drinks"),
    ]


def test_a_refund_is_positive_and_names_its_sale(odoo18, sleeps) -> None:
    [refund] = client(seeded(odoo18), sleeps).fetch_receipts(["42"])
    assert isinstance(refund, VendorReceipt)
    assert (refund.type, refund.refund_of) == ("refund", "41")
    assert (refund.total, refund.discount) == (Decimal("58.50"), Decimal("6.50"))
    assert [(i.sku, i.quantity) for i in refund.items] == [("COF-LAT", Decimal("1.000"))]


def test_a_cancelled_order_is_a_voided_sale(odoo18, sleeps) -> None:
    [cancelled] = client(seeded(odoo18), sleeps).fetch_receipts(["43"])
    assert isinstance(cancelled, VendorReceipt)
    assert (cancelled.type, cancelled.voided, cancelled.store) == ("sale", True, "2")
    assert (cancelled.customer_id, cancelled.note, cancelled.phone) == (None, None, None)


def test_a_refund_finds_its_sale_through_the_refunded_line_in_each_version(odoo, sleeps):
    sale = odoo.add_sale(odoo.stores[0], [LATTE, WATER], T0, note="card 1234")
    refund = odoo.add_refund(sale, Decimal("65"), T0 + timedelta(hours=1))
    adapter = client(odoo, sleeps)
    mapped = {r.vendor_id: r for r in receipts(pull(adapter))}
    assert mapped[refund].refund_of == sale
    assert (mapped[refund].total, mapped[refund].type) == (Decimal("65.00"), "refund")
    assert mapped[sale].note == "card 1234"
    assert mapped[sale].total == Decimal("140.00")
    assert [i.sku for i in mapped[sale].items] == ["COF-LAT", mapped[sale].items[1].sku]
    assert mapped[sale].items[1].sku.isdigit()  # no default_code: the product id


def test_a_discount_given_to_the_fake_is_the_receipts_discount(odoo, sleeps) -> None:
    sale = odoo.add_sale(odoo.stores[1], [LATTE], T0, discount=Decimal("15"))
    [receipt] = client(odoo, sleeps).fetch_receipts([sale])
    assert (receipt.total, receipt.discount, receipt.store) == (
        Decimal("115.00"),
        Decimal("15.00"),
        odoo.stores[1],
    )
    assert [i.sku for i in receipt.items] == ["COF-LAT"]


def test_products_are_read_once_per_page_and_cached(odoo18, sleeps) -> None:
    for minute in range(4):
        odoo18.add_sale("1", [LATTE, WATER], T0 + timedelta(minutes=minute))
    pages = pull(client(odoo18, sleeps, page_size=2))
    assert len(receipts(pages)) == 4
    assert calls(odoo18, "product.product") == 2  # fields_get + one read for both products


# --- pulls ---------------------------------------------------------------------------------


def test_a_first_pull_reads_every_order_across_pages(odoo, sleeps) -> None:
    ids = [odoo.add_sale("1", [LATTE], T0 + timedelta(minutes=m)) for m in range(7)]
    pages = pull(client(odoo, sleeps, page_size=3))
    assert [page.more for page in pages] == [True, True, False]
    assert [r.vendor_id for r in receipts(pages)] == ids


def test_after_the_last_page_the_cursor_rewinds_a_few_minutes(odoo18, sleeps) -> None:
    odoo18.add_sale("1", [LATTE], T0)
    [page] = pull(client(odoo18, sleeps))
    assert json.loads(page.cursor) == {"after": "2026-11-20 02:55:00", "skip": 0}


def test_an_incremental_pull_sees_new_orders_and_replays_only_the_overlap(odoo, sleeps):
    day_old = odoo.add_sale("1", [LATTE], T0 - timedelta(days=1))
    last = odoo.add_sale("1", [LATTE], T0)
    adapter = client(odoo, sleeps)
    cursor = pull(adapter)[-1].cursor
    new = odoo.add_sale("2", [WATER], T0 + timedelta(hours=2))
    seen = [r.vendor_id for r in receipts(pull(adapter, cursor))]
    assert seen == [last, new]  # `last` is within the five minutes re-read
    assert day_old not in seen


def test_an_edit_a_cancel_and_a_refund_are_seen_again(odoo, sleeps) -> None:
    edited, voided, refunded = (odoo.add_sale("1", [LATTE], T0) for _ in range(3))
    adapter = client(odoo, sleeps)
    cursor = pull(adapter)[-1].cursor
    later = T0 + timedelta(days=1)
    odoo.edit_total(edited, Decimal("99.5"), later)
    odoo.void(voided, later)
    refund = odoo.add_refund(refunded, Decimal("65"), later)
    seen = {r.vendor_id: r for r in receipts(pull(adapter, cursor))}
    assert {edited, voided, refund} <= set(seen)
    assert seen[edited].total == Decimal("99.50")
    assert seen[voided].voided
    assert seen[refund].refund_of == refunded


def test_since_backfills_from_that_moment(odoo18, sleeps) -> None:
    odoo18.add_sale("1", [LATTE], T0 - timedelta(days=10))
    recent = [odoo18.add_sale("1", [LATTE], T0 + timedelta(days=d)) for d in (0, 1)]
    pages = pull(client(odoo18, sleeps), since=T0 - timedelta(hours=1))
    assert [r.vendor_id for r in receipts(pages)] == recent


def test_orders_written_in_one_second_across_a_page_boundary_are_all_read(odoo, sleeps):
    second = [T0 + timedelta(microseconds=us) for us in (0, 0, 250, 999_000, 999_999)]
    ids = [odoo.add_sale("1", [LATTE], at) for at in second]
    ids.append(odoo.add_sale("1", [LATTE], T0 + timedelta(seconds=1)))
    pages = pull(client(odoo, sleeps, page_size=2))
    seen = [r.vendor_id for r in receipts(pages)]
    assert sorted(seen, key=int) == ids
    assert len(seen) == len(set(seen))


def test_draft_orders_are_not_receipts_yet(odoo18, sleeps) -> None:
    paid = odoo18.add_sale("1", [LATTE], T0)
    draft = odoo18.add_draft("1", T0)
    adapter = client(odoo18, sleeps)
    assert [r.vendor_id for r in receipts(pull(adapter))] == [paid]
    assert adapter.fetch_receipts([draft]) == []


def test_an_unreadable_order_is_rejected_and_the_page_goes_on(odoo18, sleeps) -> None:
    ids = [odoo18.add_sale("1", [LATTE], T0 + timedelta(minutes=m)) for m in range(4)]
    odoo18.corrupt(ids[1], amount_total=False)
    odoo18.corrupt(ids[2], date_order=None)
    page = client(odoo18, sleeps).fetch_page(None, None)
    bad = [r for r in page.receipts if isinstance(r, Unreadable)]
    assert [u.vendor_id for u in bad] == ids[1:3]
    assert [r.vendor_id for r in receipts([page])] == [ids[0], ids[3]]


def test_a_bad_order_id_given_to_fetch_receipts_is_unreadable(odoo18, sleeps) -> None:
    [bad] = client(odoo18, sleeps).fetch_receipts(["not-an-id"])
    assert bad == Unreadable("not-an-id", "not an Odoo order id")


# --- errors and retries --------------------------------------------------------------------


@pytest.mark.parametrize(
    "creds", [{"api_key": "wrong"}, {"username": "nobody"}, {"database": "other"}]
)
def test_bad_credentials_raise_an_auth_error(odoo18, sleeps, creds) -> None:
    with pytest.raises(VendorAuthError):
        client(odoo18, sleeps, **creds).fetch_page(None, None)


def test_an_access_denied_envelope_is_an_auth_error(odoo18, sleeps) -> None:
    adapter = client(odoo18, sleeps)
    adapter.fetch_page(None, None)
    odoo18.server.fail_next(1, 200, fixture("error_access_denied.json"))
    with pytest.raises(VendorAuthError, match="Access Denied"):
        adapter.fetch_page(None, None)


def test_another_server_error_is_a_vendor_error(odoo18, sleeps) -> None:
    odoo18.add_sale("1", [LATTE], T0)
    adapter = client(odoo18, sleeps)
    adapter.fetch_page(None, None)
    del odoo18.schema["pos.order"]["write_date"]  # Odoo answers "Invalid field"
    with pytest.raises(VendorError, match="ValueError") as raised:
        adapter.fetch_page(None, T0)
    assert not isinstance(raised.value, VendorAuthError)


def test_a_missing_base_url_is_a_clear_error(odoo18, sleeps) -> None:
    adapter = Client(Connection("", odoo18.credentials), VendorHttp(sleep=sleeps.append))
    with pytest.raises(VendorError, match="base_url"):
        adapter.fetch_page(None, None)


def test_a_429_waits_its_retry_after_then_succeeds(odoo18, sleeps) -> None:
    sale = odoo18.add_sale("1", [LATTE], T0)
    odoo18.rate_limit_next(2, retry_after="3")
    assert [r.vendor_id for r in receipts(pull(client(odoo18, sleeps)))] == [sale]
    assert sleeps == [3.0, 3.0]


def test_a_5xx_is_retried_then_succeeds(odoo18, sleeps) -> None:
    sale = odoo18.add_sale("1", [LATTE], T0)
    odoo18.fail_next(2, 502)
    assert [r.vendor_id for r in receipts(pull(client(odoo18, sleeps)))] == [sale]
    assert len(sleeps) == 2


def test_a_lasting_outage_is_a_vendor_error(odoo18, sleeps) -> None:
    odoo18.fail_next(20, 503)
    with pytest.raises(VendorError, match="503") as raised:
        client(odoo18, sleeps).fetch_page(None, None)
    assert not isinstance(raised.value, VendorAuthError)


# --- customers and webhooks ----------------------------------------------------------------


def test_a_customer_is_read_from_res_partner(odoo, sleeps) -> None:
    sale = odoo.add_sale("1", [LATTE], T0, shopper=Shopper("0812345678", "a@example.com"))
    adapter = client(odoo, sleeps)
    [receipt] = adapter.fetch_receipts([sale])
    found = adapter.customer(receipt.customer_id)
    assert (found.phone, found.email) == ("0812345678", "a@example.com")
    assert adapter.customer("9999") is None
    assert adapter.customer("x") is None


def test_the_fixture_partner_prefers_mobile(odoo18, sleeps) -> None:
    found = client(seeded(odoo18), sleeps).customer("7")
    assert (found.phone, found.email) == ("+66 81 234 5678", "somchai@example.com")


def test_a_webhook_with_the_right_token_is_accepted_and_names_the_order(odoo18, sleeps):
    sale = odoo18.add_sale("1", [LATTE], T0)
    delivery = odoo18.webhook_for([sale])
    adapter = client(odoo18, sleeps)
    query = dict([delivery.query.lstrip("?").split("=", 1)])
    assert adapter.verify_webhook(delivery.headers, delivery.body, query)
    event = adapter.read_webhook(delivery.headers, delivery.body)
    assert event.receipt_ids == [sale]
    assert [r.vendor_id for r in adapter.fetch_receipts(event.receipt_ids)] == [sale]


@pytest.mark.parametrize("query", [{"token": "wrong"}, {"token": ""}, {}])
def test_a_webhook_without_the_right_token_is_rejected(odoo18, sleeps, query) -> None:
    assert not client(odoo18, sleeps).verify_webhook({}, b"{}", query)


def test_no_webhook_secret_rejects_every_delivery(odoo18, sleeps) -> None:
    adapter = Client(Connection(odoo18.url, odoo18.credentials), VendorHttp())
    assert not adapter.verify_webhook({}, b"{}", {"token": ""})


def test_the_fixture_webhook_body_gives_the_order_id(odoo18, sleeps) -> None:
    body = (DATA / "automation_webhook.json").read_bytes()
    assert client(odoo18, sleeps).read_webhook({}, body).receipt_ids == ["41"]


def test_a_webhook_of_another_model_is_empty_and_junk_is_refused(odoo18, sleeps) -> None:
    adapter = client(odoo18, sleeps)
    other = json.dumps({"_model": "res.partner", "_id": 7, "_action": "x(#1)"}).encode()
    assert adapter.read_webhook({}, other).receipt_ids == []
    for junk in (b"not json", b"[1]", b'{"_id": 3}'):
        with pytest.raises(ValueError, match="Odoo webhook"):
            adapter.read_webhook({}, junk)

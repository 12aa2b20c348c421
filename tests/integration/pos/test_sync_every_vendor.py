"""Every vendor, end to end through our API: a source connected to a local fake of the vendor,
pulled and sent webhooks; receipts earn once, refunds and voids take points back, and nothing
is lost or counted twice when the vendor or the network misbehaves."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from loyalty.extensions import db
from pos_adapters.models import PosInbox, PosSource
from tests.factories import enrol
from tests.fakes.vendor import Shopper
from tests.integration.pos.conftest import CAKE, LATTE, connect, pulled, sync

PAGE_SIZES = {  # each adapter's page-size constant, made small to pull several pages
    "loyverse": "PAGE_LIMIT",
    "square": "PAGE_LIMIT",
    "shopify": "PAGE_SIZE",
    "odoo": "Client.page_size",
}


def balance(client, program, member_id: int) -> int:
    r = client.get(f"/api/v1/members/{member_id}", headers=program.headers("admin"))
    return r.get_json()["points_balance"]


def test_first_sync_records_every_sale_once_and_the_next_sync_only_new_ones(
    client, program, vendor, ago
):
    member = enrol(client, program, phone="+66811110001")
    first = vendor.add_sale(
        vendor.stores[0], [LATTE, CAKE], ago(50), shopper=Shopper(phone="081-111-0001")
    )
    second = vendor.add_sale(vendor.stores[1], [LATTE], ago(40))
    source = connect(client, program, vendor)

    run = sync(client, program, source["id"])
    assert (run["fetched"], run["recorded"], run["rejected"]) == (2, 2, 0), run
    assert run["error"] is None
    assert run["finished_at"] is not None
    seen = pulled(client, program, source["id"])
    assert set(seen) == {first, second}
    assert seen[first]["store"] == "BKK01"
    assert seen[second]["store"] == "BKK02"
    assert seen[first]["member_id"] == member["id"]
    assert seen[second]["member_id"] is None
    assert seen[first]["total"] == "250.00"
    assert seen[first]["points_awarded"] > 0
    points = balance(client, program, member["id"])
    assert points == seen[first]["points_awarded"]

    third = vendor.add_sale(vendor.stores[0], [CAKE], ago(5), shopper=Shopper(phone="0811110001"))
    run = sync(client, program, source["id"])
    assert run["recorded"] == 1, run
    assert run["rejected"] == 0, run
    assert run["fetched"] == run["recorded"] + run["already_there"]
    seen = pulled(client, program, source["id"])
    assert set(seen) == {first, second, third}
    assert balance(client, program, member["id"]) == points + seen[third]["points_awarded"]

    again = sync(client, program, source["id"])
    assert again["recorded"] == 0, again
    assert again["rejected"] == 0, again
    assert len(pulled(client, program, source["id"])) == 3
    listed = client.get(
        f"/api/v1/pos-sources/{source['id']}/runs", headers=program.headers("admin")
    ).get_json()
    assert [r["id"] for r in listed] == sorted((r["id"] for r in listed), reverse=True)
    assert len(listed) == 3


def test_a_refund_takes_back_its_share_and_a_void_takes_back_the_rest(client, program, vendor, ago):
    member = enrol(client, program, phone="+66811110002")
    shopper = Shopper(phone="+66811110002")
    refunded = vendor.add_sale(vendor.stores[0], [LATTE, CAKE], ago(60), shopper=shopper)
    voided = vendor.add_sale(vendor.stores[0], [CAKE], ago(55), shopper=shopper)
    never = vendor.add_sale(vendor.stores[0], [LATTE], ago(50), shopper=shopper)
    vendor.void(never, ago(49))
    source = connect(client, program, vendor)
    run = sync(client, program, source["id"])
    assert run["recorded"] == 2, run
    assert run["rejected"] == 1, run
    rejections = client.get(
        f"/api/v1/pos-sources/{source['id']}/runs/{run['id']}/rejections",
        headers=program.headers("admin"),
    ).get_json()
    assert [r["vendor_id"] for r in rejections] == [never]
    assert "voided" in rejections[0]["reason"]
    earned = balance(client, program, member["id"])
    assert earned > 0

    refund = vendor.add_refund(refunded, Decimal("65.00"), ago(20))
    vendor.void(voided, ago(19))
    run = sync(client, program, source["id"])
    assert run["recorded"] == 2, run
    assert run["rejected"] == 0, run
    seen = pulled(client, program, source["id"])
    assert seen[refund]["type"] == "refund"
    assert seen[refund]["refund_of"] == refunded
    assert seen[refund]["total"] == "65.00"
    reversal = seen[f"{voided}~void"]
    assert reversal["refund_of"] == voided
    assert reversal["total"] == "120.00"
    after = balance(client, program, member["id"])
    assert after == earned + seen[refund]["points_awarded"] + reversal["points_awarded"]
    assert after < earned

    run = sync(client, program, source["id"], since=ago(120).isoformat())
    assert run["recorded"] == 0, run
    assert balance(client, program, member["id"]) == after


def test_a_receipt_by_webhook_and_by_pull_is_recorded_once(client, program, app, vendor, ago):
    sale = vendor.add_sale(vendor.stores[0], [LATTE], ago(10))
    source = connect(client, program, vendor)
    hook = vendor.webhook_for([sale])
    url = f"/api/v1/pos-webhooks/{source['id']}{hook.query}"
    response = client.post(url, data=hook.body, headers=hook.headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"stored": True}
    assert set(pulled(client, program, source["id"])) == {sale}

    again = client.post(url, data=hook.body, headers=hook.headers)  # the vendor redelivers
    assert again.status_code == 200
    run = sync(client, program, source["id"])
    assert run["recorded"] == 0, run
    assert run["already_there"] >= 1, run
    assert run["rejected"] == 0, run
    assert set(pulled(client, program, source["id"])) == {sale}
    with app.app_context():
        pending = db.session.scalars(select(PosInbox).where(PosInbox.processed_at.is_(None)))
        assert list(pending) == []


def test_a_forged_or_unsigned_webhook_is_refused_and_nothing_is_stored(
    client, program, app, vendor, ago
):
    sale = vendor.add_sale(vendor.stores[0], [LATTE], ago(10))
    source = connect(client, program, vendor)
    forged = vendor.webhook_for([sale], secret="not-the-secret")
    url = f"/api/v1/pos-webhooks/{source['id']}"
    response = client.post(url + forged.query, data=forged.body, headers=forged.headers)
    assert response.status_code == 401
    bare = {k: v for k, v in forged.headers.items() if k.lower() == "content-type"}
    assert client.post(url, data=forged.body, headers=bare).status_code == 401
    unknown = client.post("/api/v1/pos-webhooks/999999", data=forged.body, headers=bare)
    assert unknown.status_code == 404
    with app.app_context():
        assert db.session.scalars(select(PosInbox)).all() == []
    assert pulled(client, program, source["id"]) == {}


def test_an_outage_mid_sync_keeps_the_pages_done_and_the_next_run_resumes(
    client, program, vendor, ago, monkeypatch
):
    monkeypatch.setattr(f"pos_adapters.vendors.{vendor.kind}.{PAGE_SIZES[vendor.kind]}", 2)
    sales = [vendor.add_sale(vendor.stores[0], [LATTE], ago(100 - i)) for i in range(7)]
    source = connect(client, program, vendor)
    app_config = client.application.config
    app_config["POS_HTTP_BACKOFF"] = 0.0
    app_config["POS_HTTP_ATTEMPTS"] = 2
    app_config["POS_COMMIT_RECEIPTS"] = 1  # a unit of work per page

    # a dry run (every store unmapped: all rejected) counts the requests a whole sync makes
    dry = connect(client, program, vendor, name="Dry run", stores={})
    before = len(vendor.server.seen)
    sync(client, program, dry["id"])
    requests = len(vendor.server.seen) - before
    vendor.outage_after(passing=requests - 1)  # the sync's last request finds the vendor down
    run = sync(client, program, source["id"])
    assert run["error"], run
    assert "503" in run["error"], run
    shown = client.get(
        f"/api/v1/pos-sources/{source['id']}", headers=program.headers("admin")
    ).get_json()
    assert shown["last_error"] == run["error"]
    assert shown["status"] == "failing"
    kept = len(pulled(client, program, source["id"]))
    assert run["recorded"] == kept
    assert 0 < kept < len(sales)

    vendor.server.recover()
    run = sync(client, program, source["id"])
    assert run["error"] is None, run
    assert set(pulled(client, program, source["id"])) == set(sales)
    shown = client.get(
        f"/api/v1/pos-sources/{source['id']}", headers=program.headers("admin")
    ).get_json()
    assert shown["last_error"] is None
    assert shown["status"] == "ok"


def test_a_rate_limit_is_waited_out_and_a_passing_5xx_retried(client, program, vendor, ago):
    sale = vendor.add_sale(vendor.stores[0], [LATTE], ago(10))
    source = connect(client, program, vendor)
    client.application.config["POS_HTTP_BACKOFF"] = 0.0
    vendor.rate_limit_next(1, retry_after="0.2")
    vendor.fail_next(1, 502)
    run = sync(client, program, source["id"])
    assert run["error"] is None, run
    assert run["recorded"] == 1, run
    assert set(pulled(client, program, source["id"])) == {sale}


def test_members_are_matched_by_customer_phone_email_and_card_in_the_note(
    client, program, vendor, ago
):
    by_phone = enrol(client, program, phone="+66811110003")
    by_email = enrol(client, program, phone="+66811110004", email="nok@example.com")
    by_card = enrol(client, program, phone="+66811110005")
    card_no = by_card["card"]["card_no"]
    shopper = Shopper(phone="08 1111 0003")
    s_phone = vendor.add_sale(vendor.stores[0], [LATTE], ago(30), shopper=shopper)
    s_email = vendor.add_sale(
        vendor.stores[0], [LATTE], ago(29), shopper=Shopper(email="NOK@example.com")
    )
    s_card = vendor.add_sale(vendor.stores[0], [LATTE], ago(28), note=f"member {card_no}")
    s_none = vendor.add_sale(vendor.stores[0], [LATTE], ago(27), note="no card today")
    source = connect(client, program, vendor)
    sync(client, program, source["id"])
    seen = pulled(client, program, source["id"])
    assert seen[s_phone]["member_id"] == by_phone["id"]
    assert seen[s_email]["member_id"] == by_email["id"]
    assert seen[s_card]["member_id"] == by_card["id"]
    assert seen[s_none]["member_id"] is None

    # the vendor customer is linked now: a new phone on the member does not lose them
    client.patch(
        f"/api/v1/members/{by_phone['id']}",
        json={"phone": "+66811119999"},
        headers=program.headers("admin"),
    )
    s_later = vendor.add_sale(vendor.stores[0], [CAKE], ago(5), shopper=shopper)
    sync(client, program, source["id"])
    assert pulled(client, program, source["id"])[s_later]["member_id"] == by_phone["id"]


def test_a_receipt_changed_after_it_was_recorded_is_a_rejection_not_an_overwrite(
    client, program, vendor, ago
):
    sale = vendor.add_sale(vendor.stores[0], [LATTE], ago(30))
    source = connect(client, program, vendor)
    sync(client, program, source["id"])
    vendor.edit_total(sale, Decimal("99.00"), ago(5))
    run = sync(client, program, source["id"])
    assert run["rejected"] == 1, run
    assert run["recorded"] == 0, run
    rejections = client.get(
        f"/api/v1/pos-sources/{source['id']}/runs/{run['id']}/rejections",
        headers=program.headers("admin"),
    ).get_json()
    assert rejections[0]["vendor_id"] == sale
    assert "changed" in rejections[0]["reason"]
    assert pulled(client, program, source["id"])[sale]["total"] == "130.00"


def test_an_unmapped_store_is_rejected_with_its_reason(client, program, vendor, ago):
    vendor.add_sale(vendor.stores[1], [LATTE], ago(30))
    source = connect(client, program, vendor, stores={vendor.stores[0]: "BKK01"})
    run = sync(client, program, source["id"])
    assert run["rejected"] == 1
    assert run["recorded"] == 0
    rejections = client.get(
        f"/api/v1/pos-sources/{source['id']}/runs/{run['id']}/rejections",
        headers=program.headers("admin"),
    ).get_json()
    assert "not mapped" in rejections[0]["reason"]


def test_wrong_credentials_end_the_run_with_the_vendors_refusal(client, program, vendor, ago):
    vendor.add_sale(vendor.stores[0], [LATTE], ago(30))
    wrong = {
        name: "wrong" if name != "shop" else value for name, value in vendor.credentials.items()
    }
    source = connect(client, program, vendor, credentials=wrong)
    run = sync(client, program, source["id"])
    assert run["error"], run
    assert run["recorded"] == 0, run
    assert pulled(client, program, source["id"]) == {}


def test_the_cli_pulls_every_source_and_ends_with_one_line(client, program, vendor, ago, runner):
    vendor.add_sale(vendor.stores[0], [LATTE], ago(30))
    vendor.add_sale(vendor.stores[1], [CAKE], ago(20))
    source = connect(client, program, vendor)
    result = runner.invoke(args=["pos", "sync", "--source", str(source["id"])])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == (
        "2 fetched, 2 recorded, 0 already there, 0 rejected"
    )
    result = runner.invoke(args=["pos", "sync"])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert re.fullmatch(r"(\d+) fetched, 0 recorded, \1 already there, 0 rejected", last)


@pytest.mark.parametrize("vendor", ["loyverse"], indirect=True)
def test_credentials_are_sealed_at_rest_and_never_shown(client, program, app, vendor):
    source = connect(client, program, vendor)
    assert "credentials" not in source
    assert "webhook_secret" not in source
    token = vendor.credentials["access_token"]
    with app.app_context():
        row = db.session.get(PosSource, source["id"])
        assert token not in row.credentials
        assert vendor.webhook_secret not in row.webhook_secret
    listed = client.get("/api/v1/pos-sources", headers=program.headers("admin"))
    assert token not in listed.get_data(as_text=True)
    assert vendor.webhook_secret not in listed.get_data(as_text=True)


@pytest.mark.parametrize("vendor", ["loyverse"], indirect=True)
def test_deleting_a_source_stops_syncing_and_keeps_what_was_recorded(client, program, vendor, ago):
    sale = vendor.add_sale(vendor.stores[0], [LATTE], ago(30))
    source = connect(client, program, vendor)
    sync(client, program, source["id"])
    gone = client.delete(f"/api/v1/pos-sources/{source['id']}", headers=program.headers("admin"))
    assert gone.status_code == 204
    assert (
        client.get(
            f"/api/v1/pos-sources/{source['id']}", headers=program.headers("admin")
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/api/v1/pos-sources/{source['id']}/sync", json={}, headers=program.headers("admin")
        ).status_code
        == 404
    )
    assert set(pulled(client, program, source["id"])) == {sale}

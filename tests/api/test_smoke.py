"""A first walk through the main flow: enrol, earn, redeem, cancel."""

from tests.factories import enrol, receipt


def test_a_member_earns_on_a_receipt_and_redeems_at_the_till(client, program):
    member = enrol(client, program)
    assert member["points_balance"] == 0
    assert member["card"]["card_no"]
    code = client.get(
        f"/api/v1/members/{member['id']}/card/code", headers=program.headers("cashier")
    ).get_json()["code"]
    r = client.post(
        "/api/v1/transactions",
        json=receipt("R-1", "130.00", {"code": code}),
        headers=program.headers("BKK01"),
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["points_awarded"] == 5
    assert r.get_json()["status"] == "processed"
    r = client.post(
        "/api/v1/redemptions",
        json={"member_id": member["id"], "points": 3, "code": code},
        headers=program.headers("BKK01"),
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["balance_after"] == 2
    r = client.post(
        f"/api/v1/redemptions/{r.get_json()['id']}/cancel", headers=program.headers("BKK01")
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["balance_after"] == 5
    ledger = client.get(f"/api/v1/members/{member['id']}/ledger", headers=program.headers("admin"))
    assert [e["kind"] for e in ledger.get_json()] == ["reverse", "redeem", "earn"]

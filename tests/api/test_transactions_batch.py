"""POST /api/v1/transactions/batch: each receipt stands alone, as if posted by itself."""

from __future__ import annotations

from sqlalchemy import func, select

from loyalty.extensions import db
from rewards.models import Transaction
from tests.api.conftest import problem_of
from tests.factories import enrol, receipt

BATCH = "/api/v1/transactions/batch"


def post_batch(client, program, receipts, who="BKK01"):
    return client.post(BATCH, json={"receipts": receipts}, headers=program.headers(who))


def count_transactions(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Transaction))


def test_each_receipt_gets_the_answer_it_would_get_alone_in_the_order_sent(client, program):
    member = enrol(client, program)
    ref = {"member_no": member["member_no"]}
    alone = receipt("B-1", "100.00", ref)
    first = client.post(
        "/api/v1/transactions", json=alone, headers=program.headers("BKK01")
    ).get_json()
    sent = [
        receipt("B-2", "250.00", ref),  # new
        alone,  # a replay of one posted alone
        receipt("B-1", "999.00", ref),  # its id with another body
        {**receipt("B-3", "10.00"), "total": "ten"},  # invalid
        receipt("B-4", "50.00"),  # anonymous
        receipt("B-5", "40.00", {"member_no": "NO-SUCH"}),  # names nobody
        {**receipt("B-6", "25.00"), "type": "refund", "refund_of": "B-2", "member": None},
        {**receipt("B-7", "25.00"), "type": "refund", "refund_of": "NOPE", "member": None},
    ]
    sent.append(sent[0])  # the first of this batch again
    response = post_batch(client, program, sent)
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["results"]
    assert [r["external_id"] for r in results] == [r["external_id"] for r in sent]
    assert [r["status"] for r in results] == [201, 200, 409, 422, 201, 422, 201, 422, 200]
    assert results[0]["points_awarded"] == 10 - 1  # as the batch leaves it: B-6 refunds 25.00
    assert results[1]["id"] == first["id"]
    assert results[1]["points_awarded"] == first["points_awarded"]
    assert "total" in results[3]["errors"]
    assert "id" not in results[3]
    assert "member.member_no" in results[5]["errors"]
    assert results[6]["points_awarded"] == -1
    assert "refund_of" in results[7]["errors"]
    assert results[8]["id"] == results[0]["id"]
    shown = client.get(f"/api/v1/members/{member['id']}", headers=program.headers("admin"))
    assert shown.get_json()["points_balance"] == first["points_awarded"] + 10 - 1


def test_a_batch_and_the_same_receipts_posted_alone_make_the_same_books(client, program):
    member = enrol(client, program)
    ref = {"member_no": member["member_no"]}
    totals = ["130.00", "99.99", "2500.00", "25.00", "10.00"]
    batch = [receipt(f"BA-{i}", t, ref) for i, t in enumerate(totals)]
    alone = [receipt(f"AL-{i}", t, ref) for i, t in enumerate(totals)]
    results = post_batch(client, program, batch).get_json()["results"]
    for body, result in zip(alone, results, strict=True):
        single = client.post("/api/v1/transactions", json=body, headers=program.headers("BKK01"))
        assert single.get_json()["points_awarded"] == result["points_awarded"]
    shown = client.get(f"/api/v1/members/{member['id']}", headers=program.headers("admin"))
    assert shown.get_json()["points_balance"] == 2 * sum(r["points_awarded"] for r in results)


def test_more_than_500_or_not_a_list_of_objects_is_refused_whole(app, client, program):
    before = count_transactions(app)
    too_many = [receipt(f"M-{i}", "10.00") for i in range(501)]
    assert "receipts" in problem_of(post_batch(client, program, too_many), 422)["errors"]
    mixed = [receipt("M-ok", "10.00"), "not a receipt", 5]
    errors = problem_of(post_batch(client, program, mixed), 422)["errors"]
    assert sorted(errors) == ["receipts.1", "receipts.2"]
    response = client.post(BATCH, json=[receipt("M-x", "10.00")], headers=program.headers("BKK01"))
    assert response.status_code == 422
    missing = client.post(BATCH, json={}, headers=program.headers("BKK01"))
    assert "receipts" in problem_of(missing, 422)["errors"]
    assert count_transactions(app) == before
    empty = post_batch(client, program, [])
    assert empty.get_json() == {"results": []}


def test_500_receipts_are_recorded_in_one_request(app, client, program):
    member = enrol(client, program)
    sent = [receipt(f"F-{i}", "25.00", {"member_no": member["member_no"]}) for i in range(500)]
    results = post_batch(client, program, sent).get_json()["results"]
    assert {r["status"] for r in results} == {201}
    assert len({r["id"] for r in results}) == 500
    shown = client.get(f"/api/v1/members/{member['id']}", headers=program.headers("admin"))
    assert shown.get_json()["points_balance"] == 500
    again = post_batch(client, program, sent).get_json()["results"]
    assert [r["status"] for r in again] == [200] * 500
    assert count_transactions(app) == 500


def _code(client, program, member_id: int) -> str:
    r = client.get(f"/api/v1/members/{member_id}/card/code", headers=program.headers("cashier"))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["code"]


def test_scanned_codes_of_a_batch_are_resolved_each_as_alone(client, program):
    """The cards behind the batch's codes are read in one query; each code is still judged on
    its own: a good one earns, a blocked card's, a forged one's and an unknown card's are 422."""
    good, blocked = enrol(client, program), enrol(client, program)
    good_code, blocked_code = (
        _code(client, program, good["id"]),
        _code(client, program, blocked["id"]),
    )
    card_no = blocked["card"]["card_no"]
    url = f"/api/v1/members/{blocked['id']}/cards/{card_no}/block"
    assert client.post(url, headers=program.headers("admin")).status_code == 200
    forged = good_code[:-2] + ("00" if not good_code.endswith("00") else "11")
    unknown = good_code.replace(good["card"]["card_no"], blocked["card"]["card_no"][:-1] + "0")
    sent = [
        receipt("C-1", "100.00", {"code": good_code}),
        receipt("C-2", "100.00", {"code": blocked_code}),
        receipt("C-3", "100.00", {"code": forged}),
        receipt("C-4", "100.00", {"code": unknown}),
        receipt("C-5", "100.00", {"code": good_code}),  # the same code on a second sale
    ]
    results = post_batch(client, program, sent).get_json()["results"]
    assert [r["status"] for r in results] == [201, 422, 422, 422, 201]
    assert all("member.code" in r["errors"] for r in results[1:4])
    shown = client.get(f"/api/v1/members/{good['id']}", headers=program.headers("admin"))
    assert shown.get_json()["points_balance"] == 2 * results[0]["points_awarded"] > 0

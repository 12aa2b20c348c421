"""The live receipt path: a sale is recorded in one INSERT that a replay turns into nothing, so
a replay is answered as the first whatever the member's card says now; terminal keys are
remembered for a few seconds, and a revocation is honoured at once by the process that made it
and within LOYALTY_TERMINAL_KEY_CACHE_SECONDS by every other."""

from __future__ import annotations

import time

from sqlalchemy import update

from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.models import Terminal
from tests.factories import enrol, receipt


def _code(client, program, member_id: int) -> str:
    r = client.get(f"/api/v1/members/{member_id}/card/code", headers=program.headers("cashier"))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["code"]


def _block(client, program, member: dict) -> None:
    card_no = member["card"]["card_no"]
    url = f"/api/v1/members/{member['id']}/cards/{card_no}/block"
    assert client.post(url, headers=program.headers("admin")).status_code == 200


def test_a_replayed_sale_is_answered_as_the_first_after_its_card_was_blocked(
    client, program, post_receipt
):
    member = enrol(client, program)
    body = receipt("R-1", "200.00", {"code": _code(client, program, member["id"])})
    first = post_receipt(body)
    assert first.status_code == 201, first.get_json()
    _block(client, program, member)
    again = post_receipt(body)
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["id"] == first.get_json()["id"]
    clash = post_receipt({**body, "total": "300.00", "items": []})
    assert clash.status_code == 409, clash.get_json()


def test_a_new_sale_with_a_blocked_card_is_refused_and_nothing_is_recorded(
    client, program, post_receipt
):
    member = enrol(client, program)
    code = _code(client, program, member["id"])
    _block(client, program, member)
    refused = post_receipt(receipt("R-2", "100.00", {"code": code}))
    assert refused.status_code == 422, refused.get_json()
    listed = client.get("/api/v1/transactions", headers=program.headers("admin")).get_json()
    assert all(t["external_id"] != "R-2" for t in listed)


def test_the_answer_shows_the_member_and_their_balance(client, program, post_receipt):
    member = enrol(client, program)
    code = _code(client, program, member["id"])
    r = post_receipt(receipt("R-3", "100.00", {"code": code}))
    assert r.status_code == 201, r.get_json()
    answer = r.get_json()
    assert answer["member"]["id"] == member["id"]
    points = client.get(f"/api/v1/members/{member['id']}", headers=program.headers("admin"))
    assert answer["member"]["points_balance"] == points.get_json()["points_balance"]


def _post(client, headers, n: int):
    return client.post("/api/v1/transactions", json=receipt(f"K-{n}", "50.00"), headers=headers)


def _new_till(client, program) -> tuple[int, dict[str, str]]:
    """A new terminal of BKK01: its id and the headers that carry its key."""
    r = client.post("/api/v1/terminals", json={"store": "BKK01", "name": "Till 9"},
                    headers=program.headers("admin"))  # fmt: skip
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"], {"Authorization": f"Bearer {r.get_json()['api_key']}"}


def test_a_key_revoked_through_the_api_is_refused_at_once(app, client, program):
    app.config["TERMINAL_KEY_CACHE_SECONDS"] = 60
    terminal_id, till = _new_till(client, program)
    assert _post(client, till, 1).status_code == 201
    revoked = client.post(
        f"/api/v1/terminals/{terminal_id}/revoke", headers=program.headers("admin")
    )
    assert revoked.status_code == 200
    assert _post(client, till, 2).status_code == 401


def test_a_key_revoked_elsewhere_is_refused_once_the_cache_lapses(app, client, program):
    app.config["TERMINAL_KEY_CACHE_SECONDS"] = 1
    terminal_id, till = _new_till(client, program)
    assert _post(client, till, 1).status_code == 201
    with app.app_context():  # another process revokes it: this one is not told
        db.session.execute(
            update(Terminal).where(Terminal.id == terminal_id).values(revoked_at=utcnow())
        )
        db.session.commit()
    assert _post(client, till, 2).status_code == 201  # remembered for a second
    time.sleep(1.1)
    assert _post(client, till, 3).status_code == 401


def test_a_wrong_secret_for_a_remembered_terminal_is_refused(app, client, program):
    app.config["TERMINAL_KEY_CACHE_SECONDS"] = 60
    headers = program.headers("BKK01")
    assert _post(client, headers, 1).status_code == 201
    forged = headers["Authorization"][:-4] + "AAAA"
    assert _post(client, {"Authorization": forged}, 2).status_code == 401

"""Every example and rule of the public contract (API.md), through the HTTP client."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from loyalty import create_app
from loyalty.db import utcnow
from loyalty.extensions import db
from members.cards import codes as card_codes
from members.models import Card
from tests import conftest as base
from tests.api.conftest import problem_of
from tests.factories import enrol, receipt

SOMCHAI = {
    "name": "Somchai Jaidee",
    "phone": "+66812345678",
    "email": "s@example.com",
    "birthdate": "1990-05-17",
    "locale": "th",
    "consents": {"marketing_email": True, "marketing_sms": False},
}

LEDGER_FIELDS = {"id", "occurred_at", "kind", "points", "balance_after", "description", "cause"}


def api_md_receipt(external_id: str, member: dict | None, total: str = "130.00") -> dict:
    """The receipt example of API.md (two lattes), happening now."""
    body = {
        "external_id": external_id,
        "occurred_at": utcnow().isoformat(),
        "type": "sale",
        "currency": "THB",
        "items": [
            {
                "sku": "CF-LATTE",
                "name": "Latte",
                "category": "coffee",
                "quantity": 2,
                "unit_price": f"{float(total) / 2:.2f}",
            }
        ],
        "discount": "0.00",
        "total": total,
    }
    if member is not None:
        body["member"] = member
    return body


def balance(client, program, member_id: int) -> int:
    r = client.get(f"/api/v1/members/{member_id}", headers=program.headers("admin"))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["points_balance"]


def member_with_points(client, program, post_receipt, total: str = "250.00") -> dict:
    member = enrol(client, program)
    r = post_receipt(receipt(f"SEED-{member['id']}", total, {"member_no": member["member_no"]}))
    assert r.status_code == 201, r.get_json()
    return member


def redeem(client, headers: dict, member_id: int, points: int, **extra) -> object:
    body = {"member_id": member_id, "points": points, **extra}
    return client.post("/api/v1/redemptions", json=body, headers=headers)


# Staff tokens


def test_a_staff_user_exchanges_email_and_password_for_a_bearer_token(client, program):
    r = client.post(
        "/api/v1/auth/token", json={"email": "marketer@example.com", "password": "password123"}
    )
    assert r.status_code == 200
    body = r.get_json()
    assert body["role"] == "marketer"
    assert body["expires_in"] > 0
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/api/v1/program/settings", headers=bearer).status_code == 200


def test_a_wrong_staff_password_is_a_401(client, program):
    r = client.post(
        "/api/v1/auth/token", json={"email": "admin@example.com", "password": "wrong-password"}
    )
    problem_of(r, 401)


def test_wrong_passwords_count_toward_the_login_limit_and_the_11th_attempt_is_a_429(
    client, program
):
    wrong = {"email": "admin@example.com", "password": "wrong-password"}
    for _attempt in range(10):  # each request fails, and its unit of work is rolled back
        problem_of(client.post("/api/v1/auth/token", json=wrong), 401)
    right = {"email": "Admin@Example.com", "password": "password123"}
    r = client.post("/api/v1/auth/token", json=right)
    assert problem_of(r, 429)["type"].endswith("rate-limited")
    assert int(r.headers["Retry-After"]) > 0


def test_the_login_limit_is_counted_per_email(client, program):
    wrong = {"email": "admin@example.com", "password": "wrong-password"}
    for _attempt in range(11):
        client.post("/api/v1/auth/token", json=wrong)
    right = {"email": "marketer@example.com", "password": "password123"}
    assert client.post("/api/v1/auth/token", json=right).status_code == 200


def test_a_login_with_the_longest_possible_email_is_just_wrong_credentials(client, program):
    email = f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 57}.com"
    assert len(email) == 254
    r = client.post("/api/v1/auth/token", json={"email": email, "password": "password123"})
    problem_of(r, 401)


# Shopper tokens


def test_a_shopper_signs_in_with_a_code_sent_to_their_phone(client, program, sent_codes):
    member = enrol(client, program, phone="0812345678")
    r = client.post("/api/v1/auth/otp/request", json={"phone": "+66812345678"})
    assert r.status_code == 202
    [code] = sent_codes("+66812345678")
    r = client.post("/api/v1/auth/otp/verify", json={"phone": "0812345678", "code": code})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["member_id"] == member["id"]
    assert body["expires_in"] > 0
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get(f"/api/v1/members/{member['id']}", headers=bearer).status_code == 200


def test_a_shopper_signs_in_with_a_code_sent_to_their_email(client, program, sent_codes):
    member = enrol(client, program, email="nok@example.com")
    r = client.post("/api/v1/auth/otp/request", json={"email": "Nok@Example.com"})
    assert r.status_code == 202
    [code] = sent_codes("nok@example.com")
    r = client.post("/api/v1/auth/otp/verify", json={"email": "nok@example.com", "code": code})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["member_id"] == member["id"]


def test_a_code_is_used_once(client, program, sent_codes):
    enrol(client, program, phone="0812345678")
    client.post("/api/v1/auth/otp/request", json={"phone": "0812345678"})
    [code] = sent_codes("+66812345678")
    body = {"phone": "0812345678", "code": code}
    assert client.post("/api/v1/auth/otp/verify", json=body).status_code == 200
    problem_of(client.post("/api/v1/auth/otp/verify", json=body), 401)


def test_an_unknown_phone_gets_the_same_202_and_no_message(client, program, sent_codes):
    enrol(client, program, phone="0812345678")
    known = client.post("/api/v1/auth/otp/request", json={"phone": "0812345678"})
    unknown = client.post("/api/v1/auth/otp/request", json={"phone": "0898765432"})
    assert (unknown.status_code, unknown.get_json()) == (known.status_code, known.get_json())
    assert unknown.status_code == 202
    assert sent_codes("+66898765432") == []


def test_a_wrong_code_is_a_401(client, program, sent_codes):
    enrol(client, program, phone="0812345678")
    client.post("/api/v1/auth/otp/request", json={"phone": "0812345678"})
    [code] = sent_codes("+66812345678")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    r = client.post("/api/v1/auth/otp/verify", json={"phone": "0812345678", "code": wrong})
    problem_of(r, 401)


def test_an_expired_code_is_a_401(database_url, program, sent_codes):
    quick = create_app(base.test_config(database_url, OTP_TTL=0))
    client = quick.test_client()
    enrol(client, program, phone="0812345678")
    client.post("/api/v1/auth/otp/request", json={"phone": "0812345678"})
    [code] = sent_codes("+66812345678")
    r = client.post("/api/v1/auth/otp/verify", json={"phone": "0812345678", "code": code})
    problem_of(r, 401)
    with quick.app_context():
        db.engine.dispose()


def test_too_many_wrong_codes_are_a_429_even_for_the_right_code(client, program, sent_codes):
    enrol(client, program, phone="0812345678")
    client.post("/api/v1/auth/otp/request", json={"phone": "0812345678"})
    [code] = sent_codes("+66812345678")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        r = client.post("/api/v1/auth/otp/verify", json={"phone": "0812345678", "code": wrong})
        problem_of(r, 401)
    r = client.post("/api/v1/auth/otp/verify", json={"phone": "0812345678", "code": code})
    problem_of(r, 429)


# Members


def test_enrolment_answers_201_with_the_member_and_their_card(client, program):
    r = client.post("/api/v1/members", json=SOMCHAI, headers=program.headers("BKK01"))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert {"id", "member_no", "name", "phone", "email", "tier", "points_balance"} <= body.keys()
    assert body["name"] == "Somchai Jaidee"
    assert body["phone"] == "+66812345678"
    assert body["email"] == "s@example.com"
    assert body["tier"] == "member"
    assert body["points_balance"] == 0
    assert body["card"]["card_no"].isdigit()
    assert card_codes.is_valid_card_no(body["card"]["card_no"])


def test_a_thai_local_phone_is_normalised_to_e164(client, program):
    member = enrol(client, program, phone="0812345678")
    assert member["phone"] == "+66812345678"


@pytest.mark.parametrize("again", ["0812345678", "+66812345678", "+66 81 234 5678"])
def test_a_second_enrolment_with_the_same_phone_is_a_409(client, program, again):
    enrol(client, program, phone="0812345678")
    r = client.post(
        "/api/v1/members", json={"name": "Twin", "phone": again}, headers=program.headers("admin")
    )
    problem_of(r, 409)


def test_a_second_enrolment_with_the_same_email_is_a_409(client, program):
    enrol(client, program, email="s@example.com")
    r = client.post(
        "/api/v1/members",
        json={"name": "Twin", "email": "S@Example.com"},
        headers=program.headers("cashier"),
    )
    problem_of(r, 409)


def test_a_member_profile_shows_balance_pending_tier_and_progress(client, program, shopper):
    r = client.post("/api/v1/members", json=SOMCHAI, headers=program.headers("BKK01"))
    member_id = r.get_json()["id"]
    profile = client.get(f"/api/v1/members/{member_id}", headers=shopper(member_id)).get_json()
    assert profile["points_balance"] == 0
    assert profile["points_pending"] == 0
    assert profile["tier"] == "member"
    assert {"tier", "next_tier", "qualifying_spend", "spend_to_next"} <= profile[
        "tier_progress"
    ].keys()
    assert profile["tier_progress"]["qualifying_spend"] == "0.00"
    assert profile["birthdate"] == "1990-05-17"
    assert profile["consents"] == {"marketing_email": True, "marketing_sms": False}


def test_the_ledger_lists_every_kind_of_entry_newest_first(
    client, program, card_code, post_receipt, runner
):
    member = enrol(client, program)
    post_receipt(receipt("R-1", "250.00", {"code": card_code(member["id"])}))
    till = program.headers("BKK01")
    r = redeem(client, till, member["id"], 3, code=card_code(member["id"]))
    client.post(f"/api/v1/redemptions/{r.get_json()['id']}/cancel", headers=till)
    adjust = {"points": 5, "reason": "goodwill for a late order"}
    client.post(
        f"/api/v1/members/{member['id']}/adjustments", json=adjust, headers=program.headers("admin")
    )
    result = runner.invoke(args=["points", "expire", "--at", "2999-01-01T00:00:00+00:00"])
    assert result.exit_code == 0, result.output
    ledger = client.get(
        f"/api/v1/members/{member['id']}/ledger", headers=program.headers("admin")
    ).get_json()
    assert [e["kind"] for e in ledger] == ["expire", "adjust", "reverse", "redeem", "earn"]
    assert [e["points"] for e in ledger] == [-15, 5, 3, -3, 10]
    assert [e["balance_after"] for e in ledger] == [0, 15, 10, 7, 10]
    for entry in ledger:
        assert entry.keys() >= LEDGER_FIELDS
        assert entry["cause"]["type"]
        assert entry["cause"]["id"]
        assert datetime.fromisoformat(entry["occurred_at"]).utcoffset() is not None
    assert ledger[4]["cause"]["type"] == "transaction"
    assert ledger[3]["cause"] == {"type": "redemption", "id": str(r.get_json()["id"])}


# Cards and QR codes


def test_a_digital_card_code_rotates_and_says_when_it_expires(client, program, shopper):
    member = enrol(client, program)
    r = client.get(f"/api/v1/members/{member['id']}/card/code", headers=shopper(member["id"]))
    assert r.status_code == 200
    body = r.get_json()
    assert body["code"].startswith("LD1.")
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert utcnow() < expires_at <= utcnow() + timedelta(seconds=61)


def test_a_printed_card_carries_a_static_code_that_never_expires(client, program):
    member = enrol(client, program, card_kind="printed")
    r = client.get(f"/api/v1/members/{member['id']}/card/code", headers=program.headers("cashier"))
    assert r.get_json()["code"].startswith("LP1.")
    assert r.get_json()["expires_at"] is None


def test_the_qr_code_comes_as_png_and_svg(client, program, shopper):
    member = enrol(client, program)
    base_url = f"/api/v1/members/{member['id']}/card"
    png = client.get(f"{base_url}/qr.png", headers=shopper(member["id"]))
    assert png.status_code == 200
    assert png.mimetype == "image/png"
    assert png.data.startswith(b"\x89PNG\r\n\x1a\n")
    svg = client.get(f"{base_url}/qr.svg", headers=program.headers("cashier"))
    assert svg.status_code == 200
    assert svg.mimetype == "image/svg+xml"
    assert b"<svg" in svg.data


def test_a_scanned_code_resolves_to_the_member(client, program, card_code, post_receipt):
    member = member_with_points(client, program, post_receipt)
    r = client.post(
        "/api/v1/cards/resolve",
        json={"code": card_code(member["id"])},
        headers=program.headers("BKK02"),
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["member_id"] == member["id"]
    assert body["member_no"] == member["member_no"]
    assert body["name"] == member["name"]
    assert body["tier"] == "member"
    assert body["points_balance"] == 10


def test_a_forged_code_is_a_404_that_says_so(client, program, card_code):
    member = enrol(client, program)
    real = card_code(member["id"])
    forged = real[:-1] + ("A" if real[-1] != "A" else "B")
    till = program.headers("BKK01")
    r = client.post("/api/v1/cards/resolve", json={"code": forged}, headers=till)
    assert problem_of(r, 404)["type"].endswith("/code-invalid")


def test_an_expired_code_is_a_410_that_says_so(app, client, program):
    member = enrol(client, program)
    with app.app_context():
        card = db.session.scalar(select(Card).where(Card.card_no == member["card"]["card_no"]))
        old, _ = card_codes.digital_code(
            card.card_no,
            bytes.fromhex(card.secret),
            utcnow() - timedelta(minutes=5),
            app.config["CARD_CODE_STEP"],
        )
    r = client.post("/api/v1/cards/resolve", json={"code": old}, headers=program.headers("BKK01"))
    assert problem_of(r, 410)["type"].endswith("/code-expired")


def test_a_blocked_card_code_is_a_410_that_says_so(client, program, card_code):
    member = enrol(client, program)
    code = card_code(member["id"])
    card_no = member["card"]["card_no"]
    r = client.post(
        f"/api/v1/members/{member['id']}/cards/{card_no}/block", headers=program.headers("cashier")
    )
    assert r.status_code == 200
    r = client.post("/api/v1/cards/resolve", json={"code": code}, headers=program.headers("BKK01"))
    assert problem_of(r, 410)["type"].endswith("/card-blocked")


def test_a_replaced_card_code_is_a_410_and_the_new_card_works(client, program, card_code):
    member = enrol(client, program)
    old = card_code(member["id"])
    r = client.post(
        f"/api/v1/members/{member['id']}/card/replace", json={}, headers=program.headers("admin")
    )
    assert r.status_code == 201
    till = program.headers("BKK01")
    gone = client.post("/api/v1/cards/resolve", json={"code": old}, headers=till)
    assert problem_of(gone, 410)["type"].endswith("/card-replaced")
    new = client.post("/api/v1/cards/resolve", json={"code": card_code(member["id"])}, headers=till)
    assert new.get_json()["member_id"] == member["id"]


# POS transactions


def test_a_receipt_with_a_scanned_code_earns_points(client, program, card_code, post_receipt):
    member = enrol(client, program)
    r = post_receipt(api_md_receipt("R-000123", {"code": card_code(member["id"])}))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["status"] == "processed"
    assert body["points_awarded"] == 5
    assert body["member"] == {"id": member["id"], "points_balance": 5}
    assert isinstance(body["id"], int)


def test_a_receipt_names_its_member_by_member_number(client, program, post_receipt):
    member = enrol(client, program)
    r = post_receipt(api_md_receipt("R-1", {"member_no": member["member_no"]}))
    assert r.status_code == 201
    assert r.get_json()["member"] == {"id": member["id"], "points_balance": 5}


def test_a_receipt_names_its_member_by_phone(client, program, post_receipt):
    member = enrol(client, program, phone="+66812345678")
    r = post_receipt(api_md_receipt("R-1", {"phone": "0812345678"}))
    assert r.status_code == 201
    assert r.get_json()["member"] == {"id": member["id"], "points_balance": 5}


def test_a_receipt_without_a_member_is_kept_anonymous(client, program, post_receipt):
    r = post_receipt(api_md_receipt("R-1", None))
    assert r.status_code == 201
    body = r.get_json()
    assert body["member"] is None
    assert body["points_awarded"] == 0
    assert body["status"] == "processed"


def test_the_same_receipt_again_is_a_200_with_the_first_result_and_no_new_points(
    client, program, post_receipt
):
    member = enrol(client, program)
    body = api_md_receipt("R-1", {"member_no": member["member_no"]})
    first = post_receipt(body)
    again = post_receipt(body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert balance(client, program, member["id"]) == 5


def test_the_same_external_id_with_another_body_is_a_409(client, program, post_receipt):
    member = enrol(client, program)
    post_receipt(api_md_receipt("R-1", {"member_no": member["member_no"]}))
    r = post_receipt(api_md_receipt("R-1", {"member_no": member["member_no"]}, total="131.00"))
    problem_of(r, 409)
    assert balance(client, program, member["id"]) == 5


def test_the_same_external_id_from_another_store_is_another_receipt(client, program, post_receipt):
    member = enrol(client, program)
    body = api_md_receipt("R-1", {"member_no": member["member_no"]})
    assert post_receipt(body, "BKK01").status_code == 201
    assert post_receipt(body, "BKK02").status_code == 201
    assert balance(client, program, member["id"]) == 10


@pytest.mark.parametrize(
    ("total", "points"),
    [("0.00", 0), ("24.99", 0), ("25.00", 1), ("49.99", 1), ("130.00", 5), ("1000.00", 40)],
)
def test_default_earning_is_one_point_per_25_baht_rounded_down(
    client, program, post_receipt, total, points
):
    member = enrol(client, program)
    r = post_receipt(receipt("R-1", total, {"member_no": member["member_no"]}))
    assert r.get_json()["points_awarded"] == points


def test_rounding_down_is_per_receipt(client, program, post_receipt):
    member = enrol(client, program)
    for n in range(3):
        post_receipt(receipt(f"R-{n}", "24.99", {"member_no": member["member_no"]}))
    assert balance(client, program, member["id"]) == 0


def refund(external_id: str, sale: str, total: str) -> dict:
    return receipt(external_id, total, None, type="refund", refund_of=sale)


def test_partial_refunds_reverse_the_points_of_what_is_refunded(client, program, post_receipt):
    member = enrol(client, program)
    post_receipt(receipt("S-1", "130.00", {"member_no": member["member_no"]}))
    steps = [("RF-1", "30.00", -1, 4), ("RF-2", "30.00", -2, 2), ("RF-3", "70.00", -2, 0)]
    for external_id, total, reversed_points, left in steps:
        r = post_receipt(refund(external_id, "S-1", total))
        assert r.status_code == 201, r.get_json()
        assert r.get_json()["points_awarded"] == reversed_points
        assert r.get_json()["member"] == {"id": member["id"], "points_balance": left}


def test_a_repeated_refund_reverses_once(client, program, post_receipt):
    member = enrol(client, program)
    post_receipt(receipt("S-1", "130.00", {"member_no": member["member_no"]}))
    body = refund("RF-1", "S-1", "50.00")
    first = post_receipt(body)
    again = post_receipt(body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert balance(client, program, member["id"]) == 3


def test_a_refund_of_more_than_is_left_is_a_422(client, program, post_receipt):
    member = enrol(client, program)
    post_receipt(receipt("S-1", "130.00", {"member_no": member["member_no"]}))
    post_receipt(refund("RF-1", "S-1", "100.00"))
    r = post_receipt(refund("RF-2", "S-1", "30.01"))
    assert "total" in problem_of(r, 422)["errors"]
    assert balance(client, program, member["id"]) == 1


def test_a_refund_may_take_the_balance_below_zero(client, program, post_receipt):
    member = enrol(client, program)
    post_receipt(receipt("S-1", "130.00", {"member_no": member["member_no"]}))
    assert redeem(client, program.headers("admin"), member["id"], 5).status_code == 201
    r = post_receipt(refund("RF-1", "S-1", "130.00"))
    assert r.get_json()["member"]["points_balance"] == -5


def test_a_transaction_shows_its_status_points_and_effects(client, program, post_receipt):
    member = enrol(client, program)
    sale = post_receipt(receipt("S-1", "130.00", {"member_no": member["member_no"]})).get_json()
    back = post_receipt(refund("RF-1", "S-1", "30.00")).get_json()
    r = client.get(f"/api/v1/transactions/{sale['id']}", headers=program.headers("BKK01"))
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "processed"
    assert body["points_awarded"] == 4
    assert body["total"] == "130.00"
    assert body["member_id"] == member["id"]
    assert [(e["kind"], e["points"], e["rule"]) for e in body["effects"]] == [("earn", 5, "base")]
    r = client.get(f"/api/v1/transactions/{back['id']}", headers=program.headers("admin"))
    assert r.get_json()["refund_of"] == "S-1"
    assert [(e["kind"], e["points"]) for e in r.get_json()["effects"]] == [("reverse", -1)]


# Redemptions


def test_a_redemption_answers_201_with_the_balance_after(client, program, post_receipt):
    member = member_with_points(client, program, post_receipt)
    r = redeem(client, program.headers("admin"), member["id"], 4)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["points"] == 4
    assert body["balance_after"] == 6
    assert body["voucher_code"] is None
    assert isinstance(body["id"], int)


def test_a_till_redeems_with_the_members_current_code(client, program, card_code, post_receipt):
    member = member_with_points(client, program, post_receipt)
    till = program.headers("BKK01")
    without = redeem(client, till, member["id"], 4)
    assert "code" in problem_of(without, 422)["errors"]
    r = redeem(client, till, member["id"], 4, code=card_code(member["id"]))
    assert r.status_code == 201, r.get_json()


def test_a_printed_cards_static_code_cannot_authorise_a_redemption(
    client, program, card_code, post_receipt
):
    member = enrol(client, program, card_kind="printed")
    post_receipt(receipt("R-1", "250.00", {"code": card_code(member["id"])}))
    r = redeem(client, program.headers("cashier"), member["id"], 4, code=card_code(member["id"]))
    assert "code" in problem_of(r, 422)["errors"]
    assert balance(client, program, member["id"]) == 10


def test_a_shopper_redeems_their_own_points_without_a_code(client, program, shopper, post_receipt):
    member = member_with_points(client, program, post_receipt)
    r = redeem(client, shopper(member["id"]), member["id"], 10)
    assert r.status_code == 201
    assert r.get_json()["balance_after"] == 0


def test_not_enough_points_is_a_409_insufficient_points(client, program, post_receipt):
    member = member_with_points(client, program, post_receipt)
    r = redeem(client, program.headers("admin"), member["id"], 11)
    assert problem_of(r, 409)["type"].endswith("insufficient-points")
    assert balance(client, program, member["id"]) == 10


@pytest.mark.parametrize("points", [0, -1, -100])
def test_redeeming_zero_or_fewer_points_is_a_422(client, program, post_receipt, points):
    member = member_with_points(client, program, post_receipt)
    r = redeem(client, program.headers("admin"), member["id"], points)
    assert "points" in problem_of(r, 422)["errors"]
    assert balance(client, program, member["id"]) == 10


def test_cancelling_a_redemption_returns_the_points_once(client, program, post_receipt):
    member = member_with_points(client, program, post_receipt)
    till = program.headers("admin")
    redemption = redeem(client, till, member["id"], 7).get_json()
    r = client.post(f"/api/v1/redemptions/{redemption['id']}/cancel", headers=till)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "cancelled"
    assert r.get_json()["balance_after"] == 10
    again = client.post(f"/api/v1/redemptions/{redemption['id']}/cancel", headers=till)
    problem_of(again, 409)
    assert balance(client, program, member["id"]) == 10


def test_a_redemption_records_its_till(client, program, card_code, post_receipt):
    member = member_with_points(client, program, post_receipt)
    made = redeem(
        client, program.headers("BKK02"), member["id"], 1, code=card_code(member["id"])
    ).get_json()
    r = client.get(f"/api/v1/redemptions/{made['id']}", headers=program.headers("admin"))
    body = r.get_json()
    assert body["store_id"] == program.stores["BKK02"]
    assert body["terminal_id"] is not None
    assert body["channel"] == "terminal"


# Idempotency-Key


def test_an_idempotency_key_replay_returns_the_first_status_and_body(client, program, post_receipt):
    member = member_with_points(client, program, post_receipt)
    headers = {**program.headers("admin"), "Idempotency-Key": "redeem-1"}
    first = redeem(client, headers, member["id"], 4)
    again = redeem(client, headers, member["id"], 4)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert balance(client, program, member["id"]) == 6


def test_an_idempotency_key_with_another_body_is_a_409(client, program, post_receipt):
    member = member_with_points(client, program, post_receipt)
    headers = {**program.headers("admin"), "Idempotency-Key": "redeem-1"}
    redeem(client, headers, member["id"], 4)
    problem_of(redeem(client, headers, member["id"], 5), 409)
    assert balance(client, program, member["id"]) == 6


def test_an_idempotency_key_replays_an_enrolment(client, program):
    headers = {**program.headers("BKK01"), "Idempotency-Key": "enrol-somchai"}
    first = client.post("/api/v1/members", json=SOMCHAI, headers=headers)
    again = client.post("/api/v1/members", json=SOMCHAI, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()


def test_idempotency_keys_belong_to_their_caller(client, program, post_receipt):
    member = member_with_points(client, program, post_receipt)
    admin = {**program.headers("admin"), "Idempotency-Key": "same-key"}
    cashier = {**program.headers("cashier"), "Idempotency-Key": "same-key"}
    redeem(client, admin, member["id"], 1)
    code = client.get(f"/api/v1/members/{member['id']}/card/code", headers=cashier).get_json()
    r = redeem(client, cashier, member["id"], 2, code=code["code"])
    assert r.status_code == 201
    assert r.get_json()["points"] == 2


# Health and the OpenAPI document


def test_healthz_answers_while_the_process_runs(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json()["status"] == "ok"


def test_readyz_answers_when_the_database_does(client):
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.get_json()["checks"]["database"] == "ok"


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_the_openapi_document_describes_every_api_path_and_method(app, client):
    document = client.get("/api/openapi.json")
    assert document.status_code == 200
    paths = document.get_json()["paths"]
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        documented = paths.get(openapi_path(rule.rule), {})
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in documented, f"{method} {rule.rule} is not documented"


def test_the_interactive_docs_are_served(client):
    assert client.get("/api/docs").status_code == 200


# Rewards catalog and vouchers


def make_reward(client, program, **fields) -> dict:
    body = {"name": "Free latte", "points_cost": 8, **fields}
    r = client.post("/api/v1/rewards", json=body, headers=program.headers("marketer"))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_a_marketer_adds_a_reward_that_the_catalog_lists(client, program, shopper):
    reward = make_reward(client, program, stock=10)
    assert reward["points_cost"] == 8
    assert reward["issued"] == 0
    member = enrol(client, program)
    listed = client.get("/api/v1/rewards", headers=shopper(member["id"])).get_json()
    assert [r["id"] for r in listed] == [reward["id"]]


def test_a_shopper_sees_only_rewards_redeemable_now(client, program, shopper):
    make_reward(client, program, name="Retired", active=False)
    later = (utcnow() + timedelta(days=3)).isoformat()
    make_reward(client, program, name="Next week", starts_at=later)
    current = make_reward(client, program, name="Now")
    member = enrol(client, program)
    listed = client.get("/api/v1/rewards", headers=shopper(member["id"])).get_json()
    assert [r["id"] for r in listed] == [current["id"]]
    everything = client.get("/api/v1/rewards", headers=program.headers("marketer")).get_json()
    assert len(everything) == 3


def test_a_reward_refused_for_too_few_points_takes_nothing_from_stock(
    client, program, post_receipt
):
    reward = make_reward(client, program, points_cost=50, stock=1)
    member = member_with_points(client, program, post_receipt)  # 10 points
    body = {"member_id": member["id"], "reward_id": reward["id"]}
    r = client.post("/api/v1/redemptions", json=body, headers=program.headers("admin"))
    assert problem_of(r, 409)["type"].endswith("insufficient-points")
    url = f"/api/v1/rewards/{reward['id']}"
    assert client.get(url, headers=program.headers("marketer")).get_json()["issued"] == 0
    assert balance(client, program, member["id"]) == 10


def test_redeeming_a_reward_issues_a_voucher_that_is_used_once(
    client, program, card_code, post_receipt
):
    reward = make_reward(client, program)
    member = member_with_points(client, program, post_receipt)
    till = program.headers("BKK01")
    r = redeem(client, till, member["id"], 8, reward_id=reward["id"], code=card_code(member["id"]))
    assert r.status_code == 201, r.get_json()
    voucher_code = r.get_json()["voucher_code"]
    assert voucher_code
    assert r.get_json()["balance_after"] == 2
    looked_up = client.get(f"/api/v1/vouchers/{voucher_code}", headers=till).get_json()
    assert looked_up["status"] == "issued"
    assert looked_up["member_id"] == member["id"]
    qr = client.get(f"/api/v1/vouchers/{voucher_code}/qr.png", headers=program.headers("cashier"))
    assert qr.mimetype == "image/png"
    used = client.post(f"/api/v1/vouchers/{voucher_code}/use", headers=till)
    assert used.status_code == 200
    assert used.get_json()["status"] == "used"
    assert used.get_json()["used_store_id"] == program.stores["BKK01"]
    problem_of(client.post(f"/api/v1/vouchers/{voucher_code}/use", headers=till), 409)


def test_a_reward_out_of_stock_is_a_409(client, program, post_receipt):
    reward = make_reward(client, program, points_cost=1, stock=1)
    member = member_with_points(client, program, post_receipt)
    admin = program.headers("admin")
    assert redeem(client, admin, member["id"], 1, reward_id=reward["id"]).status_code == 201
    r = redeem(client, admin, member["id"], 1, reward_id=reward["id"])
    assert problem_of(r, 409)["type"].endswith("/reward-unavailable")
    assert balance(client, program, member["id"]) == 9


def test_cancelling_a_reward_redemption_voids_its_voucher(client, program, post_receipt):
    reward = make_reward(client, program)
    member = member_with_points(client, program, post_receipt)
    admin = program.headers("admin")
    made = redeem(client, admin, member["id"], 8, reward_id=reward["id"]).get_json()
    client.post(f"/api/v1/redemptions/{made['id']}/cancel", headers=admin)
    voucher = client.get(f"/api/v1/vouchers/{made['voucher_code']}", headers=admin).get_json()
    assert voucher["status"] == "void"
    till = program.headers("BKK01")
    problem_of(client.post(f"/api/v1/vouchers/{made['voucher_code']}/use", headers=till), 409)


# Adjustments


def test_an_admin_adjusts_points_with_a_reason_that_lands_in_the_audit_log(
    client, program, post_receipt
):
    member = member_with_points(client, program, post_receipt)
    admin = program.headers("admin")
    url = f"/api/v1/members/{member['id']}/adjustments"
    r = client.post(url, json={"points": -4, "reason": "double scan at BKK01"}, headers=admin)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["kind"] == "adjust"
    assert r.get_json()["balance_after"] == 6
    [entry] = client.get("/api/v1/audit", headers=admin).get_json()
    assert entry["action"] == "points.adjust"
    assert entry["reason"] == "double scan at BKK01"
    assert entry["subject_id"] == str(member["id"])


def test_an_adjustment_needs_a_reason(client, program, post_receipt):
    member = member_with_points(client, program, post_receipt)
    url = f"/api/v1/members/{member['id']}/adjustments"
    r = client.post(url, json={"points": 5}, headers=program.headers("admin"))
    assert "reason" in problem_of(r, 422)["errors"]
    r = client.post(url, json={"points": 5, "reason": "   "}, headers=program.headers("admin"))
    assert "reason" in problem_of(r, 422)["errors"]
    assert balance(client, program, member["id"]) == 10


def test_an_adjustment_reason_of_300_characters_is_kept_whole(client, program, post_receipt):
    member = member_with_points(client, program, post_receipt)
    reason = "r" * 300
    url = f"/api/v1/members/{member['id']}/adjustments"
    r = client.post(url, json={"points": 1, "reason": reason}, headers=program.headers("admin"))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["description"] == reason
    [entry] = client.get("/api/v1/audit", headers=program.headers("admin")).get_json()
    assert entry["reason"] == reason


@pytest.mark.parametrize("role", ["marketer", "cashier", "BKK01"])
def test_only_an_admin_adjusts_points(client, program, post_receipt, role):
    member = member_with_points(client, program, post_receipt)
    url = f"/api/v1/members/{member['id']}/adjustments"
    r = client.post(url, json={"points": 5, "reason": "because"}, headers=program.headers(role))
    problem_of(r, 403)
    assert client.get("/api/v1/audit", headers=program.headers("admin")).get_json() == []


def test_a_negative_adjustment_never_takes_the_balance_below_zero(client, program, post_receipt):
    member = member_with_points(client, program, post_receipt)
    url = f"/api/v1/members/{member['id']}/adjustments"
    body = {"points": -11, "reason": "clawback"}
    r = client.post(url, json=body, headers=program.headers("admin"))
    assert problem_of(r, 409)["type"].endswith("insufficient-points")


# Anonymous receipt claims


def claim(client, headers: dict, external_id: str, total: str, **extra) -> object:
    body = {"external_id": external_id, "total": total, **extra}
    return client.post("/api/v1/transactions/claim", json=body, headers=headers)


def test_a_shopper_claims_an_anonymous_receipt_once(client, program, shopper, post_receipt):
    post_receipt(api_md_receipt("R-9", None))
    member = enrol(client, program)
    r = claim(client, shopper(member["id"]), "R-9", "130.00", store="BKK01")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["points_awarded"] == 5
    assert r.get_json()["member"] == {"id": member["id"], "points_balance": 5}
    problem_of(claim(client, shopper(member["id"]), "R-9", "130.00"), 404)
    other = enrol(client, program)
    problem_of(claim(client, shopper(other["id"]), "R-9", "130.00"), 404)
    assert balance(client, program, member["id"]) == 5


def test_a_claim_needs_the_right_total(client, program, shopper, post_receipt):
    post_receipt(api_md_receipt("R-9", None))
    member = enrol(client, program)
    problem_of(claim(client, shopper(member["id"]), "R-9", "131.00"), 404)
    assert claim(client, shopper(member["id"]), "R-9", "130.00").status_code == 200


def test_a_receipt_older_than_the_claim_window_cannot_be_claimed(
    app, client, program, shopper, post_receipt
):
    days = app.config["CLAIM_DAYS"]
    old = receipt("R-OLD", "130.00", None, occurred_at=utcnow() - timedelta(days=days + 1))
    recent = receipt("R-NEW", "130.00", None, occurred_at=utcnow() - timedelta(days=days - 1))
    post_receipt(old)
    post_receipt(recent)
    member = enrol(client, program)
    problem_of(claim(client, shopper(member["id"]), "R-OLD", "130.00"), 404)
    assert claim(client, shopper(member["id"]), "R-NEW", "130.00").status_code == 200


def test_a_receipt_that_named_a_member_cannot_be_claimed(client, program, shopper, post_receipt):
    owner = enrol(client, program)
    post_receipt(api_md_receipt("R-9", {"member_no": owner["member_no"]}))
    thief = enrol(client, program)
    problem_of(claim(client, shopper(thief["id"]), "R-9", "130.00"), 404)
    assert balance(client, program, thief["id"]) == 0

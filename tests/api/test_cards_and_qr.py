"""Membership cards through the HTTP API: QR images that decode to codes the till accepts,
rotating codes that expire, forged and blocked codes refused, card replacement, printed
cards that earn but cannot redeem, and brute force on code resolution rate limited."""

from __future__ import annotations

import io
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import zxingcpp
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageDraw
from sqlalchemy import select
from werkzeug.test import TestResponse

from loyalty import create_app
from loyalty.config import rate_limits
from loyalty.db import utcnow
from loyalty.extensions import db
from members.cards.codes import digital_code, time_step
from members.models import Card
from tests import conftest, factories
from tests.factories import Program, enrol, receipt, shopper_headers

STEP = 30  # the default CARD_CODE_STEP
PROBLEMS = "https://loyalty.example/problems/"
SVG = "{http://www.w3.org/2000/svg}"
UNIT_SQUARE = re.compile(r"M(\d+),(\d+)H(\d+)V(\d+)H(\d+)z")


# -- helpers ----------------------------------------------------------------------------


def current_code(client: FlaskClient, program: Program, member_id: int) -> str:
    r = client.get(f"/api/v1/members/{member_id}/card/code", headers=program.headers("cashier"))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["code"]


def resolve(client: FlaskClient, program: Program, code: str, who: str = "BKK01") -> TestResponse:
    return client.post("/api/v1/cards/resolve", json={"code": code}, headers=program.headers(who))


def assert_problem(response: TestResponse, status: int, slug: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["type"] == PROBLEMS + slug
    assert body["status"] == status
    return body


def card_secret(app: Flask, card_no: str) -> bytes:
    with app.app_context():
        secret = db.session.scalar(select(Card.secret).where(Card.card_no == card_no))
    assert secret is not None
    return bytes.fromhex(secret)


def steady_now() -> None:
    """Wait out the last seconds of a code step, so a code made now is not about to age."""
    left = STEP - utcnow().timestamp() % STEP
    if left < 3:
        time.sleep(left + 0.05)


def decode_qr(image: Image.Image) -> str:
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1, found
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return found[0].text


def rasterise_svg(svg: bytes, scale: int = 8) -> Image.Image:
    """Draw qrcode's SVG path (one unit square per dark module) as a bitmap."""
    root = ET.fromstring(svg)
    width, height = (int(v) for v in root.attrib["viewBox"].split()[2:])
    (path,) = root.iter(f"{SVG}path")
    squares = UNIT_SQUARE.findall(path.attrib["d"])
    assert "".join(f"M{x},{y}H{r}V{b}H{x2}z" for x, y, r, b, x2 in squares) == path.attrib["d"]
    image = Image.new("L", (width * scale, height * scale), 255)
    draw = ImageDraw.Draw(image)
    for x, y, right, bottom, _ in squares:
        box = (int(x) * scale, int(y) * scale, int(right) * scale - 1, int(bottom) * scale - 1)
        draw.rectangle(box, fill=0)
    return image


def earn(client: FlaskClient, program: Program, external_id: str, total: str, member: dict):
    r = client.post(
        "/api/v1/transactions",
        json=receipt(external_id, total, member),
        headers=program.headers("BKK01"),
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


# -- QR images ---------------------------------------------------------------------------


def test_the_card_png_decodes_to_a_code_that_the_till_resolves_to_the_member(client, program):
    member = enrol(client, program)
    steady_now()
    r = client.get(f"/api/v1/members/{member['id']}/card/qr.png", headers=program.headers("admin"))
    assert r.status_code == 200
    assert r.mimetype == "image/png"
    assert r.headers["Cache-Control"] == "no-store"
    code = decode_qr(Image.open(io.BytesIO(r.data)))
    assert code.startswith(f"LD1.{member['card']['card_no']}.")
    resolved = resolve(client, program, code)
    assert resolved.status_code == 200, resolved.get_json()
    body = resolved.get_json()
    assert body["member_id"] == member["id"]
    assert body["member_no"] == member["member_no"]
    assert body["name"] == member["name"]
    assert body["points_balance"] == 0
    assert body["code_kind"] == "digital"
    assert body["can_redeem"] is True


def test_the_member_themself_can_fetch_their_card_png(client, program):
    member = enrol(client, program)
    with client.application.app_context():
        headers = shopper_headers(member["id"])
    r = client.get(f"/api/v1/members/{member['id']}/card/qr.png", headers=headers)
    assert r.status_code == 200
    assert decode_qr(Image.open(io.BytesIO(r.data))).startswith("LD1.")


def test_the_card_svg_is_valid_svg_that_encodes_the_same_code(client, program):
    member = enrol(client, program)
    steady_now()
    r = client.get(f"/api/v1/members/{member['id']}/card/qr.svg", headers=program.headers("admin"))
    assert r.status_code == 200
    assert r.mimetype == "image/svg+xml"
    assert r.headers["Cache-Control"] == "no-store"
    root = ET.fromstring(r.data)
    assert root.tag == f"{SVG}svg"
    assert root.attrib["viewBox"].startswith("0 0 ")
    code = decode_qr(rasterise_svg(r.data))
    assert code == current_code(client, program, member["id"])
    assert resolve(client, program, code).get_json()["member_id"] == member["id"]


def test_a_printed_cards_png_carries_its_static_code(client, program):
    member = enrol(client, program, card_kind="printed")
    r = client.get(f"/api/v1/members/{member['id']}/card/qr.png", headers=program.headers("admin"))
    code = decode_qr(Image.open(io.BytesIO(r.data)))
    assert code == current_code(client, program, member["id"])
    assert code.startswith(f"LP1.{member['card']['card_no']}.")


# -- rotating codes -----------------------------------------------------------------------


def test_the_card_code_says_when_it_stops_being_the_current_one(client, program):
    member = enrol(client, program)
    r = client.get(f"/api/v1/members/{member['id']}/card/code", headers=program.headers("admin"))
    body = r.get_json()
    assert body["kind"] == "digital"
    step = int(body["code"].split(".")[2])
    assert body["expires_at"] is not None
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at.timestamp() == (step + 1) * STEP


def test_the_previous_steps_code_is_still_accepted(app, client, program):
    member = enrol(client, program)
    card_no = member["card"]["card_no"]
    steady_now()
    code, _ = digital_code(
        card_no, card_secret(app, card_no), utcnow() - timedelta(seconds=STEP), STEP
    )
    assert int(code.split(".")[2]) == time_step(utcnow(), STEP) - 1
    r = resolve(client, program, code)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["member_id"] == member["id"]


@pytest.mark.parametrize("age", [timedelta(seconds=2 * STEP), timedelta(days=1)])
def test_a_rotating_code_from_two_or_more_steps_ago_is_refused_as_expired(
    app, client, program, age
):
    member = enrol(client, program)
    card_no = member["card"]["card_no"]
    code, _ = digital_code(card_no, card_secret(app, card_no), utcnow() - age, STEP)
    body = assert_problem(resolve(client, program, code), 410, "code-expired")
    assert "expired" in body["detail"]


def test_a_code_with_a_changed_mac_is_refused_as_invalid(client, program):
    member = enrol(client, program)
    code = current_code(client, program, member["id"])
    head, mac = code.rsplit(".", 1)
    forged = f"{head}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    assert_problem(resolve(client, program, forged), 404, "code-invalid")


def test_a_code_signed_with_another_secret_is_refused_as_invalid(client, program):
    member = enrol(client, program)
    code, _ = digital_code(member["card"]["card_no"], b"\x00" * 32, utcnow(), STEP)
    assert_problem(resolve(client, program, code), 404, "code-invalid")


def test_a_code_for_a_future_step_is_refused_as_invalid(app, client, program):
    member = enrol(client, program)
    card_no = member["card"]["card_no"]
    later = utcnow() + timedelta(seconds=5 * STEP)
    code, _ = digital_code(card_no, card_secret(app, card_no), later, STEP)
    assert_problem(resolve(client, program, code), 404, "code-invalid")


def test_anothers_code_moved_onto_this_card_number_is_refused(client, program):
    mine, theirs = enrol(client, program), enrol(client, program)
    code = current_code(client, program, theirs["id"])
    moved = code.replace(theirs["card"]["card_no"], mine["card"]["card_no"])
    assert_problem(resolve(client, program, moved), 404, "code-invalid")


@pytest.mark.parametrize("text", ["hello", "LD1.123.456.ABC", "LP1.800000000000.X"])
def test_text_that_is_not_a_card_code_is_refused_as_invalid(client, program, text):
    assert_problem(resolve(client, program, text), 404, "code-invalid")


# -- blocking and replacing ---------------------------------------------------------------


def test_a_blocked_cards_codes_are_refused_until_it_is_unblocked(client, program):
    member = enrol(client, program)
    card_no = member["card"]["card_no"]
    steady_now()
    code = current_code(client, program, member["id"])
    r = client.post(
        f"/api/v1/members/{member['id']}/cards/{card_no}/block", headers=program.headers("cashier")
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "blocked"
    assert_problem(resolve(client, program, code), 410, "card-blocked")
    client.post(
        f"/api/v1/members/{member['id']}/cards/{card_no}/unblock", headers=program.headers("admin")
    )
    assert resolve(client, program, code).status_code == 200


def test_a_blocked_printed_cards_static_code_cannot_earn(client, program):
    member = enrol(client, program, card_kind="printed")
    card_no = member["card"]["card_no"]
    static = current_code(client, program, member["id"])
    client.post(
        f"/api/v1/members/{member['id']}/cards/{card_no}/block", headers=program.headers("admin")
    )
    assert_problem(resolve(client, program, static), 410, "card-blocked")
    r = client.post(
        "/api/v1/transactions",
        json=receipt("R-BLOCKED", "130.00", {"code": static}),
        headers=program.headers("BKK01"),
    )
    assert r.status_code == 422
    assert "member.code" in r.get_json()["errors"]


def test_after_replacing_a_card_the_old_codes_die_and_the_new_card_keeps_the_balance(
    client, program
):
    member = enrol(client, program)
    steady_now()
    old_code = current_code(client, program, member["id"])
    earn(client, program, "R-BEFORE", "250.00", {"code": old_code})
    r = client.post(
        f"/api/v1/members/{member['id']}/card/replace", json={}, headers=program.headers("cashier")
    )
    assert r.status_code == 201, r.get_json()
    new_card = r.get_json()
    assert new_card["card_no"] != member["card"]["card_no"]
    assert new_card["status"] == "active"

    assert_problem(resolve(client, program, old_code), 410, "card-replaced")
    new_code = current_code(client, program, member["id"])
    assert new_code.startswith(f"LD1.{new_card['card_no']}.")
    resolved = resolve(client, program, new_code).get_json()
    assert resolved["member_id"] == member["id"]
    assert resolved["points_balance"] == 10
    profile = client.get(f"/api/v1/members/{member['id']}", headers=program.headers("admin"))
    assert profile.get_json()["card"]["card_no"] == new_card["card_no"]


def test_a_replaced_cards_code_can_neither_earn_nor_redeem(client, program):
    member = enrol(client, program)
    steady_now()
    old_code = current_code(client, program, member["id"])
    earn(client, program, "R-1", "250.00", {"code": old_code})
    client.post(
        f"/api/v1/members/{member['id']}/card/replace", json={}, headers=program.headers("admin")
    )
    r = client.post(
        "/api/v1/transactions",
        json=receipt("R-2", "100.00", {"code": old_code}),
        headers=program.headers("BKK01"),
    )
    assert r.status_code == 422
    r = client.post(
        "/api/v1/redemptions",
        json={"member_id": member["id"], "points": 5, "code": old_code},
        headers=program.headers("BKK01"),
    )
    assert_problem(r, 410, "card-replaced")
    new_code = current_code(client, program, member["id"])
    r = client.post(
        "/api/v1/redemptions",
        json={"member_id": member["id"], "points": 5, "code": new_code},
        headers=program.headers("BKK01"),
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["balance_after"] == 5


# -- printed cards ------------------------------------------------------------------------


def test_a_printed_cards_static_code_identifies_the_member_for_earning(client, program):
    member = enrol(client, program, card_kind="printed")
    static = current_code(client, program, member["id"])
    resolved = resolve(client, program, static).get_json()
    assert resolved["member_id"] == member["id"]
    assert resolved["code_kind"] == "static"
    assert resolved["can_redeem"] is False
    result = earn(client, program, "R-PRINTED", "130.00", {"code": static})
    assert result["points_awarded"] == 5
    assert result["member"] == {"id": member["id"], "points_balance": 5}


def test_a_printed_cards_static_code_cannot_authorise_a_redemption(client, program):
    member = enrol(client, program, card_kind="printed")
    static = current_code(client, program, member["id"])
    earn(client, program, "R-PRINTED", "250.00", {"code": static})
    for who in ("BKK01", "cashier"):
        r = client.post(
            "/api/v1/redemptions",
            json={"member_id": member["id"], "points": 5, "code": static},
            headers=program.headers(who),
        )
        body = assert_problem(r, 422, "validation-error")
        assert "code" in body["errors"]
    profile = client.get(f"/api/v1/members/{member['id']}", headers=program.headers("admin"))
    assert profile.get_json()["points_balance"] == 10


def test_a_forged_static_code_is_refused(client, program):
    member = enrol(client, program, card_kind="printed")
    static = current_code(client, program, member["id"])
    head, mac = static.rsplit(".", 1)
    forged = f"{head}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    assert_problem(resolve(client, program, forged), 404, "code-invalid")


def test_a_till_redemption_needs_the_code_of_the_member_redeeming(client, program):
    member, other = enrol(client, program), enrol(client, program)
    steady_now()
    earn(client, program, "R-1", "250.00", {"member_no": member["member_no"]})
    r = client.post(
        "/api/v1/redemptions",
        json={
            "member_id": member["id"],
            "points": 5,
            "code": current_code(client, program, other["id"]),
        },
        headers=program.headers("BKK01"),
    )
    assert "code" in assert_problem(r, 422, "validation-error")["errors"]
    r = client.post(
        "/api/v1/redemptions",
        json={"member_id": member["id"], "points": 5},
        headers=program.headers("BKK01"),
    )
    assert "code" in assert_problem(r, 422, "validation-error")["errors"]


# -- brute force -----------------------------------------------------------------------------


@pytest.fixture
def limited(database_url: str) -> Iterator[tuple[FlaskClient, Program]]:
    """A service whose code resolution allows 5 failures per caller and minute."""
    limits = {**rate_limits(), "resolve": (5, 60)}
    app = create_app(conftest.test_config(database_url, RATE_LIMITS=limits))
    with app.app_context():
        program = factories.make_program(app)
    yield app.test_client(), program
    with app.app_context():
        conftest.empty_database()
        db.engine.dispose()


def wrong_guess(card_no: str, n: int) -> str:
    return f"LD1.{card_no}.{time_step(utcnow(), STEP)}.GUESS{n:011d}"


def test_guessing_codes_is_rate_limited_after_the_configured_number_of_failures(limited):
    client, program = limited
    member = enrol(client, program)
    for n in range(5):
        assert_problem(
            resolve(client, program, wrong_guess(member["card"]["card_no"], n)), 404, "code-invalid"
        )
    r = resolve(client, program, wrong_guess(member["card"]["card_no"], 5))
    assert_problem(r, 429, "rate-limited")
    assert int(r.headers["Retry-After"]) > 0


def test_a_rate_limited_caller_cannot_tell_a_right_guess_from_a_wrong_one(limited):
    client, program = limited
    member = enrol(client, program)
    steady_now()
    for n in range(6):
        resolve(client, program, wrong_guess(member["card"]["card_no"], n))
    genuine = current_code(client, program, member["id"])
    assert_problem(resolve(client, program, genuine), 429, "rate-limited")


def test_the_failure_limit_is_counted_per_caller(limited):
    client, program = limited
    member = enrol(client, program)
    steady_now()
    for n in range(6):
        resolve(client, program, wrong_guess(member["card"]["card_no"], n), who="BKK01")
    assert resolve(client, program, wrong_guess(member["card"]["card_no"], 9)).status_code == 429
    genuine = current_code(client, program, member["id"])
    r = resolve(client, program, genuine, who="BKK02")
    assert r.status_code == 200, r.get_json()


def test_successful_resolutions_do_not_count_towards_the_limit(limited):
    client, program = limited
    member = enrol(client, program)
    steady_now()
    genuine = current_code(client, program, member["id"])
    for _ in range(10):
        assert resolve(client, program, genuine).status_code == 200
    assert resolve(client, program, wrong_guess(member["card"]["card_no"], 0)).status_code == 404

"""The shopper's card page and the cashier's till page, driven in headless Chromium.

Data is made through the public API (the test client on the same database); the pages are
used as a person uses them, against the app served over HTTP.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import zxingcpp
from flask.testing import FlaskClient
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from loyalty.db import utcnow
from members.tiers.policy import add_months
from tests.e2e.conftest import FAST_CODE_STEP, TILL
from tests.factories import Program, enrol, receipt, shopper_headers

OTP_IN_MESSAGE = re.compile(r"code is (\d{6})")
CASHIER = ("cashier@example.com", "password123")
BANGKOK = ZoneInfo("Asia/Bangkok")
THAI_MONTHS = [
    "ม.ค.",
    "ก.พ.",
    "มี.ค.",
    "เม.ย.",
    "พ.ค.",
    "มิ.ย.",
    "ก.ค.",
    "ส.ค.",
    "ก.ย.",
    "ต.ค.",
    "พ.ย.",
    "ธ.ค.",
]

# --- helpers -------------------------------------------------------------------------------


def one_time_code(runner, destination: str) -> str:
    """The newest one-time code sent to `destination`, read from the message outbox (CLI)."""
    result = runner.invoke(args=["messages", "list", "--to", destination, "--limit", "1"])
    assert result.exit_code == 0, result.output
    found = OTP_IN_MESSAGE.search(result.output)
    assert found, result.output
    return found.group(1)


def member_with_points(
    client: FlaskClient, program: Program, phone: str, total: str, **fields
) -> dict:
    """Enrol a member and record a sale for them: 1 point per 25.00."""
    member = enrol(client, program, phone=phone, **fields)
    sale = receipt(f"R-{phone}", total, {"member_no": member["member_no"]})
    response = client.post("/api/v1/transactions", json=sale, headers=program.headers("BKK01"))
    assert response.status_code == 201, response.get_json()
    return member


def buy(client: FlaskClient, program: Program, member: dict, total: str, at: datetime) -> None:
    """A sale for the member at `at`, pushed by store BKK01: 1 point per 25.00, times the
    tier's multiplier."""
    number = f"R-{member['id']}-{at:%Y%m%d%H%M%S}"
    body = receipt(number, total, {"member_no": member["member_no"]}, occurred_at=at)
    response = client.post("/api/v1/transactions", json=body, headers=program.headers("BKK01"))
    assert response.status_code == 201, response.get_json()


def set_tiers(client: FlaskClient, program: Program, basis: str, *steps: tuple[str, str]) -> None:
    """Put a ladder in force, (code, threshold) from the lowest tier up: 12 rolling months,
    gold earning double."""
    tiers = [
        {"code": code, "threshold": threshold, "multiplier": "2" if code == "gold" else "1"}
        for code, threshold in steps
    ]
    doc = {"basis": basis, "window": {"type": "rolling", "months": 12}, "tiers": tiers}
    response = client.put("/api/v1/tiers", json=doc, headers=program.headers("admin"))
    assert response.status_code == 200, response.get_json()


def review_of(reached: datetime) -> datetime:
    """The review of a tier reached at `reached`: 00:00 (Bangkok) 12 months after the next day."""
    held_from = reached.astimezone(BANGKOK).date() + timedelta(days=1)
    due = add_months(held_from, 12)
    return datetime(due.year, due.month, due.day, tzinfo=BANGKOK)


def thai_date(at: datetime) -> str:
    """`at` as the Thai page shows it: Buddhist year, abbreviated month, 24-hour time."""
    return f"{at.day} {THAI_MONTHS[at.month - 1]} {at.year + 543} {at:%H:%M}"


def english_date(at: datetime) -> str:
    return f"{at.day} {at:%b} {at.year}, {at:%H:%M}"


def add_reward(client: FlaskClient, program: Program, name: str, cost: int) -> dict:
    body = {"name": name, "points_cost": cost, "description": f"{name} at any store"}
    response = client.post("/api/v1/rewards", json=body, headers=program.headers("admin"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def balance(client: FlaskClient, program: Program, member_id: int) -> int:
    response = client.get(f"/api/v1/members/{member_id}", headers=program.headers("admin"))
    return response.get_json()["points_balance"]


def card_code(client: FlaskClient, program: Program, member_id: int) -> str:
    path = f"/api/v1/members/{member_id}/card/code"
    return client.get(path, headers=program.headers("cashier")).get_json()["code"]


def fresh_code(page: Page, base: str, program: Program, member_id: int) -> str:
    """A card code taken just after its step began, so it lasts the longest it can."""
    url = f"{base}/api/v1/members/{member_id}/card/code"
    first = page.request.get(url, headers=program.headers("cashier")).json()
    wait = datetime.fromisoformat(first["expires_at"]) - datetime.now(UTC)
    page.wait_for_timeout(max(wait.total_seconds(), 0) * 1000 + 50)
    return page.request.get(url, headers=program.headers("cashier")).json()["code"]


def read_qr(image: Locator) -> str | None:
    """Screenshot the QR image as shown and decode it; None when no single code is readable."""
    expect(image).to_have_attribute("src", re.compile(r"^blob:"))
    image.page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.screenshot())))
    return found[0].text if len(found) == 1 else None


def decode_qr(image: Locator) -> str:
    """The QR image's text; read again if the first look caught the image being replaced."""
    for _look in range(3):
        if text := read_qr(image):
            return text
        image.page.wait_for_timeout(100)
    raise AssertionError("the QR image does not decode")


def sign_in_shopper(
    open_page: Callable[..., Page], base: str, runner, phone: str, **options
) -> Page:
    page = open_page(f"{base}/card", **options)
    page.get_by_label("เบอร์โทรศัพท์หรืออีเมล").fill(phone)
    page.get_by_role("button", name="ขอรหัส").click()
    expect(page.get_by_label("รหัสผ่านครั้งเดียว")).to_be_visible()
    page.get_by_label("รหัสผ่านครั้งเดียว").fill(one_time_code(runner, e164(phone)))
    page.get_by_role("button", name="เข้าสู่ระบบ").click()
    expect(page.locator("#member")).to_be_visible()
    return page


def sign_in_cashier(open_page: Callable[..., Page], base: str, **options) -> Page:
    page = open_page(f"{base}/till", **{**TILL, **options})
    page.get_by_label("อีเมล").fill(CASHIER[0])
    page.get_by_label("รหัสผ่าน").fill(CASHIER[1])
    page.get_by_role("button", name="เข้าสู่ระบบ").click()
    expect(page.locator("#till")).to_be_visible()
    return page


def claim_receipt(page: Page, number: str, total: str) -> None:
    page.get_by_label("เลขที่ใบเสร็จ").fill(number)
    page.get_by_label("ยอดรวม").fill(total)
    page.get_by_role("button", name="รับแต้ม").click()


def scan(page: Page, code: str) -> None:
    """What a USB scanner does: type the code into the focused field, then press Enter."""
    field = page.get_by_label("รหัสบัตรสมาชิก")
    expect(field).to_be_focused()
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def e164(thai_phone: str) -> str:
    return "+66" + thai_phone[1:]


def forged(code: str) -> str:
    """The same code with another signature."""
    head, mac = code.rsplit(".", 1)
    return f"{head}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"


def shot(page: Page, screenshots: Path, name: str) -> None:
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


# --- the landing page ----------------------------------------------------------------------


def test_the_landing_page_links_to_the_card_page_and_the_till(live_server, open_page, screenshots):
    page = open_page(f"{live_server}/")
    expect(page.get_by_role("heading", name="ยินดีต้อนรับ")).to_be_visible()
    shot(page, screenshots, "landing")
    page.get_by_role("link", name=re.compile("บัตรสมาชิกของฉัน")).click()
    expect(page).to_have_url(f"{live_server}/card")
    page.go_back()
    page.get_by_role("link", name=re.compile("หน้าจอแคชเชียร์")).click()
    expect(page).to_have_url(f"{live_server}/till")


def test_every_control_on_the_pages_has_a_label_and_the_pages_default_to_thai(
    live_server, open_page
):
    unlabelled = """() => [...document.querySelectorAll('input, select, button, video, img')]
        .filter(el => {
          if (el.tagName === 'IMG') return !el.hasAttribute('alt');
          const named = el.getAttribute('aria-label') || (el.labels && el.labels.length)
            || (el.tagName === 'BUTTON' && el.textContent.trim());
          return !named;
        }).map(el => el.id || el.outerHTML)"""
    for path in ("/", "/card", "/till"):
        page = open_page(f"{live_server}{path}")
        expect(page.locator("html")).to_have_attribute("lang", "th")
        expect(page.locator("#loading")).to_be_hidden()
        assert page.evaluate(unlabelled) == [], path


# --- the shopper's card page ---------------------------------------------------------------


def test_a_shopper_signs_in_with_a_one_time_code_and_sees_their_card_and_a_qr_the_till_resolves(
    client, program, runner, live_server, open_page, screenshots
):
    member = member_with_points(client, program, "0812340001", "5000.00", name="สมศรี มีสุข")
    page = sign_in_shopper(open_page, live_server, runner, "0812340001")

    expect(page.locator("#member-name")).to_have_text("สมศรี มีสุข")
    expect(page.locator("#member-no")).to_have_text(member["member_no"])
    expect(page.locator("#member-tier")).to_have_text("สมาชิก")
    expect(page.locator("#points-balance")).to_have_text("200")
    expect(page.locator("#points-pending")).to_have_text("รอดำเนินการ 0 แต้ม")
    expect(page.locator("#tier-text")).to_have_text("คุณอยู่ในระดับสูงสุดแล้ว")
    expect(page.locator("#tier-keep")).to_be_hidden()
    expect(page.locator("#tier-qualifying")).to_have_text("ยอดใช้จ่ายสะสม ฿5,000.00")
    expect(page.locator("#history li")).to_have_count(1)
    expect(page.locator("#history li").first).to_contain_text("+200")
    expect(page.locator("#qr-countdown")).to_have_text(re.compile(r"^รหัสใหม่ใน \d+ วินาที$"))
    code = decode_qr(page.locator("#card-qr"))
    shot(page, screenshots, "card")

    resolved = client.post(
        "/api/v1/cards/resolve", json={"code": code}, headers=program.headers("BKK01")
    )
    assert resolved.status_code == 200, resolved.get_json()
    assert resolved.get_json()["member_id"] == member["id"]
    assert resolved.get_json()["can_redeem"] is True


def test_a_shopper_stays_signed_in_on_reload_and_signing_out_forgets_the_token(
    client, program, runner, live_server, open_page
):
    member_with_points(client, program, "0812340002", "100.00")
    page = sign_in_shopper(open_page, live_server, runner, "0812340002")
    page.reload()
    expect(page.locator("#points-balance")).to_have_text("4")
    page.get_by_role("button", name="ออกจากระบบ").click()
    expect(page.get_by_label("เบอร์โทรศัพท์หรืออีเมล")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('loyalty.shopper')") is None
    page.reload()
    expect(page.get_by_label("เบอร์โทรศัพท์หรืออีเมล")).to_be_visible()


def test_a_wrong_one_time_code_is_refused_on_the_card_page(
    client, program, runner, live_server, open_page, screenshots
):
    enrol(client, program, phone="0812340003")
    page = open_page(f"{live_server}/card")
    page.get_by_label("เบอร์โทรศัพท์หรืออีเมล").fill("0812340003")
    page.get_by_role("button", name="ขอรหัส").click()
    expect(page.get_by_role("status")).to_contain_text("0812340003")
    right = one_time_code(runner, "+66812340003")
    page.get_by_label("รหัสผ่านครั้งเดียว").fill(f"{(int(right) + 1) % 10**6:06d}")
    page.get_by_role("button", name="เข้าสู่ระบบ").click()
    expect(page.get_by_role("alert")).to_have_text("รหัสไม่ถูกต้องหรือหมดอายุ")
    expect(page.locator("#member")).to_be_hidden()
    shot(page, screenshots, "card-signin")


def test_the_card_page_shows_a_new_qr_code_when_the_shown_one_expires(
    client, program, runner, fast_codes_server, open_page
):
    member = enrol(client, program, phone="0812340004")
    page = sign_in_shopper(open_page, fast_codes_server, runner, "0812340004")
    first = decode_qr(page.locator("#card-qr"))
    deadline = time.monotonic() + 4 * FAST_CODE_STEP
    latest = first
    while latest in (first, None) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        latest = read_qr(page.locator("#card-qr"))
    assert latest != first, "the QR code did not change after its code expired"
    resolved = page.request.post(
        f"{fast_codes_server}/api/v1/cards/resolve",
        data={"code": latest},
        headers=program.headers("BKK01"),
    )
    assert resolved.status == 200, resolved.text()
    assert resolved.json()["member_id"] == member["id"]


def test_a_shopper_redeems_a_reward_they_can_afford_and_sees_the_voucher(
    client, program, runner, live_server, open_page, screenshots
):
    member = member_with_points(client, program, "0812340005", "5000.00")
    add_reward(client, program, "ลาเต้ฟรี", 100)
    add_reward(client, program, "กระเป๋าผ้า", 500)
    page = sign_in_shopper(open_page, live_server, runner, "0812340005")

    tote = page.locator("#rewards li", has_text="กระเป๋าผ้า")
    expect(tote).to_contain_text("ขาดอีก 300 แต้ม")
    expect(tote.get_by_role("button")).to_have_count(0)
    page.get_by_role("button", name="แลก ลาเต้ฟรี").click()
    page.get_by_role("button", name="ยืนยันใช้ 100 แต้ม").click()

    expect(page.locator("#voucher")).to_be_visible()
    expect(page.locator("#voucher-reward")).to_have_text("ลาเต้ฟรี")
    expect(page.locator("#points-balance")).to_have_text("100")
    voucher_code = page.locator("#voucher-code").inner_text()
    assert decode_qr(page.locator("#voucher-qr")) == voucher_code
    page.locator("#voucher").scroll_into_view_if_needed()
    shot(page, screenshots, "card-voucher")

    voucher = client.get(f"/api/v1/vouchers/{voucher_code}", headers=program.headers("cashier"))
    assert voucher.status_code == 200
    assert voucher.get_json()["member_id"] == member["id"]
    assert voucher.get_json()["status"] == "issued"
    assert balance(client, program, member["id"]) == 100


def test_a_shopper_claims_an_anonymous_receipt_once_and_gets_its_points(
    client, program, runner, live_server, open_page
):
    member = enrol(client, program, phone="0812340006")
    anonymous = receipt("R-ANON-1", "250.00")
    response = client.post("/api/v1/transactions", json=anonymous, headers=program.headers("BKK01"))
    assert response.status_code == 201
    page = sign_in_shopper(open_page, live_server, runner, "0812340006")

    claim_receipt(page, "R-ANON-1", "250.00")
    expect(page.locator("#claim-status")).to_have_text("ได้รับ 10 แต้มจากใบเสร็จ R-ANON-1")
    expect(page.locator("#points-balance")).to_have_text("10")
    expect(page.locator("#history li").first).to_contain_text("+10")
    claim_receipt(page, "R-ANON-1", "250.00")
    expect(page.locator("#claim-error")).to_have_text(re.compile("^ไม่พบใบเสร็จ"))
    expect(page.locator("#points-balance")).to_have_text("10")
    assert balance(client, program, member["id"]) == 10


def test_under_a_points_ladder_the_card_shows_tier_progress_in_points(
    client, program, runner, live_server, open_page, screenshots
):
    set_tiers(client, program, "points", ("member", "0"), ("silver", "100"), ("gold", "500"))
    member = enrol(client, program, phone="0812340020")
    reached = utcnow() - timedelta(days=10)
    buy(client, program, member, "3000.00", reached)  # 120 points: silver
    buy(client, program, member, "250.00", utcnow())  # 10 points, the first that keep silver
    page = sign_in_shopper(open_page, live_server, runner, "0812340020", timezone_id="Asia/Bangkok")
    bar = page.locator("#tier-progress")
    review = review_of(reached)

    expect(page.locator("#member-tier")).to_have_text("ซิลเวอร์")
    expect(bar).to_have_js_property("max", 500)
    expect(bar).to_have_js_property("value", 130)
    expect(page.locator("#tier-text")).to_have_text("สะสมอีก 370 แต้มเพื่อเลื่อนเป็นระดับ โกลด์")
    expect(page.locator("#tier-keep")).to_have_text(
        f"สะสมอีก 90 แต้มก่อน {thai_date(review)} เพื่อรักษาระดับ ซิลเวอร์"
    )
    expect(page.locator("#tier-qualifying")).to_have_text("แต้มสะสมเพื่อจัดระดับ 130 แต้ม")
    expect(page.locator("section", has=bar)).not_to_contain_text("฿")
    shot(page, screenshots, "card-tier-points")

    page.get_by_role("button", name="Switch to English").click()
    expect(page.locator("#tier-text")).to_have_text("Earn 370 more points to reach Gold")
    expect(page.locator("#tier-keep")).to_have_text(
        f"Earn 90 more points before {english_date(review)} to keep Silver"
    )
    expect(page.locator("#tier-qualifying")).to_have_text("Qualifying points 130")
    expect(bar).to_have_js_property("value", 130)


def test_under_a_spend_ladder_the_card_shows_tier_progress_in_money(
    client, program, runner, live_server, open_page
):
    set_tiers(client, program, "spend", ("member", "0"), ("silver", "1000.00"), ("gold", "5000.00"))
    member = enrol(client, program, phone="0812340021")
    reached = utcnow() - timedelta(days=10)
    buy(client, program, member, "1200.00", reached)  # silver
    buy(client, program, member, "300.00", utcnow())
    page = sign_in_shopper(open_page, live_server, runner, "0812340021", timezone_id="Asia/Bangkok")
    bar = page.locator("#tier-progress")
    review = review_of(reached)

    expect(page.locator("#member-tier")).to_have_text("ซิลเวอร์")
    expect(bar).to_have_js_property("max", 500_000)  # in satang
    expect(bar).to_have_js_property("value", 150_000)
    expect(page.locator("#tier-text")).to_have_text("ใช้จ่ายอีก ฿3,500.00 เพื่อเลื่อนเป็นระดับ โกลด์")
    expect(page.locator("#tier-keep")).to_have_text(
        f"ใช้จ่ายอีก ฿700.00 ก่อน {thai_date(review)} เพื่อรักษาระดับ ซิลเวอร์"
    )
    expect(page.locator("#tier-qualifying")).to_have_text("ยอดใช้จ่ายสะสม ฿1,500.00")

    page.get_by_role("button", name="Switch to English").click()
    expect(page.locator("#tier-text")).to_have_text("Spend ฿3,500.00 more to reach Gold")
    expect(page.locator("#tier-keep")).to_have_text(
        f"Spend ฿700.00 more before {english_date(review)} to keep Silver"
    )
    expect(page.locator("#tier-qualifying")).to_have_text("Qualifying spend ฿1,500.00")


def test_at_the_top_of_a_points_ladder_the_card_shows_a_full_bar_and_the_kept_tier(
    client, program, runner, live_server, open_page
):
    set_tiers(client, program, "points", ("member", "0"), ("silver", "100"), ("gold", "500"))
    member = enrol(client, program, phone="0812340022")
    reached = utcnow() - timedelta(days=10)
    buy(client, program, member, "15000.00", reached)  # 600 points: gold
    buy(client, program, member, "12500.00", utcnow())  # 1,000 points at double: gold is kept
    page = sign_in_shopper(open_page, live_server, runner, "0812340022", timezone_id="Asia/Bangkok")
    bar = page.locator("#tier-progress")
    review = review_of(reached)

    expect(page.locator("#member-tier")).to_have_text("โกลด์")
    expect(bar).to_have_js_property("max", 1)
    expect(bar).to_have_js_property("value", 1)
    expect(page.locator("#tier-text")).to_have_text("คุณอยู่ในระดับสูงสุดแล้ว")
    expect(page.locator("#tier-keep")).to_have_text(
        f"คุณรักษาระดับ โกลด์ ได้แล้วในการทบทวนระดับวันที่ {thai_date(review)}"
    )
    expect(page.locator("#tier-qualifying")).to_have_text("แต้มสะสมเพื่อจัดระดับ 1,600 แต้ม")

    page.get_by_role("button", name="Switch to English").click()
    expect(page.locator("#tier-text")).to_have_text("You are in the top tier")
    expect(page.locator("#tier-keep")).to_have_text(
        f"You keep Gold at the review on {english_date(review)}"
    )
    expect(page.locator("#tier-qualifying")).to_have_text("Qualifying points 1,600")


def test_the_language_toggle_switches_between_thai_and_english_and_is_remembered(
    live_server, open_page
):
    page = open_page(f"{live_server}/card")
    expect(page.get_by_role("heading", name="เข้าสู่ระบบสมาชิก")).to_be_visible()
    page.get_by_role("button", name="Switch to English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Member sign-in")).to_be_visible()
    expect(page.get_by_label("Phone number or email")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Member sign-in")).to_be_visible()
    page.get_by_role("button", name="เปลี่ยนเป็นภาษาไทย").click()
    expect(page.locator("html")).to_have_attribute("lang", "th")
    expect(page.get_by_role("heading", name="เข้าสู่ระบบสมาชิก")).to_be_visible()


# --- the cashier's till page ---------------------------------------------------------------


def test_a_cashier_scans_a_members_code_sees_the_member_and_redeems_points(
    client, program, live_server, open_page, screenshots
):
    member = member_with_points(client, program, "0812340010", "5000.00", name="วิชัย ทองดี")
    page = sign_in_cashier(open_page, live_server)
    expect(page.locator("#staff-who")).to_have_text("พนักงาน: แคชเชียร์")
    scan(page, card_code(client, program, member["id"]))

    expect(page.locator("#till-member-name")).to_have_text("วิชัย ทองดี")
    expect(page.locator("#till-member-no")).to_have_text(member["member_no"])
    expect(page.locator("#till-member-tier")).to_have_text("สมาชิก")
    expect(page.locator("#till-balance")).to_have_text("200")
    expect(page.locator("#till-authorise")).to_have_text("รหัสนี้ใช้ยืนยันการแลกแต้มได้")
    page.get_by_label("จำนวนแต้มที่จะแลก").fill("50")
    page.get_by_role("button", name="แลกแต้ม", exact=True).click()

    expect(page.locator("#redeem-result")).to_have_text("แลก 50 แต้มแล้ว คงเหลือ 150 แต้ม")
    expect(page.locator("#till-balance")).to_have_text("150")
    shot(page, screenshots, "till")
    assert balance(client, program, member["id"]) == 150
    ledger = client.get(
        f"/api/v1/members/{member['id']}/ledger", headers=program.headers("admin")
    ).get_json()
    assert [(e["kind"], e["points"]) for e in ledger] == [("redeem", -50), ("earn", 200)]


def test_the_till_refuses_to_redeem_more_points_than_the_member_has(
    client, program, live_server, open_page
):
    member = member_with_points(client, program, "0812340011", "5000.00")
    page = sign_in_cashier(open_page, live_server)
    scan(page, card_code(client, program, member["id"]))
    page.get_by_label("จำนวนแต้มที่จะแลก").fill("201")
    page.get_by_role("button", name="แลกแต้ม", exact=True).click()

    expect(page.locator("#redeem-error")).to_have_text("แต้มไม่พอ")
    expect(page.locator("#till-balance")).to_have_text("200")
    assert balance(client, program, member["id"]) == 200


def test_the_till_redeems_a_reward_with_the_scanned_code_and_shows_the_voucher_code(
    client, program, live_server, open_page
):
    member = member_with_points(client, program, "0812340012", "5000.00")
    add_reward(client, program, "ครัวซองต์", 80)
    page = sign_in_cashier(open_page, live_server)
    scan(page, card_code(client, program, member["id"]))
    page.get_by_label("ของรางวัล").select_option(label="ครัวซองต์ (80 แต้ม)")
    page.get_by_role("button", name="แลกของรางวัล").click()

    result = page.locator("#redeem-result")
    expect(result).to_contain_text("แลก 80 แต้มแล้ว คงเหลือ 120 แต้ม")
    voucher_code = re.search(r"รหัสบัตรกำนัล: (\S+)", result.inner_text()).group(1)
    voucher = client.get(f"/api/v1/vouchers/{voucher_code}", headers=program.headers("cashier"))
    assert voucher.get_json()["member_id"] == member["id"]
    assert voucher.get_json()["status"] == "issued"


def test_the_till_refuses_a_forged_code_and_text_that_is_no_card_code(
    client, program, live_server, open_page, screenshots
):
    member = member_with_points(client, program, "0812340013", "5000.00")
    page = sign_in_cashier(open_page, live_server)
    for code in (forged(card_code(client, program, member["id"])), "hello"):
        page.get_by_label("รหัสบัตรสมาชิก").fill("")
        scan(page, code)
        expect(page.locator("#scan-error")).to_have_text(re.compile("^ไม่รู้จักรหัสนี้"))
        expect(page.locator("#member-panel")).to_be_hidden()
    shot(page, screenshots, "till-forged")


def test_the_till_refuses_an_expired_code(client, program, fast_codes_server, open_page):
    member = enrol(client, program, phone="0812340014")
    page = sign_in_cashier(open_page, fast_codes_server)
    code = fresh_code(page, fast_codes_server, program, member["id"])
    page.wait_for_timeout(2 * FAST_CODE_STEP * 1000 + 500)
    scan(page, code)
    expect(page.locator("#scan-error")).to_have_text("รหัสหมดอายุแล้ว ขอให้สมาชิกแสดงรหัสปัจจุบัน")
    expect(page.locator("#member-panel")).to_be_hidden()


def test_a_code_that_expires_between_scan_and_redemption_spends_nothing(
    client, program, fast_codes_server, open_page
):
    member = member_with_points(client, program, "0812340015", "5000.00")
    page = sign_in_cashier(open_page, fast_codes_server)
    scan(page, fresh_code(page, fast_codes_server, program, member["id"]))
    expect(page.locator("#till-balance")).to_have_text("200")
    page.wait_for_timeout(2 * FAST_CODE_STEP * 1000 + 500)
    page.get_by_label("จำนวนแต้มที่จะแลก").fill("50")
    page.get_by_role("button", name="แลกแต้ม", exact=True).click()

    expect(page.locator("#redeem-error")).to_have_text("รหัสหมดอายุแล้ว ขอให้สมาชิกแสดงรหัสปัจจุบัน")
    expect(page.locator("#till-balance")).to_have_text("200")
    assert balance(client, program, member["id"]) == 200


def test_a_printed_card_identifies_the_member_but_cannot_authorise_a_redemption(
    client, program, live_server, open_page
):
    member = enrol(client, program, phone="0812340016", card_kind="printed")
    page = sign_in_cashier(open_page, live_server)
    scan(page, card_code(client, program, member["id"]))
    expect(page.locator("#till-member-no")).to_have_text(member["member_no"])
    expect(page.locator("#till-authorise")).to_contain_text("ใช้แลกแต้มไม่ได้")
    expect(page.get_by_label("จำนวนแต้มที่จะแลก")).to_be_disabled()
    expect(page.get_by_role("button", name="แลกแต้ม", exact=True)).to_be_disabled()


def test_a_cashier_looks_up_a_voucher_and_it_can_be_used_only_once(
    app, client, program, live_server, open_page, screenshots
):
    member = member_with_points(client, program, "0812340017", "5000.00")
    reward = add_reward(client, program, "เค้กช็อกโกแลต", 150)
    with app.app_context():
        shopper = shopper_headers(member["id"])
    redemption = client.post(
        "/api/v1/redemptions",
        json={"member_id": member["id"], "reward_id": reward["id"]},
        headers=shopper,
    )
    voucher_code = redemption.get_json()["voucher_code"]
    tills = [sign_in_cashier(open_page, live_server) for _ in range(2)]
    for page in tills:
        page.get_by_label("รหัสบัตรกำนัล").fill(voucher_code)
        page.get_by_role("button", name="ตรวจสอบ").click()
        expect(page.locator("#voucher-status")).to_have_text("ใช้ได้")
        expect(page.locator("#voucher-reward-name")).to_have_text("เค้กช็อกโกแลต")

    first, second = tills
    first.get_by_role("button", name="ใช้บัตรกำนัล").click()
    expect(first.locator("#voucher-status")).to_have_text("ใช้แล้ว")
    expect(first.locator("#voucher-result")).to_have_text(f"ใช้บัตรกำนัล {voucher_code} แล้ว")
    expect(first.get_by_role("button", name="ใช้บัตรกำนัล")).to_be_hidden()
    shot(first, screenshots, "till-voucher")
    second.get_by_role("button", name="ใช้บัตรกำนัล").click()
    expect(second.locator("#voucher-error")).to_have_text("บัตรกำนัลนี้ใช้ไม่ได้ (ใช้แล้วหรือหมดอายุ)")
    voucher = client.get(f"/api/v1/vouchers/{voucher_code}", headers=program.headers("cashier"))
    assert voucher.get_json()["status"] == "used"


def test_an_unknown_voucher_code_is_reported(program, live_server, open_page):
    page = sign_in_cashier(open_page, live_server)
    page.get_by_label("รหัสบัตรกำนัล").fill("NO-SUCH-VOUCHER")
    page.get_by_role("button", name="ตรวจสอบ").click()
    expect(page.locator("#voucher-error")).to_have_text("ไม่พบบัตรกำนัลนี้")
    expect(page.locator("#voucher-details")).to_be_hidden()


def test_a_wrong_staff_password_is_refused_on_the_till(
    program, live_server, open_page, screenshots
):
    page = open_page(f"{live_server}/till", **TILL)
    page.get_by_label("อีเมล").fill(CASHIER[0])
    page.get_by_label("รหัสผ่าน").fill("not-the-password")
    page.get_by_role("button", name="เข้าสู่ระบบ").click()
    expect(page.get_by_role("alert")).to_have_text("อีเมลหรือรหัสผ่านไม่ถูกต้อง")
    expect(page.locator("#till")).to_be_hidden()
    shot(page, screenshots, "till-signin")


CAMERA_STUB = """
window.BarcodeDetector = class {
  static async getSupportedFormats() { return ["qr_code"]; }
  async detect() { return [{ format: "qr_code", rawValue: %s }]; }
};
navigator.mediaDevices.getUserMedia = async () => {
  const canvas = Object.assign(document.createElement("canvas"), { width: 320, height: 240 });
  canvas.getContext("2d").fillRect(0, 0, 320, 240);
  return canvas.captureStream(5);
};
"""


def test_a_code_read_by_the_camera_is_looked_up_like_a_typed_one(
    client, program, live_server, open_page
):
    member = member_with_points(client, program, "0812340018", "5000.00", name="กล้อง ทดสอบ")
    code = card_code(client, program, member["id"])
    page = sign_in_cashier(open_page, live_server, init_script=CAMERA_STUB % json.dumps(code))
    page.get_by_role("button", name="สแกนด้วยกล้อง").click()

    expect(page.locator("#till-member-name")).to_have_text("กล้อง ทดสอบ")
    expect(page.get_by_label("รหัสบัตรสมาชิก")).to_have_value(code)
    expect(page.locator("#camera-box")).to_be_hidden()


def test_without_barcode_detection_the_till_offers_only_the_code_field(
    program, live_server, open_page
):
    page = sign_in_cashier(open_page, live_server, init_script="delete window.BarcodeDetector;")
    expect(page.get_by_label("รหัสบัตรสมาชิก")).to_be_focused()
    expect(page.locator("#camera")).to_be_hidden()

"""PDPA: a member's data export, and erasure (anonymised, ledger kept and balanced)."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.models import AuditLog, OutgoingMessage
from members.models import Card, MemberDay, MemberTag, OneTimeCode
from rewards.models import JournalEntry, Voucher
from tests.api.conftest import problem_of
from tests.api.test_merge import assert_ledger_balanced, redeem, refund, sell
from tests.factories import enrol, receipt, shopper_headers

SECTIONS = {
    "profile",
    "consents",
    "cards",
    "tags",
    "tier_history",
    "metrics",
    "segments",
    "messages",
    "ledger",
    "points_lots",
    "redemptions",
    "campaigns",
    "transactions",
}


def erase(client, program, member_id, reason="member asked to be forgotten", who="admin"):
    return client.post(
        f"/api/v1/members/{member_id}/erase", json={"reason": reason}, headers=program.headers(who)
    )


def add_message(app, member_id: int, recipient: str, status: str = "sent") -> int:
    with app.app_context():
        message = OutgoingMessage(
            channel="sms",
            recipient=recipient,
            subject="Your birthday",
            body="Happy birthday Malee, here is 100 points",
            status=status,
            member_id=member_id,
            template="birthday",
        )
        db.session.add(message)
        db.session.commit()
        return message.id


def add_reward(client, program) -> int:
    made = client.post(
        "/api/v1/rewards",
        json={"name": "Cookie", "points_cost": 5},
        headers=program.headers("admin"),
    )
    assert made.status_code == 201
    return made.get_json()["id"]


def a_member_with_history(app, client, program) -> dict:
    member = enrol(
        client,
        program,
        name="Malee Srisuk",
        phone="0823456789",
        email="malee@example.com",
        birthdate="1992-03-04",
        consents={"marketing_sms": True, "marketing_email": True},
    )
    sell(client, program, "P-1", "1000.00", member)  # 40 points
    sell(client, program, "P-2", "500.00", member)  # 20 points
    refund(client, program, "P-2R", "P-2", "250.00")  # -10 points
    redeem(client, program, member["id"], 5, reward_id=add_reward(client, program))
    add_message(app, member["id"], "+66823456789")
    with app.app_context():
        db.session.add(MemberTag(member_id=member["id"], tag="coffee-lover"))
        db.session.commit()
    return member


def test_the_member_exports_their_own_data(app, client, program, shopper):
    member = a_member_with_history(app, client, program)
    r = client.get(f"/api/v1/members/{member['id']}/export", headers=shopper(member["id"]))
    assert r.status_code == 200
    body = r.get_json()
    assert body["member_id"] == member["id"]
    data = body["data"]
    assert set(data) == SECTIONS
    assert data["profile"]["name"] == "Malee Srisuk"
    assert data["profile"]["birthdate"] == "1992-03-04"
    assert data["profile"]["points_balance"] == 45
    assert {c["channel"] for c in data["consents"]} == {"marketing_sms", "marketing_email"}
    assert [c["card_no"] for c in data["cards"]] == [member["card"]["card_no"]]
    assert [t["tag"] for t in data["tags"]] == ["coffee-lover"]
    assert sorted(e["points"] for e in data["ledger"]) == [-10, -5, 20, 40]
    assert sum(lot["remaining"] for lot in data["points_lots"]) == 45
    assert [t["external_id"] for t in data["transactions"]] == ["P-1", "P-2", "P-2R"]
    (redemption,) = data["redemptions"]
    assert (redemption["reward"], redemption["voucher"]["status"]) == ("Cookie", "issued")
    assert data["messages"][0]["body"].startswith("Happy birthday")
    days = data["metrics"]["purchase_days"]
    assert sum(int(d["spend"].replace(".", "")) for d in days) == 125000
    with app.app_context():
        secret = db.session.scalar(select(Card.secret).where(Card.member_id == member["id"]))
    assert secret not in r.get_data(as_text=True)
    assert "secret" not in json.dumps(data["cards"])


def test_another_shopper_cannot_export_and_admins_can(client, program, shopper):
    member, other = enrol(client, program), enrol(client, program)
    mine = client.get(f"/api/v1/members/{member['id']}/export", headers=shopper(other["id"]))
    problem_of(mine, 404)
    cashier = client.get(
        f"/api/v1/members/{member['id']}/export", headers=program.headers("cashier")
    )
    problem_of(cashier, 403)
    admin = client.get(f"/api/v1/members/{member['id']}/export", headers=program.headers("admin"))
    assert admin.status_code == 200
    unknown = client.get("/api/v1/members/999999999/export", headers=program.headers("admin"))
    problem_of(unknown, 404)


def test_erasure_anonymises_and_keeps_the_books(app, client, program):
    member = a_member_with_history(app, client, program)
    other_message = add_message(app, member["id"], "+66823456789", status="queued")
    with app.app_context():
        db.session.add(
            OneTimeCode(
                destination="+66823456789",
                member_id=member["id"],
                code_hash="x" * 64,
                expires_at=utcnow(),
            )
        )
        db.session.commit()
        spend_before = db.session.scalar(
            select(func.sum(MemberDay.spend_minor)).where(MemberDay.member_id == member["id"])
        )

    r = erase(client, program, member["id"])
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["name"], body["status"]) == ("Erased member", "erased")
    assert body["erased_at"] is not None
    got = client.get(f"/api/v1/members/{member['id']}", headers=program.headers("admin"))
    got = got.get_json()
    assert (got["phone"], got["email"], got["birthdate"]) == (None, None, None)
    assert got["consents"] == {"marketing_sms": False, "marketing_email": False}
    assert got["points_balance"] == 0
    assert_ledger_balanced(app)
    with app.app_context():
        s = db.session
        forfeit = s.scalars(select(JournalEntry).where(JournalEntry.kind == "forfeit")).one()
        assert (forfeit.points, forfeit.balance_after) == (-45, 0)
        assert s.scalar(select(func.sum(MemberDay.spend_minor))) == spend_before
        assert set(s.scalars(select(Card.status).where(Card.member_id == member["id"]))) == {
            "blocked"
        }
        assert s.scalar(select(func.count()).select_from(MemberTag)) == 0
        assert s.scalar(select(func.count()).select_from(OneTimeCode)) == 0
        messages = s.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id)).all()
        assert {(m.recipient, m.body, m.subject) for m in messages} == {
            ("[erased]", "[erased]", None)
        }
        assert s.get(OutgoingMessage, other_message).status == "cancelled"
        assert set(s.scalars(select(Voucher.status))) == {"void"}
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "member.erased")).one()
        assert audit.reason == "member asked to be forgotten"
        assert audit.subject_id == str(member["id"])


def test_erasing_again_changes_nothing(app, client, program):
    member = enrol(client, program)
    first = erase(client, program, member["id"])
    again = erase(client, program, member["id"], reason="asked a second time")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json() == first.get_json()
    with app.app_context():
        audits = db.session.scalar(select(func.count()).where(AuditLog.action == "member.erased"))
    assert audits == 1


def test_an_erased_members_shopper_token_stops_working_at_once(app, client, program):
    member = enrol(client, program)
    with app.app_context():
        token = shopper_headers(member["id"])
    assert client.get(f"/api/v1/members/{member['id']}", headers=token).status_code == 200
    assert erase(client, program, member["id"]).status_code == 200
    assert client.get(f"/api/v1/members/{member['id']}", headers=token).status_code == 401


def test_an_erased_member_cannot_sign_in_be_found_earn_or_redeem(
    app, client, program, card_code, sent_codes
):
    member = enrol(client, program, phone="0834567890", email="gone@example.com")
    sell(client, program, "E-1", "500.00", member)
    code = card_code(member["id"])
    assert erase(client, program, member["id"]).status_code == 200

    for destination in ({"phone": "0834567890"}, {"email": "gone@example.com"}):
        assert client.post("/api/v1/auth/otp/request", json=destination).status_code == 202
    assert sent_codes("+66834567890") == []
    assert sent_codes("gone@example.com") == []
    till = program.headers("BKK01")
    for ref, field in (
        ({"phone": "0834567890"}, "member.phone"),
        ({"member_no": member["member_no"]}, "member.member_no"),
        ({"code": code}, "member.code"),
    ):
        sale = client.post("/api/v1/transactions", json=receipt("E-2", "100.00", ref), headers=till)
        assert field in problem_of(sale, 422)["errors"]
    resolved = client.post("/api/v1/cards/resolve", json={"code": code}, headers=till)
    assert resolved.status_code in (404, 410)
    spend = client.post(
        "/api/v1/redemptions",
        json={"member_id": member["id"], "points": 1},
        headers=program.headers("admin"),
    )
    assert problem_of(spend, 409)["type"].endswith("member-not-active")
    again = client.post(
        "/api/v1/members",
        json={"name": "New person", "phone": "0834567890"},
        headers=till,
    )
    assert again.status_code == 201  # the phone number is free for someone else


def test_erasure_needs_a_reason_and_an_admin(client, program, shopper):
    member = enrol(client, program)
    blank = problem_of(erase(client, program, member["id"], reason="  "), 422)
    assert "reason" in blank["errors"]
    problem_of(erase(client, program, member["id"], who="cashier"), 403)
    problem_of(erase(client, program, 999999999), 404)
    own = client.post(
        f"/api/v1/members/{member['id']}/erase",
        json={"reason": "please forget me"},
        headers=shopper(member["id"]),
    )
    problem_of(own, 403)
    still = client.get(f"/api/v1/members/{member['id']}", headers=program.headers("admin"))
    assert still.get_json()["status"] == "active"


def test_a_negative_balance_stays_as_a_debt_after_erasure(app, client, program):
    member = enrol(client, program)
    sell(client, program, "N-1", "1000.00", member)
    redeem(client, program, member["id"], 40)
    refund(client, program, "N-1R", "N-1", "500.00")
    assert erase(client, program, member["id"]).status_code == 200
    got = client.get(f"/api/v1/members/{member['id']}", headers=program.headers("admin"))
    assert got.get_json()["points_balance"] == -20
    assert_ledger_balanced(app)

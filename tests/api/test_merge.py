"""Merging two member records into one profile: history, points, cards and counters move, the
ledger stays balanced, and the merge is audited."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import and_, func, select

from loyalty.db import utcnow
from loyalty.extensions import db
from members.models import Member, MemberAffinity, MemberDay, MemberTag, TierChange
from rewards.models import JournalEntry, PointsLot, Posting, Redemption, Transaction
from tests.api.conftest import problem_of
from tests.factories import enrol, receipt

TIERS = {
    "basis": "spend",
    "window": {"type": "rolling", "months": 12},
    "downgrade": "period_end",
    "tiers": [
        {"code": "member", "name": "Member", "threshold": "0", "multiplier": "1.0"},
        {"code": "silver", "name": "Silver", "threshold": "1000.00", "multiplier": "1.25"},
    ],
}


def assert_ledger_balanced(app) -> None:
    """Every entry sums to zero, belongs to the member its posting names, each cached balance
    is the sum of the member's postings, and the lots hold exactly the positive balance."""
    with app.app_context():
        s = db.session
        uneven = s.scalars(
            select(Posting.entry_id)
            .group_by(Posting.entry_id)
            .having(func.sum(Posting.points) != 0)
        ).all()
        assert uneven == []
        member_side = and_(Posting.entry_id == JournalEntry.id, Posting.account == "member")
        strays = s.scalars(
            select(JournalEntry.id)
            .join(Posting, member_side)
            .where(Posting.member_id != JournalEntry.member_id)
        ).all()
        assert strays == []
        postings = dict(
            s.execute(
                select(Posting.member_id, func.sum(Posting.points))
                .where(Posting.account == "member")
                .group_by(Posting.member_id)
            ).all()
        )
        lots = dict(
            s.execute(
                select(PointsLot.member_id, func.sum(PointsLot.remaining)).group_by(
                    PointsLot.member_id
                )
            ).all()
        )
        for member_id, balance in s.execute(select(Member.id, Member.points_balance)):
            assert (postings.get(member_id, 0), lots.get(member_id, 0)) == (
                balance,
                max(balance, 0),
            ), member_id


def sell(client, program, external_id, total, member, **extra) -> dict:
    body = receipt(external_id, total, {"member_no": member["member_no"]}, **extra)
    r = client.post("/api/v1/transactions", json=body, headers=program.headers("BKK01"))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def refund(client, program, external_id, sale_external_id, total) -> None:
    body = receipt(external_id, total, None, type="refund", refund_of=sale_external_id)
    r = client.post("/api/v1/transactions", json=body, headers=program.headers("BKK01"))
    assert r.status_code == 201, r.get_json()


def redeem(client, program, member_id, points, **extra) -> dict:
    body = {"member_id": member_id, "points": points, **extra}
    r = client.post("/api/v1/redemptions", json=body, headers=program.headers("admin"))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def merge(client, program, target_id, source_id, reason="duplicate enrolment", headers=None):
    body = {"from_member_id": source_id, "reason": reason}
    headers = {**program.headers("admin"), **(headers or {})}
    return client.post(f"/api/v1/members/{target_id}/merge", json=body, headers=headers)


def enrol_by_email(client, program, email: str) -> dict:
    body = {"name": "Email Only", "email": email}
    r = client.post("/api/v1/members", json=body, headers=program.headers("BKK01"))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def profile(client, program, member_id) -> dict:
    r = client.get(f"/api/v1/members/{member_id}", headers=program.headers("admin"))
    assert r.status_code == 200
    return r.get_json()


def test_merge_moves_points_history_and_counters_and_keeps_the_ledger_balanced(
    app, client, program
):
    target = enrol_by_email(client, program, "somchai@example.com")
    source = enrol(client, program, phone="0812345678")
    sell(client, program, "T-1", "250.00", target)  # 10 points
    sell(client, program, "S-1", "1000.00", source)  # 40 points
    sell(client, program, "S-2", "500.00", source)  # 20 points
    refund(client, program, "S-2R", "S-2", "125.00")  # -5 points
    spent = redeem(client, program, source["id"], 15)
    assert_ledger_balanced(app)

    r = merge(client, program, target["id"], source["id"])
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["from_member_id"] == source["id"]
    assert body["member"]["points_balance"] == 10 + 40 + 20 - 5 - 15
    assert body["member"]["phone"] == "+66812345678"  # the target had none
    assert body["moved"]["ledger"] == 4
    assert body["moved"]["transactions"] == 3
    assert body["moved"]["redemptions"] == 1
    assert_ledger_balanced(app)

    ledger = client.get(
        f"/api/v1/members/{target['id']}/ledger", headers=program.headers("admin")
    ).get_json()
    assert sorted(e["points"] for e in ledger) == [-15, -5, 10, 20, 40]
    left = profile(client, program, source["id"])
    assert (left["status"], left["points_balance"], left["phone"]) == ("merged", 0, None)
    with app.app_context():
        s = db.session
        merged = s.get(Member, target["id"])
        assert (merged.visits, merged.lifetime_spend_minor) == (3, 25000 + 100000 + 37500)
        old = s.get(Member, source["id"])
        assert (old.merged_into_id, old.visits, old.lifetime_spend_minor) == (target["id"], 0, 0)
        owners = set(s.scalars(select(Transaction.member_id).distinct()))
        assert owners == {target["id"]}
        assert s.get(Redemption, spent["id"]).member_id == target["id"]
        days = s.execute(
            select(func.sum(MemberDay.spend_minor), func.sum(MemberDay.purchases)).where(
                MemberDay.member_id == target["id"]
            )
        ).one()
        assert tuple(days) == (25000 + 100000 + 37500, 3)
        stores = s.scalars(
            select(MemberAffinity.spend_minor).where(
                MemberAffinity.member_id == target["id"], MemberAffinity.kind == "store"
            )
        ).all()
        assert stores == [25000 + 100000 + 37500]
        assert s.scalar(select(func.count()).where(MemberDay.member_id == source["id"])) == 0


def test_the_merge_is_audited_with_who_what_and_why(client, program):
    target, source = enrol(client, program), enrol(client, program)
    made = merge(client, program, target["id"], source["id"], "same phone, two cards")
    assert made.status_code == 200
    audit = client.get("/api/v1/audit", headers=program.headers("admin")).get_json()
    row = next(a for a in audit if a["action"] == "member.merged")
    assert row["subject_id"] == str(target["id"])
    assert row["reason"] == "same phone, two cards"
    assert row["actor"].startswith("admin:")
    assert row["data"]["from_member_id"] == source["id"]
    assert row["data"]["from_member_no"] == source["member_no"]


@pytest.mark.parametrize("debtor", ["source", "target"])
def test_a_negative_balance_is_paid_from_the_other_before_the_lots_join(
    app, client, program, debtor
):
    """A refund after the points were spent leaves a debt; the merged account's lots must
    still hold exactly its balance."""
    owing, paying = enrol(client, program), enrol(client, program)
    sell(client, program, "D-1", "1000.00", owing)  # 40
    redeem(client, program, owing["id"], 40)
    refund(client, program, "D-1R", "D-1", "500.00")  # -20: the balance is -20
    sell(client, program, "P-1", "2500.00", paying)  # 100
    assert profile(client, program, owing["id"])["points_balance"] == -20
    target, source = (owing, paying) if debtor == "target" else (paying, owing)

    r = merge(client, program, target["id"], source["id"])
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["member"]["points_balance"] == 80
    assert_ledger_balanced(app)
    with app.app_context():
        settled = db.session.scalars(
            select(JournalEntry.points).where(JournalEntry.kind == "merge")
        ).all()
        assert sorted(settled) == [-20, 20]
        owners = set(db.session.scalars(select(JournalEntry.member_id)))
        assert owners == {target["id"]}


def test_consents_keep_the_most_recent_decision_per_channel_and_tags_join(app, client, program):
    target = enrol(client, program, consents={"marketing_email": True})
    source = enrol(client, program, consents={"marketing_email": False, "marketing_sms": False})
    changed = client.patch(
        f"/api/v1/members/{target['id']}",
        json={"consents": {"marketing_sms": True}},
        headers=program.headers("admin"),
    )
    assert changed.status_code == 200
    with app.app_context():
        db.session.add_all(
            [
                MemberTag(member_id=target["id"], tag="vip"),
                MemberTag(member_id=source["id"], tag="vip"),
                MemberTag(member_id=source["id"], tag="coffee"),
            ]
        )
        db.session.commit()

    assert merge(client, program, target["id"], source["id"]).status_code == 200
    assert profile(client, program, target["id"])["consents"] == {
        "marketing_email": False,  # the source said no later
        "marketing_sms": True,  # the target said yes later
    }
    with app.app_context():
        tags = db.session.execute(select(MemberTag.member_id, MemberTag.tag)).all()
        assert sorted(tags) == [(target["id"], "coffee"), (target["id"], "vip")]


def test_cards_move_printed_ones_keep_earning_for_the_merged_profile(client, program, card_code):
    target = enrol(client, program)
    source = enrol(client, program, card_kind="printed")
    digital = enrol(client, program)
    printed_code, digital_code = card_code(source["id"]), card_code(digital["id"])
    assert merge(client, program, target["id"], source["id"]).status_code == 200
    assert merge(client, program, target["id"], digital["id"]).status_code == 200

    till = program.headers("BKK01")
    found = client.post("/api/v1/cards/resolve", json={"code": printed_code}, headers=till)
    assert found.status_code == 200
    assert found.get_json()["member_id"] == target["id"]
    retired = client.post("/api/v1/cards/resolve", json={"code": digital_code}, headers=till)
    assert problem_of(retired, 410)["type"].endswith("card-replaced")
    sale = receipt("C-1", "500.00", {"code": printed_code})
    earned = client.post("/api/v1/transactions", json=sale, headers=till).get_json()
    assert earned["member"] == {"id": target["id"], "points_balance": 20}
    assert profile(client, program, target["id"])["card"]["card_no"] == target["card"]["card_no"]


def test_a_higher_tier_carries_over_and_the_combined_spend_counts(app, client, program):
    policy = client.put("/api/v1/tiers", json=TIERS, headers=program.headers("admin"))
    assert policy.status_code == 200, policy.get_json()
    silver, plain = enrol(client, program), enrol(client, program)
    sell(client, program, "G-1", "1200.00", silver)
    assert profile(client, program, silver["id"])["tier"] == "silver"
    assert merge(client, program, plain["id"], silver["id"]).status_code == 200
    assert profile(client, program, plain["id"])["tier"] == "silver"

    half, other_half = enrol(client, program), enrol(client, program)
    sell(client, program, "H-1", "600.00", half)
    sell(client, program, "H-2", "600.00", other_half)
    assert merge(client, program, half["id"], other_half["id"]).status_code == 200
    assert profile(client, program, half["id"])["tier"] == "silver"
    with app.app_context():
        reasons = dict(
            db.session.execute(
                select(TierChange.member_id, TierChange.reason).where(
                    TierChange.member_id.in_([plain["id"], half["id"]])
                )
            ).all()
        )
    assert reasons == {plain["id"]: "merge", half["id"]: "upgrade"}


def test_redemption_ids_both_members_used_stay_unique(app, client, program):
    target, source = enrol(client, program), enrol(client, program)
    sell(client, program, "R-1", "250.00", target)
    sell(client, program, "R-2", "250.00", source)
    redeem(client, program, target["id"], 2, external_id="POS-1")
    theirs = redeem(client, program, source["id"], 3, external_id="POS-1")
    assert merge(client, program, target["id"], source["id"]).status_code == 200
    with app.app_context():
        ids = db.session.scalars(
            select(Redemption.external_id).where(Redemption.member_id == target["id"])
        ).all()
    assert sorted(ids) == ["POS-1", f"POS-1~merged-{theirs['id']}"]
    assert_ledger_balanced(app)


def test_a_merged_member_signs_in_no_more_and_its_phone_signs_in_the_target(
    client, program, sent_codes
):
    target = enrol_by_email(client, program, "keep@example.com")
    source = enrol(client, program, phone="0811112222", email="drop@example.com")
    assert merge(client, program, target["id"], source["id"]).status_code == 200
    for destination in ({"phone": "0811112222"}, {"email": "drop@example.com"}):
        assert client.post("/api/v1/auth/otp/request", json=destination).status_code == 202
    codes = sent_codes("+66811112222")
    assert len(codes) == 1
    signed = client.post(
        "/api/v1/auth/otp/verify", json={"phone": "0811112222", "code": codes[0]}
    ).get_json()
    assert signed["member_id"] == target["id"]
    assert sent_codes("drop@example.com") == []  # the target kept its own email


def snapshot(app, *member_ids: int) -> tuple:
    with app.app_context():
        rows = db.session.execute(
            select(Member.id, Member.status, Member.points_balance, Member.merged_into_id)
            .where(Member.id.in_(member_ids))
            .order_by(Member.id)
        ).all()
        entries = db.session.scalar(select(func.count()).select_from(JournalEntry))
    return tuple(map(tuple, rows)), entries


def test_refused_merges_change_nothing(app, client, program):
    a, b, c = enrol(client, program), enrol(client, program), enrol(client, program)
    sell(client, program, "X-1", "250.00", a)
    sell(client, program, "X-2", "250.00", b)
    assert merge(client, program, a["id"], c["id"]).status_code == 200  # c is merged now
    erased = client.post(
        f"/api/v1/members/{b['id']}/erase",
        json={"reason": "asked to be forgotten"},
        headers=program.headers("admin"),
    )
    assert erased.status_code == 200
    d = enrol(client, program)
    before = snapshot(app, a["id"], b["id"], c["id"], d["id"])
    for target, source, status in (
        (a, a, 409),  # into itself
        (a, c, 409),  # already merged
        (d, b, 409),  # an erased source
        (b, d, 409),  # into an erased member
        (c, d, 409),  # into a merged member
    ):
        found = problem_of(merge(client, program, target["id"], source["id"]), status)
        assert found["type"].endswith("merge-refused"), found
    missing = problem_of(merge(client, program, a["id"], 10**12), 422)
    assert "from_member_id" in missing["errors"]
    assert problem_of(merge(client, program, 10**12, d["id"]), 404)
    assert snapshot(app, a["id"], b["id"], c["id"], d["id"]) == before


def test_a_retried_merge_with_the_same_key_replays_the_answer(client, program):
    target, source = enrol(client, program), enrol(client, program)
    key = {"Idempotency-Key": "merge-1"}
    first = merge(client, program, target["id"], source["id"], headers=key)
    again = merge(client, program, target["id"], source["id"], headers=key)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"


def test_the_source_keeps_its_older_enrolment_date_for_the_profile(client, program, app):
    target, source = enrol(client, program), enrol(client, program)
    earlier = utcnow() - timedelta(days=400)
    with app.app_context():
        db.session.get(Member, source["id"]).enrolled_at = earlier
        db.session.commit()
    assert merge(client, program, target["id"], source["id"]).status_code == 200
    assert profile(client, program, target["id"])["enrolled_at"] == earlier.isoformat()


def test_opposite_merges_at_once_one_wins_and_the_other_is_refused(app, client, program):
    """Both rows are locked in id order, so two merges of the same pair never deadlock: the
    second waits, then finds its source or target merged."""
    a, b = enrol(client, program), enrol(client, program)
    sell(client, program, "O-1", "250.00", a)
    sell(client, program, "O-2", "500.00", b)
    start = threading.Barrier(2)
    answers: list[tuple[int, str]] = []

    def send(target: dict, source: dict) -> None:
        local = app.test_client()
        start.wait()
        r = merge(local, program, target["id"], source["id"])
        answers.append((r.status_code, r.get_json().get("type", "")))

    threads = [threading.Thread(target=send, args=pair) for pair in ((a, b), (b, a))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(status for status, _ in answers) == [200, 409]
    refused = next(kind for status, kind in answers if status == 409)
    assert refused.endswith("merge-refused")  # it waited; no deadlock made it give way
    statuses = sorted(profile(client, program, m["id"])["status"] for m in (a, b))
    assert statuses == ["active", "merged"]
    assert_ledger_balanced(app)

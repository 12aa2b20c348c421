"""Segments through the API: define and preview, page through, export with consent, refresh
with entered/left events, delete, and campaigns aimed at a segment."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from loyalty import jobs
from loyalty.extensions import db
from loyalty.models import OutboxMessage
from tests.api.conftest import problem_of
from tests.factories import enrol, receipt

EMAIL = {"fact": "consent", "op": "contains", "value": "marketing_email"}
SPENDERS = {"fact": "spend", "op": "gte", "value": "100.00"}


@pytest.fixture
def marketer(program):
    return program.headers("marketer")


def make(client, headers, rule, name="Segment") -> dict:
    created = client.post("/api/v1/segments", json={"name": name, "rule": rule}, headers=headers)
    assert created.status_code == 201, created.get_json()
    return created.get_json()


def sell(client, program, external_id, total, member) -> None:
    body = receipt(external_id, total, {"member_no": member["member_no"]})
    response = client.post("/api/v1/transactions", json=body, headers=program.headers("BKK01"))
    assert response.status_code == 201, response.get_json()


def consent(client, program, member, **channels) -> None:
    body = {"consents": {f"marketing_{k}": v for k, v in channels.items()}}
    response = client.patch(
        f"/api/v1/members/{member['id']}", json=body, headers=program.headers("admin")
    )
    assert response.status_code == 200, response.get_json()


def refresh(app) -> dict:
    with app.app_context():
        return jobs.run_periodic("refresh_segments")


def segment_events(app) -> list[tuple[str, int, int]]:
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.topic.in_(["segment.entered", "segment.left"]))
            .order_by(OutboxMessage.id)
        )
        return [(m.topic, m.payload["segment_id"], m.payload["member_id"]) for m in rows]


def test_a_segment_is_created_with_its_size_and_the_preview_agrees(client, program, marketer):
    spenders = [enrol(client, program) for _ in range(3)]
    for n, member in enumerate(spenders):
        sell(client, program, f"S-{n}", "150.00", member)
    enrol(client, program)
    rule = {"all": [SPENDERS, {"fact": "visits", "op": "gte", "value": 1}]}
    preview = client.post("/api/v1/segments/preview", json={"rule": rule}, headers=marketer)
    assert preview.status_code == 200
    assert preview.get_json() == {"size": 3}
    made = make(client, marketer, rule, "  Spenders ")
    assert made["size"] == 3
    assert made["name"] == "Spenders"
    assert made["rule"] == rule
    assert made["created_by"].startswith("marketer:")
    assert made["refreshed_at"] is not None
    got = client.get(f"/api/v1/segments/{made['id']}", headers=marketer).get_json()
    assert got == made
    listed = client.get("/api/v1/segments", headers=marketer).get_json()
    assert [s["id"] for s in listed] == [made["id"]]


def test_a_wrong_rule_is_refused_naming_its_place(client, marketer):
    rule = {"all": [SPENDERS, {"fact": "shoe_size", "op": "eq", "value": 42}]}
    for path in ("/api/v1/segments", "/api/v1/segments/preview"):
        body = {"rule": rule, "name": "x"} if path.endswith("segments") else {"rule": rule}
        errors = problem_of(client.post(path, json=body, headers=marketer), 422)["errors"]
        assert list(errors) == ["rule.all.1.fact"]
        assert "unknown fact" in errors["rule.all.1.fact"][0]
    wrong_op = {"fact": "tier", "op": "gt", "value": "gold"}
    body = {"name": "x", "rule": wrong_op}
    errors = problem_of(client.post("/api/v1/segments", json=body, headers=marketer), 422)
    assert list(errors["errors"]) == ["rule.op"]
    assert client.get("/api/v1/segments", headers=marketer).get_json() == []


def test_members_are_paged_by_id(client, program, marketer):
    members = [enrol(client, program, consents={"marketing_email": True}) for _ in range(5)]
    enrol(client, program)
    segment = make(client, marketer, EMAIL)
    seen, after, pages = [], 0, 0
    while True:
        url = f"/api/v1/segments/{segment['id']}/members?limit=2&after_id={after}"
        page = client.get(url, headers=marketer).get_json()
        pages += 1
        seen.extend(page)
        if len(page) < 2:
            break
        after = page[-1]["id"]
    assert pages == 3
    assert [m["id"] for m in seen] == sorted(m["id"] for m in members)
    assert {m["member_no"] for m in seen} == {m["member_no"] for m in members}
    assert set(seen[0]) == {"id", "member_no", "name", "tier", "entered_at"}
    first = client.get(f"/api/v1/segments/{segment['id']}/members", headers=marketer)
    assert len(first.get_json()) == 5


def test_the_export_gives_contacts_only_where_the_member_consented(client, program, marketer):
    both = enrol(
        client,
        program,
        name="=HYPERLINK(1)",
        email="both@example.com",
        consents={"marketing_email": True, "marketing_sms": True},
    )
    email_only = enrol(
        client,
        program,
        email="email@example.com",
        consents={"marketing_email": True, "marketing_sms": False},
    )
    sms_only = enrol(client, program, email="sms@example.com", consents={"marketing_sms": True})
    neither = enrol(client, program, email="no@example.com", consents={"marketing_line": True})
    segment = make(client, marketer, {"fact": "visits", "op": "eq", "value": 0})
    assert segment["size"] == 4
    response = client.get(f"/api/v1/segments/{segment['id']}/export.csv", headers=marketer)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["member_no", "name", "email", "phone"]
    by_no = {row[0]: row for row in rows[1:]}
    assert set(by_no) == {both["member_no"], email_only["member_no"], sms_only["member_no"]}
    assert neither["member_no"] not in by_no
    assert by_no[both["member_no"]][1:] == ["'=HYPERLINK(1)", "both@example.com", both["phone"]]
    assert by_no[email_only["member_no"]][2:] == ["email@example.com", ""]
    assert by_no[sms_only["member_no"]][2:] == ["", sms_only["phone"]]


def test_a_refresh_emits_who_entered_and_who_left(app, client, program, marketer):
    ann = enrol(client, program, consents={"marketing_email": True})
    ben = enrol(client, program)
    segment = make(client, marketer, EMAIL)
    assert segment["size"] == 1
    assert segment_events(app) == []  # the first fill emits nothing
    consent(client, program, ben, email=True)
    consent(client, program, ann, email=False)
    assert refresh(app) == {"segments": 1, "entered": 1, "left": 1}
    sid = segment["id"]
    assert sorted(segment_events(app)) == [
        ("segment.entered", sid, ben["id"]),
        ("segment.left", sid, ann["id"]),
    ]
    page = client.get(f"/api/v1/segments/{sid}/members", headers=marketer).get_json()
    assert [m["id"] for m in page] == [ben["id"]]
    assert client.get(f"/api/v1/segments/{sid}", headers=marketer).get_json()["size"] == 1
    assert refresh(app) == {"segments": 1, "entered": 0, "left": 0}
    assert len(segment_events(app)) == 2


def test_a_segment_named_by_a_live_campaign_cannot_be_deleted(client, program, marketer):
    segment = make(client, marketer, EMAIL)
    path = f"/api/v1/segments/{segment['id']}"
    campaign = {
        "name": "For the segment",
        "trigger": "transaction.recorded",
        "audience": {"segments": [segment["id"]]},
        "effects": [{"type": "award_points", "points": 50}],
    }
    created = client.post("/api/v1/campaigns", json=campaign, headers=marketer).get_json()
    body = problem_of(client.delete(path, headers=marketer), 409)
    assert f"campaign {created['id']}" in body["detail"]
    ended = client.post(f"/api/v1/campaigns/{created['id']}/end", headers=marketer)
    assert ended.status_code == 200
    assert client.delete(path, headers=marketer).status_code == 204
    for gone in (path, f"{path}/members", f"{path}/export.csv"):
        problem_of(client.get(gone, headers=marketer), 404)
    problem_of(client.delete(path, headers=marketer), 404)


def test_a_campaign_for_a_segment_applies_only_to_its_members(client, program, marketer):
    inside = enrol(client, program, consents={"marketing_email": True})
    outside = enrol(client, program)
    segment = make(client, marketer, EMAIL)
    unknown = {"segments": [segment["id"] + 1000]}
    campaign = {
        "name": "Fifty for the segment",
        "trigger": "transaction.recorded",
        "audience": unknown,
        "effects": [{"type": "award_points", "points": 50}],
    }
    refused = client.post("/api/v1/campaigns", json=campaign, headers=marketer)
    assert list(problem_of(refused, 422)["errors"]) == ["audience.segments"]
    campaign["audience"] = {"segments": [segment["id"]]}
    created = client.post("/api/v1/campaigns", json=campaign, headers=marketer).get_json()
    assert created["audience"] == {"segments": [segment["id"]]}
    client.post(f"/api/v1/campaigns/{created['id']}/activate", headers=marketer)
    sell(client, program, "IN-1", "100.00", inside)
    sell(client, program, "OUT-1", "100.00", outside)

    def balance(member):
        url = f"/api/v1/members/{member['id']}"
        return client.get(url, headers=marketer).get_json()["points_balance"]

    assert balance(inside) == 4 + 50
    assert balance(outside) == 4
    simulated = client.post(
        f"/api/v1/campaigns/{created['id']}/simulate", json={"days": 1}, headers=marketer
    ).get_json()
    assert simulated["reach"] == 1
    assert simulated["points"] == 50


def test_segments_refresh_on_the_command_line_one_or_all(app, client, program, marketer):
    runner = app.test_cli_runner()
    spenders = make(client, marketer, SPENDERS, "Spenders")
    make(client, marketer, {"fact": "visits", "op": "gte", "value": 1}, "Visitors")
    member = enrol(client, program)
    sell(client, program, "CLI-1", "150.00", member)  # now in both, until refreshed

    one = runner.invoke(args=["segments", "refresh", "--id", str(spenders["id"])])
    assert one.exit_code == 0, one.output
    assert "1 segment(s) refreshed: 1 members entered, 0 left" in one.output
    every = runner.invoke(args=["segments", "refresh"])
    assert "2 segment(s) refreshed: 1 members entered, 0 left" in every.output
    shown = client.get(f"/api/v1/segments/{spenders['id']}", headers=marketer).get_json()
    assert shown["size"] == 1
    unknown = runner.invoke(args=["segments", "refresh", "--id", "999999"])
    assert unknown.exit_code == 2
    assert "No segment 999999" in unknown.output

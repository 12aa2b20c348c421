"""Message templates through the HTTP API: store, read, replace, and refuse unsafe texts."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from loyalty.extensions import db
from loyalty.models import OutgoingMessage
from loyalty.unit_of_work import unit_of_work
from members.messaging.service import MessagePolicy, send_member_message
from tests.api.conftest import problem_of
from tests.factories import enrol

URL = "/api/v1/message-templates"
WELCOME = {
    "locales": {
        "th": {"subject": "ยินดีต้อนรับ {{ name }}", "body": "สวัสดี {{ name }} รับ {{ points }} แต้ม"},
        "en": {"subject": "Welcome {{ name }}", "body": "Hello {{ name }}, {{ points }} points"},
    }
}


@pytest.fixture
def put(client, program):
    def send(code: str, body: dict, who: str = "marketer"):
        return client.put(f"{URL}/{code}", json=body, headers=program.headers(who))

    return send


@pytest.fixture
def get(client, program):
    def read(path: str = "", who: str = "marketer"):
        return client.get(f"{URL}{path}", headers=program.headers(who))

    return read


def test_a_marketer_stores_a_template_in_thai_and_english(put, get):
    r = put("welcome", WELCOME)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["code"] == "welcome"
    assert body["locales"]["th"]["body"] == WELCOME["locales"]["th"]["body"]
    assert body["locales"]["en"]["subject"] == "Welcome {{ name }}"
    assert datetime.fromisoformat(body["locales"]["en"]["updated_at"]).tzinfo is not None
    assert get("/welcome").get_json() == body


def test_the_list_names_each_code_with_its_locales(put, get):
    put("welcome", WELCOME)
    put("birthday", {"locales": {"en": {"body": "Happy birthday {{ name }}"}}})
    listed = get().get_json()
    assert [(t["code"], t["locales"]) for t in listed] == [
        ("birthday", ["en"]),
        ("welcome", ["en", "th"]),
    ]
    assert all(t["updated_at"] for t in listed)


def test_a_put_replaces_the_texts_and_removes_locales_not_sent(put, get):
    put("welcome", WELCOME)
    r = put("welcome", {"locales": {"en": {"body": "Hi {{ name }}"}}}, who="admin")
    assert r.status_code == 200
    locales = r.get_json()["locales"]
    assert locales.keys() == {"en"}
    assert (locales["en"]["subject"], locales["en"]["body"]) == (None, "Hi {{ name }}")
    assert get("/welcome").get_json()["locales"].keys() == {"en"}


def test_an_unknown_template_is_not_found(get):
    body = problem_of(get("/nope"), 404)
    assert body["type"].endswith("/unknown-template")


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ({"body": "{{ ''.__class__.__mro__ }}"}, "locales.en.body", "underscore"),
        ({"body": "{{ name['__globals__'] }}"}, "locales.en.body", "underscore"),
        ({"body": "Hello {{ name"}, "locales.en.body", "syntax error"),
        ({"body": "{% include 'secrets.txt' %}"}, "locales.en.body", "not available"),
        ({"subject": "{% if %}", "body": "hi"}, "locales.en.subject", "syntax error"),
        ({"body": "   "}, "locales.en.body", "blank"),
        ({"body": "x" * 2001}, "locales.en.body", "Length"),
        ({"subject": "s" * 201, "body": "hi"}, "locales.en.subject", "Length"),
    ],
)
def test_a_text_that_is_unsafe_or_malformed_is_refused_naming_its_field(
    put, get, text, field, message
):
    body = problem_of(put("welcome", {"locales": {"en": text}}), 422)
    assert field in body["errors"], body
    assert message.lower() in " ".join(body["errors"][field]).lower()
    assert get().get_json() == []


def test_a_code_outside_the_pattern_is_refused(put):
    for code in ("Welcome", "with space", "x" * 65, "ünicode"):
        body = problem_of(put(code, WELCOME), 422)
        assert "code" in body["errors"], body


def test_a_stored_template_is_what_a_campaign_message_renders(app, client, program, put):
    put("welcome", WELCOME)
    member = enrol(client, program, name="Malee", locale="th", consents={"marketing_sms": True})
    policy = MessagePolicy(3, 7, time(21), time(8), "Asia/Bangkok")
    noon = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    with app.app_context(), unit_of_work():
        outcome = send_member_message(
            db.session,
            member["id"],
            "sms",
            "welcome",
            {"points": 100},
            campaign_id=7,
            now=noon,
            policy=policy,
        )
        db.session.commit()
        row = db.session.get(OutgoingMessage, outcome.message_id)
        assert (row.subject, row.body) == ("ยินดีต้อนรับ Malee", "สวัสดี Malee รับ 100 แต้ม")


def test_the_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert {"get"} <= paths[URL].keys()
    assert {"get", "put"} <= paths[f"{URL}/{{code}}"].keys()

"""Campaign message rules: consent, address, frequency cap, quiet hours, locale fallback,
the template sandbox, and sending what is due through a sender."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.errors import InvalidInput
from loyalty.extensions import db
from loyalty.message_jobs import send_due
from loyalty.messages import LEASE, MAX_ATTEMPTS, claim_due, queue_message, retry_delay
from loyalty.models import MessageTemplate, OutgoingMessage
from loyalty.senders import Outgoing, SendError
from members.messaging.service import (
    MessagePolicy,
    policy_from_config,
    quiet_until,
    save_template,
    send_member_message,
    template_exists,
    template_problem,
)
from members.models import Member
from members.service import Enrolment, enrol_member

POLICY = MessagePolicy(3, 7, time(21, 0), time(8, 0), "Asia/Bangkok")
NOON = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # 12:00 in Bangkok
EVERYONE = {"marketing_email": True, "marketing_sms": True, "marketing_line": True}
_phones = iter(range(10_000_000))


def bkk(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in November 2026 given in Bangkok time (UTC+7), as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - timedelta(hours=7)


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    with app.app_context():
        yield db.session


def member(session: Session, consents: dict[str, bool] | None = None, **fields: Any) -> int:
    n = next(_phones)
    values = {"name": "Somchai", "phone": f"+6681{n:07d}", "email": f"m{n}@example.com"}
    values.update(fields)
    consents = EVERYONE if consents is None else consents
    return enrol_member(session, Enrolment(consents=consents, **values)).id


def template(session: Session, code: str = "hello", **locales: dict) -> str:
    locales = locales or {"en": {"subject": "Hi {{ name }}", "body": "Hello {{ name }}"}}
    save_template(session, code, locales)
    return code


def send(session: Session, member_id: int, channel: str = "sms", **kwargs: Any):
    args: dict[str, Any] = {"campaign_id": 1, "now": NOON, "policy": POLICY, "context": {}}
    args.update(kwargs)
    code = args.pop("template", "hello")
    context = args.pop("context")
    return send_member_message(session, member_id, channel, code, context, **args)


def messages(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(OutgoingMessage))


# --- quiet hours (pure) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (bkk(23, 20, 59), None),
        (bkk(23, 21, 0), bkk(24, 8, 0)),
        (bkk(23, 23, 30), bkk(24, 8, 0)),
        (bkk(24, 0, 0), bkk(24, 8, 0)),
        (bkk(24, 2, 15), bkk(24, 8, 0)),
        (bkk(24, 7, 59), bkk(24, 8, 0)),
        (bkk(24, 8, 0), None),
        (bkk(24, 12, 0), None),
    ],
)
def test_quiet_hours_that_wrap_midnight_end_at_the_next_morning(now, until):
    assert quiet_until(now, POLICY) == until


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (bkk(23, 12, 59), None),
        (bkk(23, 13, 0), bkk(23, 14, 0)),
        (bkk(23, 13, 59), bkk(23, 14, 0)),
        (bkk(23, 14, 0), None),
    ],
)
def test_quiet_hours_within_one_day_end_the_same_day(now, until):
    lunch = MessagePolicy(3, 7, time(13, 0), time(14, 0), "Asia/Bangkok")
    assert quiet_until(now, lunch) == until


def test_equal_start_and_end_mean_no_quiet_hours():
    never = MessagePolicy(3, 7, time(0, 0), time(0, 0), "Asia/Bangkok")
    assert all(quiet_until(bkk(23, hour), never) is None for hour in range(24))


def test_quiet_hours_are_read_in_the_program_time_zone():
    london = MessagePolicy(3, 7, time(21, 0), time(8, 0), "Europe/London")
    assert quiet_until(bkk(23, 23, 0), london) is None  # 16:00 in London
    assert quiet_until(datetime(2026, 11, 23, 22, 0, tzinfo=UTC), london) == datetime(
        2026, 11, 24, 8, 0, tzinfo=UTC
    )


def test_the_policy_comes_from_the_configuration_with_defaults():
    assert policy_from_config({}) == POLICY
    custom = {
        "MESSAGE_CAP_COUNT": 5,
        "MESSAGE_CAP_DAYS": 30,
        "MESSAGE_QUIET_START": "22:30",
        "MESSAGE_QUIET_END": "07:15",
        "TIMEZONE": "Asia/Singapore",
    }
    assert policy_from_config(custom) == MessagePolicy(
        5, 30, time(22, 30), time(7, 15), "Asia/Singapore"
    )
    with pytest.raises(ValueError, match="Invalid isoformat"):
        policy_from_config({"MESSAGE_QUIET_START": "9pm"})


# --- template texts (pure) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("Hello {{ name }}, you have {{ points_balance }} points", None),
        ("{% if points > 100 %}Big{% else %}Small{% endif %} {{ tier | upper }}", None),
        ("Hello {{ name ", "template syntax error on line 1"),
        ("{% for x in y %}", "template syntax error"),
        ("{{ ''.__class__ }}", "'__class__': names starting with an underscore"),
        ("{{ name['__class__'] }}", "'__class__': names starting with an underscore"),
        ("{{ _secret }}", "'_secret': names starting with an underscore"),
        ("{{ cycler.__init__.__globals__ }}", "names starting with an underscore"),
        ("{% include 'x.html' %}", "extends, include and import are not available"),
        ("{% extends 'base.html' %}", "extends, include and import are not available"),
        ("{% import 'm.html' as m %}", "extends, include and import are not available"),
        ("{{ " + "(" * 2000 + "1" + ")" * 2000 + " }}", "nested too deeply"),
    ],
)
def test_template_texts_are_checked_before_they_are_stored(source, problem):
    found = template_problem(source)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


# --- consent and address -------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["email", "sms", "line"])
def test_a_message_without_consent_is_refused_and_nothing_is_written(session, channel):
    others = {c: True for c in EVERYONE if c != f"marketing_{channel}"}
    who = member(session, others)
    template(session)
    outcome = send(session, who, channel)
    assert (outcome.status, outcome.reason) == ("refused", f"no consent for marketing_{channel}")
    assert outcome.message_id is None
    assert messages(session) == 0


def test_a_withdrawn_consent_refuses_the_message(session):
    who = member(session, {"marketing_sms": False, "marketing_email": True})
    template(session)
    assert send(session, who, "sms").reason == "no consent for marketing_sms"
    assert send(session, who, "email").status == "queued"


def test_email_goes_to_the_email_address_sms_and_line_to_the_phone(session):
    who = member(session, phone="0812345678", email="Malee@Example.com")
    template(session)
    sent = {c: send(session, who, c).message_id for c in ("email", "sms", "line")}
    rows = {c: session.get(OutgoingMessage, i) for c, i in sent.items()}
    assert rows["email"].recipient == "malee@example.com"
    assert rows["sms"].recipient == rows["line"].recipient == "+66812345678"


def test_a_member_without_the_address_is_refused(session):
    no_phone = member(session, phone=None)
    no_email = member(session, email=None)
    template(session)
    assert send(session, no_phone, "sms").reason == "no phone number"
    assert send(session, no_phone, "line").reason == "no phone number"
    assert send(session, no_email, "email").reason == "no email address"
    assert messages(session) == 0


def test_an_unknown_or_inactive_member_is_refused(session):
    template(session)
    assert send(session, 999_999).reason == "unknown member"
    who = member(session)
    session.get(Member, who).status = "blocked"
    session.commit()
    assert send(session, who).reason == "member is blocked"
    assert messages(session) == 0


def test_an_unknown_channel_is_invalid_input(session):
    who = member(session)
    template(session)
    with pytest.raises(InvalidInput, match="channel"):
        send(session, who, "fax")


# --- frequency cap -------------------------------------------------------------------------


def test_the_fourth_campaign_message_in_seven_days_is_refused(session):
    who = member(session)
    template(session)
    days = [NOON - timedelta(days=6), NOON - timedelta(days=3), NOON - timedelta(hours=1)]
    assert [send(session, who, campaign_id=n, now=at).status for n, at in enumerate(days)] == [
        "queued"
    ] * 3
    refused = send(session, who, campaign_id=9, now=NOON)
    assert (refused.status, refused.reason) == ("refused", "frequency cap")
    assert messages(session) == 3


def test_messages_older_than_the_window_do_not_count(session):
    who = member(session)
    template(session)
    for days_ago in (7, 8, 30):  # exactly seven days ago is outside "the last 7 days"
        send(session, who, now=NOON - timedelta(days=days_ago))
    assert [send(session, who).status for _ in range(3)] == ["queued"] * 3
    assert send(session, who).reason == "frequency cap"


def test_the_cap_is_per_member(session):
    first, second = member(session), member(session)
    template(session)
    for _ in range(3):
        send(session, first)
    assert send(session, first).reason == "frequency cap"
    assert send(session, second).status == "queued"


def test_one_time_codes_and_messages_without_a_campaign_are_not_capped(session):
    who = member(session, phone="0812345679")
    template(session)
    for _ in range(5):
        queue_message(session, "sms", "+66812345679", "Your sign-in code is 123456.")
    for _ in range(3):
        assert send(session, who, campaign_id=None).status == "queued"
    assert [send(session, who).status for _ in range(3)] == ["queued"] * 3
    assert send(session, who).reason == "frequency cap"


def test_a_smaller_cap_from_the_policy_applies(session):
    who = member(session)
    template(session)
    once_a_month = MessagePolicy(1, 30, time(21, 0), time(8, 0), "Asia/Bangkok")
    assert send(session, who, policy=once_a_month).status == "queued"
    later = NOON + timedelta(days=29)
    assert send(session, who, policy=once_a_month, now=later).reason == "frequency cap"
    assert send(session, who, policy=once_a_month, now=NOON + timedelta(days=30)).status == (
        "queued"
    )


# --- quiet hours in the service ------------------------------------------------------------


def test_a_message_at_night_is_scheduled_for_the_end_of_quiet_hours(session):
    who = member(session)
    template(session)
    outcome = send(session, who, now=bkk(23, 22, 30))
    assert (outcome.status, outcome.reason) == ("scheduled", "quiet hours")
    row = session.get(OutgoingMessage, outcome.message_id)
    assert row.status == "queued"
    assert row.send_after == bkk(24, 8, 0)


def test_a_message_after_midnight_waits_for_the_same_morning(session):
    who = member(session)
    template(session)
    outcome = send(session, who, now=bkk(24, 3, 0))
    assert session.get(OutgoingMessage, outcome.message_id).send_after == bkk(24, 8, 0)


def test_a_message_in_the_day_is_due_at_once(session):
    who = member(session)
    template(session)
    outcome = send(session, who, now=bkk(23, 8, 0))
    assert (outcome.status, outcome.reason) == ("queued", None)
    row = session.get(OutgoingMessage, outcome.message_id)
    assert row.send_after is None
    assert row.created_at == bkk(23, 8, 0)


def test_the_message_row_names_the_member_campaign_and_template(session):
    who = member(session)
    template(session, "welcome")
    outcome = send(session, who, template="welcome", campaign_id=42)
    row = session.get(OutgoingMessage, outcome.message_id)
    assert (row.member_id, row.campaign_id, row.template) == (who, 42, "welcome")
    assert (row.attempts, row.last_error, row.sent_at) == (0, None, None)


def test_the_service_does_not_commit(session):
    who = member(session)
    template(session)
    assert send(session, who).status == "queued"
    session.rollback()
    assert messages(session) == 0


# --- templates and locales -----------------------------------------------------------------


def texts(**bodies: str) -> dict[str, dict]:
    return {locale: {"subject": f"[{locale}]", "body": body} for locale, body in bodies.items()}


@pytest.mark.parametrize(
    ("member_locale", "locales", "chosen"),
    [
        ("th", {"th": "สวัสดี {{ name }}", "en": "Hello {{ name }}"}, "สวัสดี Malee"),
        ("en", {"th": "สวัสดี {{ name }}", "en": "Hello {{ name }}"}, "Hello Malee"),
        ("th", {"en": "Hello {{ name }}"}, "Hello Malee"),
        ("en", {"th": "สวัสดี {{ name }}"}, "สวัสดี Malee"),
    ],
)
def test_the_template_is_rendered_in_the_member_locale_or_falls_back(
    session, member_locale, locales, chosen
):
    who = member(session, name="Malee", locale=member_locale)
    template(session, "greet", **texts(**locales))
    outcome = send(session, who, template="greet")
    assert session.get(OutgoingMessage, outcome.message_id).body == chosen


def test_an_unknown_template_is_refused(session):
    who = member(session)
    assert not template_exists(session, "nope")
    outcome = send(session, who, template="nope")
    assert (outcome.status, outcome.reason) == ("refused", "unknown template")
    assert messages(session) == 0


def test_template_exists_sees_any_locale(session):
    template(session, "only-thai", th={"body": "สวัสดี"})
    assert template_exists(session, "only-thai")


def test_the_member_and_the_engine_context_fill_the_placeholders(session):
    who = member(session, name="Malee")
    source = (
        "{{ name }} {{ member_no }} {{ tier }} {{ points_balance }}: +{{ points }} "
        "from {{ campaign }}, {{ expiring_points }} expire on {{ expires_on }}"
    )
    template(session, "full", en={"subject": "{{ campaign }}", "body": source})
    context = {"points": 50, "campaign": "Double", "expiring_points": 20, "expires_on": "2027-01"}
    outcome = send(session, who, template="full", context=context)
    row = session.get(OutgoingMessage, outcome.message_id)
    member_no = session.get(Member, who).member_no
    assert row.body == f"Malee {member_no} member 0: +50 from Double, 20 expire on 2027-01"
    assert row.subject == "Double"


def test_email_bodies_are_escaped_and_sms_bodies_are_not(session):
    who = member(session, name="<b>Tom & Jerry</b>")
    template(session, "hi", en={"subject": "For {{ name }}", "body": "Hi {{ name }}"})
    email = session.get(OutgoingMessage, send(session, who, "email", template="hi").message_id)
    sms = session.get(OutgoingMessage, send(session, who, "sms", template="hi").message_id)
    assert email.body == "Hi &lt;b&gt;Tom &amp; Jerry&lt;/b&gt;"
    assert email.subject == "For <b>Tom & Jerry</b>"
    assert sms.body == "Hi <b>Tom & Jerry</b>"


def test_a_subject_is_one_line_that_fits_its_column(session):
    who = member(session)
    template(session, "long", en={"subject": "A\nB {{ 'x' * 500 }}", "body": "hi"})
    row = session.get(OutgoingMessage, send(session, who, template="long").message_id)
    assert row.subject.startswith("A B xxx")
    assert len(row.subject) == 200


def test_a_placeholder_the_engine_did_not_fill_refuses_the_message(session):
    who = member(session)
    template(session, "expiry", en={"body": "{{ expiring_points }} points expire soon"})
    outcome = send(session, who, template="expiry")
    assert outcome.status == "refused"
    assert outcome.reason == "template error: 'expiring_points' is undefined"


def test_a_placeholder_may_name_its_fallback(session):
    who = member(session)
    source = "{{ reward | default('a gift') }}{% if voucher is defined %} {{ voucher }}{% endif %}"
    template(session, "gift", en={"body": source})
    bare = send(session, who, template="gift", campaign_id=None)
    full = send(
        session, who, template="gift", campaign_id=None, context={"reward": "Tote", "voucher": "V1"}
    )
    bodies = [session.get(OutgoingMessage, o.message_id).body for o in (bare, full)]
    assert bodies == ["a gift", "Tote V1"]


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ name.__class__.__init__.__globals__ }}",
        "{{ name['__cl' ~ 'ass__'] }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ name.format.__self__ }}",
        "{% set x = [] %}{{ x.append(1) }}{{ x }}",
    ],
)
def test_a_template_reaching_for_python_internals_renders_nothing(session, source):
    """Stored past the API's own check (as if written straight into the table), a template
    that tries the usual escapes from Jinja is refused when it is rendered."""
    who = member(session)
    session.add(MessageTemplate(code="evil", locale="en", body=source))
    session.commit()
    outcome = send(session, who, template="evil")
    assert outcome.status == "refused"
    assert outcome.reason.startswith("template error")
    assert messages(session) == 0


def test_an_empty_rendering_is_refused(session):
    who = member(session)
    template(session, "blank", en={"body": "{% if false %}never{% endif %}  "})
    assert send(session, who, template="blank").status == "refused"


# --- sending what is due -------------------------------------------------------------------


class Recorder:
    """A sender that keeps what it is given, and fails while told to."""

    def __init__(self, failing: bool = False) -> None:
        self.sent: list[Outgoing] = []
        self.failing = failing

    def send(self, message: Outgoing) -> None:
        if self.failing:
            raise SendError("gateway answered HTTP 500")
        self.sent.append(message)


def test_due_messages_are_sent_and_marked(session):
    who = member(session, phone="0812345670", name="Malee")
    template(session)
    queue_message(session, "sms", "+66899999999", "Your sign-in code is 123456.")
    outcome = send(session, who, "sms")
    session.commit()
    sms = Recorder()
    counts = send_due(session, {"sms": sms}, NOON, 10)
    assert counts == {"sent": 2, "retrying": 0, "failed": 0}
    assert [(m.to, m.body) for m in sms.sent] == [
        ("+66899999999", "Your sign-in code is 123456."),
        ("+66812345670", "Hello Malee"),
    ]
    row = session.get(OutgoingMessage, outcome.message_id)
    assert row.status == "sent"
    assert row.sent_at is not None


def test_a_message_held_for_quiet_hours_is_sent_once_they_end(session):
    who = member(session)
    template(session)
    night = bkk(23, 22, 0)
    send(session, who, now=night)
    session.commit()
    sms = Recorder()
    assert send_due(session, {"sms": sms}, night + timedelta(hours=2), 10)["sent"] == 0
    assert send_due(session, {"sms": sms}, bkk(24, 8, 0), 10)["sent"] == 1


def test_one_time_codes_are_sent_at_night(session):
    queue_message(session, "sms", "+66811111111", "Your sign-in code is 654321.")
    session.commit()
    sms = Recorder()
    assert send_due(session, {"sms": sms}, bkk(23, 23, 59), 10)["sent"] == 1


def test_a_channel_without_a_sender_stays_queued(session):
    queue_message(session, "email", "a@example.com", "Your sign-in code is 111111.")
    queue_message(session, "sms", "+66811111112", "Your sign-in code is 222222.")
    session.commit()
    sms = Recorder()
    assert send_due(session, {"sms": sms}, NOON, 10)["sent"] == 1
    rows = session.execute(select(OutgoingMessage.channel, OutgoingMessage.status))
    statuses = {channel: status for channel, status in rows}
    assert statuses == {"email": "queued", "sms": "sent"}


def test_a_run_sends_at_most_its_limit(session):
    for n in range(25):
        queue_message(session, "sms", f"+668100000{n:02d}", "hello")
    session.commit()
    sms = Recorder()
    assert send_due(session, {"sms": sms}, NOON, 22)["sent"] == 22
    assert send_due(session, {"sms": sms}, NOON, 22)["sent"] == 3
    assert len({m.id for m in sms.sent}) == 25


def test_a_failed_attempt_is_counted_and_retried_later(session):
    queue_message(session, "sms", "+66811111113", "hello")
    session.commit()
    gateway = Recorder(failing=True)
    assert send_due(session, {"sms": gateway}, NOON, 10) == {
        "sent": 0,
        "retrying": 1,
        "failed": 0,
    }
    row = session.scalars(select(OutgoingMessage)).one()
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.last_error == "gateway answered HTTP 500"
    assert row.send_after == NOON + retry_delay(1)
    assert send_due(session, {"sms": gateway}, NOON + timedelta(seconds=59), 10)["retrying"] == 0
    gateway.failing = False
    assert send_due(session, {"sms": gateway}, NOON + retry_delay(1), 10)["sent"] == 1


def test_a_message_fails_after_five_attempts(session):
    queue_message(session, "sms", "+66811111114", "hello")
    session.commit()
    gateway = Recorder(failing=True)
    at, outcomes = NOON, []
    for _ in range(MAX_ATTEMPTS + 1):
        outcomes.append(send_due(session, {"sms": gateway}, at, 10))
        at += timedelta(hours=1)
    assert [o["retrying"] for o in outcomes] == [1, 1, 1, 1, 0, 0]
    assert [o["failed"] for o in outcomes] == [0, 0, 0, 0, 1, 0]
    row = session.scalars(select(OutgoingMessage)).one()
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)


def test_a_claimed_message_is_not_taken_again_while_its_lease_runs(session):
    """A run that died after claiming leaves the message to be sent when the lease ends."""
    queue_message(session, "sms", "+66811111115", "hello")
    session.commit()
    assert len(claim_due(session, ["sms"], NOON, 10)) == 1
    sms = Recorder()
    assert send_due(session, {"sms": sms}, NOON + LEASE - timedelta(seconds=1), 10)["sent"] == 0
    assert send_due(session, {"sms": sms}, NOON + LEASE, 10)["sent"] == 1

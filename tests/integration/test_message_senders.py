"""Messages sent for real: an SMTP server (aiosmtpd) and an HTTP webhook on local ports,
through `send_due`, `flask messages send`, and a real RQ worker fed by `rq cron`."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import sys
import threading
import time as time_module
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.extensions import db
from loyalty.message_jobs import send_due
from loyalty.messages import MAX_ATTEMPTS, queue_message
from loyalty.models import OutgoingMessage
from loyalty.senders import SIGNATURE_HEADER, Outgoing, senders_from_config
from members.messaging.service import MessagePolicy, send_member_message
from tests.factories import enrol
from tests.integration.servers import free_port, service_env, wait_until

SECRET = "webhook-secret"
FROM = "Loyalty <loyalty@example.com>"
NOON = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # 12:00 in Bangkok
POLICY = MessagePolicy(3, 7, time(21), time(8), "Asia/Bangkok")


# --- a real SMTP server --------------------------------------------------------------------


@dataclass
class Mailbox:
    """What the SMTP server received: envelopes, and the logins it accepted."""

    port: int
    envelopes: list[Any] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, _server, _session, envelope) -> str:  # noqa: N802 (aiosmtpd)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def authenticate(self, _server, _session, _envelope, _mechanism, data) -> AuthResult:
        if isinstance(data, LoginPassword):
            login = (data.login.decode(), data.password.decode())
            if login == ("shop@example.com", "p@ss:word"):
                self.logins.append(login)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def messages(self) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(e.original_content, policy=email.policy.default)
            for e in self.envelopes
        ]


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        authenticator=box.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


# --- a real HTTP webhook -------------------------------------------------------------------


@dataclass
class Gateway:
    """An SMS/LINE gateway stand-in: keeps each request and answers with `status`."""

    url: str
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    port = free_port()
    state = Gateway(f"http://127.0.0.1:{port}/hooks/messages")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server)
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "raw": raw})
            self.send_response(state.status)
            if state.status in (301, 302, 307):
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def webhook_config(gateway: Gateway) -> dict[str, Any]:
    return {"MESSAGE_WEBHOOK_URL": gateway.url, "MESSAGE_WEBHOOK_SECRET": SECRET}


def smtp_config(mailbox: Mailbox, **extra: Any) -> dict[str, Any]:
    return {"SMTP_URL": f"smtp://127.0.0.1:{mailbox.port}", "SMTP_FROM": FROM, **extra}


# --- helpers -------------------------------------------------------------------------------


def put_template(client, program, code: str, locales: dict) -> None:
    r = client.put(
        f"/api/v1/message-templates/{code}",
        json={"locales": locales},
        headers=program.headers("marketer"),
    )
    assert r.status_code == 200, r.get_json()


def request_code(client, **destination: str) -> None:
    assert client.post("/api/v1/auth/otp/request", json=destination).status_code == 202


def campaign_message(app: Flask, member_id: int, channel: str, code: str, **context: Any) -> int:
    with app.app_context():
        outcome = send_member_message(
            db.session, member_id, channel, code, context, campaign_id=1, now=NOON, policy=POLICY
        )
        db.session.commit()
    assert outcome.status == "queued", outcome
    assert outcome.message_id is not None
    return outcome.message_id


def send_now(app: Flask, config: dict[str, Any], at: datetime | None = None) -> dict[str, int]:
    with app.app_context():
        return dict(send_due(db.session, senders_from_config(config), at or NOON, 100))


def rows(app: Flask) -> list[OutgoingMessage]:
    with app.app_context():
        found = list(db.session.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id)))
        db.session.expunge_all()
        return found


# --- SMTP ----------------------------------------------------------------------------------


def test_a_campaign_email_reaches_a_real_smtp_server(app, client, program, mailbox):
    put_template(
        client,
        program,
        "welcome",
        {"en": {"subject": "Welcome, {{ name }}", "body": "<p>{{ points }} points for you</p>"}},
    )
    member = enrol(
        client,
        program,
        name="Malee & co",
        email="malee@example.com",
        locale="en",
        consents={"marketing_email": True},
    )
    message_id = campaign_message(app, member["id"], "email", "welcome", points=100)

    assert send_now(app, smtp_config(mailbox)) == {"sent": 1, "retrying": 0, "failed": 0}

    [envelope] = mailbox.envelopes
    assert envelope.rcpt_tos == ["malee@example.com"]
    assert envelope.mail_from == "loyalty@example.com"
    [received] = mailbox.messages()
    assert received["Subject"] == "Welcome, Malee & co"
    assert received["To"] == "malee@example.com"
    assert received["From"] == FROM
    assert received["Message-ID"] == f"<message.{message_id}@example.com>"
    assert received.get_content_type() == "text/html"
    assert received.get_content().strip() == "<p>100 points for you</p>"
    [row] = rows(app)
    assert (row.id, row.status, row.attempts) == (message_id, "sent", 0)
    assert row.sent_at is not None


def test_a_sign_in_code_is_mailed_as_text_with_the_login_from_the_url(
    app, client, program, mailbox
):
    enrol(client, program, email="somchai@example.com")
    request_code(client, email="somchai@example.com")
    url = f"smtp://shop%40example.com:p%40ss%3Aword@127.0.0.1:{mailbox.port}"

    assert send_now(app, {"SMTP_URL": url, "SMTP_FROM": FROM})["sent"] == 1

    assert mailbox.logins == [("shop@example.com", "p@ss:word")]
    [received] = mailbox.messages()
    assert received.get_content_type() == "text/plain"
    assert "Your sign-in code is " in received.get_content()
    assert received["Subject"] == "Your sign-in code"


def test_starttls_required_but_not_offered_counts_a_failed_attempt(app, client, program, mailbox):
    enrol(client, program, email="somchai@example.com")
    request_code(client, email="somchai@example.com")

    counts = send_now(app, smtp_config(mailbox, SMTP_STARTTLS=True))

    assert counts == {"sent": 0, "retrying": 1, "failed": 0}
    assert mailbox.envelopes == []
    [row] = rows(app)
    assert (row.status, row.attempts) == ("queued", 1)
    assert "STARTTLS" in row.last_error


def test_a_wrong_smtp_password_counts_a_failed_attempt(app, client, program, mailbox):
    enrol(client, program, email="somchai@example.com")
    request_code(client, email="somchai@example.com")
    url = f"smtp://shop%40example.com:wrong@127.0.0.1:{mailbox.port}"

    assert send_now(app, {"SMTP_URL": url, "SMTP_FROM": FROM})["retrying"] == 1
    assert mailbox.envelopes == []
    assert "SMTP" in rows(app)[0].last_error


# --- webhook -------------------------------------------------------------------------------


def test_an_sms_reaches_the_webhook_signed(app, client, program, gateway):
    enrol(client, program, phone="0812345678")
    request_code(client, phone="0812345678")

    assert send_now(app, webhook_config(gateway)) == {"sent": 1, "retrying": 0, "failed": 0}

    [request] = gateway.requests
    assert request["path"] == "/hooks/messages"
    assert request["headers"]["Content-Type"] == "application/json"
    expected = hmac.new(SECRET.encode(), request["raw"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request["headers"][SIGNATURE_HEADER], expected)
    body = json.loads(request["raw"])
    [row] = rows(app)
    assert body == {
        "id": row.id,
        "channel": "sms",
        "to": "+66812345678",
        "subject": "Your sign-in code",
        "body": row.body,
    }
    assert row.status == "sent"


def test_a_line_message_in_thai_reaches_the_webhook_by_phone(app, client, program, gateway):
    put_template(client, program, "points", {"th": {"body": "คุณ{{ name }} ได้รับ {{ points }} แต้ม"}})
    member = enrol(
        client, program, name="มาลี", phone="0898765432", consents={"marketing_line": True}
    )
    campaign_message(app, member["id"], "line", "points", points=50)

    assert send_now(app, webhook_config(gateway))["sent"] == 1

    body = json.loads(gateway.requests[0]["raw"])
    assert (body["channel"], body["to"], body["body"]) == (
        "line",
        "+66898765432",
        "คุณมาลี ได้รับ 50 แต้ม",
    )


def test_email_goes_to_the_webhook_when_no_smtp_server_is_configured(app, client, program, gateway):
    enrol(client, program, email="somchai@example.com")
    request_code(client, email="somchai@example.com")
    assert send_now(app, webhook_config(gateway))["sent"] == 1
    assert json.loads(gateway.requests[0]["raw"])["channel"] == "email"


def test_smtp_takes_email_and_the_webhook_the_rest(app, client, program, gateway, mailbox):
    enrol(client, program, phone="0812345678", email="somchai@example.com")
    request_code(client, email="somchai@example.com")
    request_code(client, phone="0812345678")
    assert send_now(app, webhook_config(gateway) | smtp_config(mailbox))["sent"] == 2
    assert len(mailbox.envelopes) == 1
    assert [json.loads(r["raw"])["channel"] for r in gateway.requests] == ["sms"]


def test_a_gateway_error_is_retried_and_the_message_fails_after_five_attempts(
    app, client, program, gateway
):
    enrol(client, program, phone="0812345678")
    request_code(client, phone="0812345678")
    gateway.status = 500
    config, at, outcomes = webhook_config(gateway), NOON, []
    for _ in range(MAX_ATTEMPTS + 1):
        outcomes.append(send_now(app, config, at))
        [row] = rows(app)
        at += timedelta(hours=1)
    assert [o["retrying"] for o in outcomes] == [1, 1, 1, 1, 0, 0]
    assert [o["failed"] for o in outcomes] == [0, 0, 0, 0, 1, 0]
    assert len(gateway.requests) == MAX_ATTEMPTS
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    assert row.last_error == "webhook answered HTTP 500"


def test_a_redirect_is_a_failure_and_is_not_followed(app, client, program, gateway):
    enrol(client, program, phone="0812345678")
    request_code(client, phone="0812345678")
    gateway.status = 302
    assert send_now(app, webhook_config(gateway))["retrying"] == 1
    assert [r["path"] for r in gateway.requests] == ["/hooks/messages"]
    assert rows(app)[0].last_error == "webhook answered HTTP 302"


def test_an_unreachable_gateway_counts_a_failed_attempt(app, client, program):
    enrol(client, program, phone="0812345678")
    request_code(client, phone="0812345678")
    closed = {
        "MESSAGE_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/",
        "MESSAGE_WEBHOOK_SECRET": "s",
    }
    assert send_now(app, closed)["retrying"] == 1
    assert rows(app)[0].last_error.startswith("webhook unreachable")


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"MESSAGE_WEBHOOK_URL": "http://127.0.0.1:9/"}, "LOYALTY_MESSAGE_WEBHOOK_SECRET"),
        ({"MESSAGE_WEBHOOK_URL": "file:///etc/passwd", "MESSAGE_WEBHOOK_SECRET": "s"}, "http"),
        ({"SMTP_URL": "smtp://127.0.0.1:25"}, "LOYALTY_SMTP_FROM"),
        ({"SMTP_URL": "mailto:x@example.com", "SMTP_FROM": FROM}, "smtp://"),
    ],
)
def test_an_incomplete_configuration_is_refused(config, error):
    with pytest.raises(ValueError, match=error):
        senders_from_config(config)


class SlowRecorder:
    """A sender that takes a moment per message and keeps the ids it was given."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def send(self, message: Outgoing) -> None:
        time_module.sleep(0.005)
        self.ids.append(message.id)


def test_two_concurrent_runs_send_every_message_once(app):
    with app.app_context():
        for n in range(60):
            queue_message(db.session, "sms", f"+6681000{n:04d}", f"message {n}")
        db.session.commit()
        engine = db.engine
    senders = [SlowRecorder(), SlowRecorder()]

    def run(sender: SlowRecorder) -> None:
        with Session(engine) as session:
            send_due(session, {"sms": sender}, NOON, 1000)

    threads = [threading.Thread(target=run, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    every = senders[0].ids + senders[1].ids
    assert sorted(every) == sorted(set(every))
    assert len(every) == 60
    assert all(s.ids for s in senders), "both runs took a share"
    assert {row.status for row in rows(app)} == {"sent"}


# --- the command and the worker ------------------------------------------------------------


def test_messages_send_sends_what_is_due(app, client, program, runner, gateway):
    enrol(client, program, phone="0812345678")
    request_code(client, phone="0812345678")
    app.config.update(webhook_config(gateway))

    result = runner.invoke(args=["messages", "send"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 sent, 0 to retry, 0 failed"
    assert len(gateway.requests) == 1
    listed = runner.invoke(args=["messages", "list", "--to", "+66812345678"]).output
    assert " sent " in listed


def test_messages_send_without_a_sender_says_so_and_keeps_the_messages(
    app, client, program, runner
):
    enrol(client, program, phone="0812345678")
    request_code(client, phone="0812345678")

    result = runner.invoke(args=["messages", "send"])

    assert result.exit_code != 0
    assert "No sender is configured" in result.output
    assert [row.status for row in rows(app)] == ["queued"]


def test_messages_send_every_keeps_sending_as_messages_come(
    app, client, program, gateway, launcher, database_url
):
    extra = {"LOYALTY_MESSAGE_WEBHOOK_URL": gateway.url, "LOYALTY_MESSAGE_WEBHOOK_SECRET": SECRET}
    argv = [sys.executable, "-m", "flask", "--app", "wsgi", "messages", "send", "--every", "0.2"]
    sender = launcher.spawn("sender", argv, service_env(database_url, **extra))
    for phone in ("0812345678", "0898765432"):
        enrol(client, program, phone=phone)
        request_code(client, phone=phone)
        wait_until(lambda: rows(app)[-1].status == "sent", "the code is sent", 20, sender)
    assert [json.loads(r["raw"])["to"] for r in gateway.requests] == [
        "+66812345678",
        "+66898765432",
    ]


def test_rq_cron_and_a_worker_send_a_sign_in_code_within_seconds(
    app, client, program, gateway, redis_url, launcher, database_url
):
    extra = {"LOYALTY_MESSAGE_WEBHOOK_URL": gateway.url, "LOYALTY_MESSAGE_WEBHOOK_SECRET": SECRET}
    env = service_env(database_url, redis_url, **extra)
    worker = launcher.worker(env)
    launcher.spawn(
        "cron", [sys.executable, "-m", "rq.cli", "cron", "-u", redis_url, "loyalty.cron"], env
    )
    enrol(client, program, phone="0812345678")
    request_code(client, phone="0812345678")

    wait_until(lambda: len(gateway.requests) == 1, "the code reaches the gateway", 40, worker)

    assert json.loads(gateway.requests[0]["raw"])["to"] == "+66812345678"
    wait_until(lambda: rows(app)[0].status == "sent", "the message is marked sent", 10, worker)

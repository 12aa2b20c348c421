"""Message senders: SMTP for email, a signed HTTP webhook for SMS and LINE gateways."""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

SIGNATURE_HEADER = "X-Loyalty-Signature"
WEBHOOK_CHANNELS = ("email", "sms", "line")


@dataclass(frozen=True)
class Outgoing:
    """One message as a sender needs it, detached from its database row."""

    id: int
    channel: str
    to: str
    subject: str | None
    body: str
    html: bool = False


class SendError(Exception):
    """The provider refused the message or could not be reached; it is tried again later."""


class Sender(Protocol):
    def send(self, message: Outgoing) -> None: ...


def sign(secret: str, payload: bytes) -> str:
    """The webhook signature: hex HMAC-SHA256 of the exact request body."""
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SmtpSender:
    """Email through an SMTP server; smtps:// is TLS from the start, STARTTLS on request."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str = ""
    starttls: bool = False
    implicit_tls: bool = False
    timeout: float = 10

    @classmethod
    def from_url(cls, url: str, sender: str, *, starttls: bool, timeout: float) -> SmtpSender:
        """From smtp://user:pass@host:port (user and password percent-encoded)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("LOYALTY_SMTP_URL must look like smtp://user:password@host:port")
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 25),
            sender=sender,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password or ""),
            starttls=starttls and not implicit,
            implicit_tls=implicit,
            timeout=timeout,
        )

    def send(self, message: Outgoing) -> None:
        try:
            email = self._email(message)
            with self._connect() as smtp:
                smtp.send_message(email)
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            raise SendError(f"SMTP: {exc}") from exc

    def _email(self, message: Outgoing) -> EmailMessage:
        email = EmailMessage()
        email["From"], email["To"] = self.sender, message.to
        email["Subject"] = message.subject or ""
        email["Date"] = formatdate(usegmt=True)
        # The same id on every attempt, so a receiver can drop a message sent twice.
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or "loyalty.invalid"
        email["Message-ID"] = f"<message.{message.id}@{domain}>"
        email.set_content(message.body, subtype="html" if message.html else "plain")
        return email

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.implicit_tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer other than 2xx: following it would resend the body elsewhere."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


@dataclass(frozen=True)
class WebhookSender:
    """JSON POST {id, channel, to, subject, body}, signed in X-Loyalty-Signature; 2xx is sent."""

    url: str
    secret: str
    timeout: float = 10

    def send(self, message: Outgoing) -> None:
        payload = json.dumps(
            {
                "id": message.id,
                "channel": message.channel,
                "to": message.to,
                "subject": message.subject,
                "body": message.body,
            },
            ensure_ascii=False,
        ).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, payload)}
        request = urllib.request.Request(self.url, data=payload, method="POST", headers=headers)
        opener = urllib.request.build_opener(_NoRedirects)
        try:
            with opener.open(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            exc.close()
            raise SendError(f"webhook answered HTTP {exc.code}") from exc
        except OSError as exc:  # URLError, refused connections and timeouts
            raise SendError(f"webhook unreachable: {exc}") from exc
        if not 200 <= status < 300:
            raise SendError(f"webhook answered HTTP {status}")


def _webhook(config: Mapping[str, Any]) -> WebhookSender:
    url, secret = config["MESSAGE_WEBHOOK_URL"], config.get("MESSAGE_WEBHOOK_SECRET")
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("LOYALTY_MESSAGE_WEBHOOK_URL must be an http:// or https:// URL")
    if not secret:
        raise ValueError("LOYALTY_MESSAGE_WEBHOOK_SECRET is required with the webhook URL")
    return WebhookSender(url, secret, config.get("MESSAGE_SEND_TIMEOUT", 10))


def _smtp(config: Mapping[str, Any]) -> SmtpSender:
    if not config.get("SMTP_FROM"):
        raise ValueError("LOYALTY_SMTP_FROM is required with LOYALTY_SMTP_URL")
    return SmtpSender.from_url(
        config["SMTP_URL"],
        config["SMTP_FROM"],
        starttls=bool(config.get("SMTP_STARTTLS")),
        timeout=config.get("MESSAGE_SEND_TIMEOUT", 10),
    )


def senders_from_config(config: Mapping[str, Any]) -> dict[str, Sender]:
    """The sender per channel: SMTP for email when set, the webhook for the rest (and for
    email without SMTP). Empty when nothing is configured. ValueError on a bad setting."""
    senders: dict[str, Sender] = {}
    if config.get("MESSAGE_WEBHOOK_URL"):
        webhook = _webhook(config)
        senders.update(dict.fromkeys(WEBHOOK_CHANNELS, webhook))
    if config.get("SMTP_URL"):
        senders["email"] = _smtp(config)
    return senders

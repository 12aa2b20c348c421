"""Campaign messages to members: consent, frequency cap, quiet hours, templates per locale."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty.errors import Conflict, InvalidInput, NotFound
from loyalty.models import MessageTemplate, OutgoingMessage
from members.models import Member

CHANNELS = ("email", "sms", "line")  # consent channel: marketing_<channel>
LOCALES = ("th", "en")
FALLBACK_LOCALES = ("en", "th")
CODE_RE = re.compile(r"^[a-z0-9_.-]{1,64}$")
MAX_BODY = 10_000  # characters of a rendered body
MAX_SUBJECT = 200  # the column's width
UNAVAILABLE = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


class UnknownTemplate(NotFound):
    slug, title = "unknown-template", "Unknown message template"


@dataclass(frozen=True)
class MessagePolicy:
    """Limits on campaign messages: a frequency cap and quiet hours in program time."""

    cap_count: int  # campaign messages per member ...
    cap_days: int  # ... per rolling N days
    quiet_start: time
    quiet_end: time
    timezone: str


@dataclass(frozen=True)
class MessageOutcome:
    status: str  # "queued" | "scheduled" (held for quiet hours) | "refused"
    reason: str | None
    message_id: int | None


def _clock(value: time | str) -> time:
    return value if isinstance(value, time) else time.fromisoformat(value)


def policy_from_config(config: Mapping[str, Any]) -> MessagePolicy:
    """The policy from LOYALTY_MESSAGE_* settings; ValueError on a malformed time."""
    return MessagePolicy(
        cap_count=int(config.get("MESSAGE_CAP_COUNT", 3)),
        cap_days=int(config.get("MESSAGE_CAP_DAYS", 7)),
        quiet_start=_clock(config.get("MESSAGE_QUIET_START", "21:00")),
        quiet_end=_clock(config.get("MESSAGE_QUIET_END", "08:00")),
        timezone=config.get("TIMEZONE", "Asia/Bangkok"),
    )


def quiet_until(now: datetime, policy: MessagePolicy) -> datetime | None:
    """The end (UTC) of the quiet window `now` falls in, or None outside quiet hours.

    The window may wrap midnight (21:00–08:00); equal start and end mean no quiet hours.
    """
    start, end = policy.quiet_start, policy.quiet_end
    local = now.astimezone(ZoneInfo(policy.timezone))
    clock = local.time()
    if start == end:
        return None
    if start < end:
        quiet, ends_today = start <= clock < end, True
    else:
        quiet, ends_today = clock >= start or clock < end, clock < end
    if not quiet:
        return None
    day = local.date() if ends_today else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=local.tzinfo).astimezone(UTC)


@lru_cache(maxsize=2)
def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(autoescape=autoescape, undefined=StrictUndefined)


@lru_cache(maxsize=512)
def _compiled(source: str, autoescape: bool) -> Template:
    return _environment(autoescape).from_string(source)


def _names(tree: nodes.Template) -> list[str]:
    """Every variable, attribute and constant subscript a template names."""
    found = [n.name for n in tree.find_all(nodes.Name)]
    found += [n.attr for n in tree.find_all(nodes.Getattr)]
    found += [n.arg.value for n in tree.find_all(nodes.Getitem) if isinstance(n.arg, nodes.Const)]
    return [name for name in found if isinstance(name, str)]


def template_problem(source: str) -> str | None:
    """Why a template text cannot be used, or None when it can."""
    try:
        tree = _environment(False).parse(source)
    except TemplateSyntaxError as exc:
        return f"template syntax error on line {exc.lineno}: {exc.message}"
    except RecursionError:
        return "template nested too deeply"
    if any(True for _ in tree.find_all(UNAVAILABLE)):
        return "extends, include and import are not available in message templates"
    hidden = next((name for name in _names(tree) if name.startswith("_")), None)
    if hidden is not None:
        return f"{hidden!r}: names starting with an underscore are not allowed"
    return None


def _render(
    template: MessageTemplate, channel: str, variables: dict[str, Any]
) -> tuple[str | None, str]:
    """(subject, body); email bodies are HTML (escaped), SMS and LINE bodies plain text.

    The subject is one line (a header cannot hold a line break) and fits its column."""
    body = _compiled(template.body, channel == "email").render(variables).strip()
    if template.subject is None:
        return None, body
    subject = " ".join(_compiled(template.subject, False).render(variables).split())
    return subject[:MAX_SUBJECT] or None, body


def _variables(member: Member, context: Mapping[str, Any]) -> dict[str, Any]:
    own = {"name": member.name, "member_no": member.member_no}
    own |= {"points_balance": member.points_balance, "tier": member.tier_code}
    return own | dict(context)


def _pick_template(session: Session, code: str, locale: str) -> MessageTemplate | None:
    """The template in the member's locale, else English, else Thai."""
    stmt = select(MessageTemplate).where(MessageTemplate.code == code)
    found = {t.locale: t for t in session.scalars(stmt)}
    return next((found[loc] for loc in (locale, *FALLBACK_LOCALES) if loc in found), None)


def _address(member: Member, channel: str) -> str | None:
    """LINE gateways address notification messages by phone number, as SMS does."""
    return member.email if channel == "email" else member.phone


def _campaign_messages(session: Session, member_id: int, now: datetime, days: int) -> int:
    stmt = select(func.count()).where(
        OutgoingMessage.member_id == member_id,
        OutgoingMessage.campaign_id.is_not(None),
        OutgoingMessage.created_at > now - timedelta(days=days),
        OutgoingMessage.created_at <= now,
    )
    return session.scalar(stmt) or 0


def _refusal(
    session: Session,
    member: Member | None,
    channel: str,
    capped: bool,
    now: datetime,
    policy: MessagePolicy,
) -> str | None:
    """Why the member may not get this message now (checked in this order), or None."""
    if member is None:
        return "unknown member"
    if member.status != "active":
        return f"member is {member.status}"
    consent = f"marketing_{channel}"
    if not any(c.channel == consent and c.granted for c in member.consents):
        return f"no consent for {consent}"
    if _address(member, channel) is None:
        return "no email address" if channel == "email" else "no phone number"
    if capped and _campaign_messages(session, member.id, now, policy.cap_days) >= policy.cap_count:
        return "frequency cap"
    return None


def _locked_member(session: Session, member_id: int) -> Member | None:
    """The member, re-read and locked: the cap count stays exact with several workers, and
    the balance shown is the one the ledger just wrote."""
    stmt = select(Member).where(Member.id == member_id).with_for_update()
    return session.scalar(stmt.execution_options(populate_existing=True))


def _compose(
    session: Session, member: Member, channel: str, code: str, context: Mapping[str, Any]
) -> tuple[MessageTemplate, str | None, str] | str:
    """(template, subject, body) in the member's locale, or why there is none."""
    chosen = _pick_template(session, code, member.locale)
    if chosen is None:
        return "unknown template"
    try:
        subject, body = _render(chosen, channel, _variables(member, context))
    except Exception as exc:  # a template is data: any failure to render refuses the message
        return f"template error: {exc}"[:500]
    if not body or len(body) > MAX_BODY:
        return "template rendered an empty or oversized body"
    return chosen, subject, body


def send_member_message(
    session: Session,
    member_id: int,
    channel: str,
    template: str,
    context: Mapping[str, Any],
    *,
    campaign_id: int | None,
    now: datetime,
    policy: MessagePolicy,
) -> MessageOutcome:
    """Queue a message to a member, or refuse it (consent, address, cap, template).

    A refusal writes nothing. Quiet hours hold the message until they end ("scheduled").
    Only messages with a campaign id are capped. Adds the `messages` row and flushes; the
    caller commits. InvalidInput for an unknown channel.
    """
    if channel not in CHANNELS:
        raise InvalidInput("channel", f"must be one of {', '.join(CHANNELS)}")
    member = _locked_member(session, member_id)
    refusal = _refusal(session, member, channel, campaign_id is not None, now, policy)
    if refusal is not None or member is None:
        return MessageOutcome("refused", refusal or "unknown member", None)
    composed = _compose(session, member, channel, template, context)
    if isinstance(composed, str):
        return MessageOutcome("refused", composed, None)
    chosen, subject, body = composed
    address = _address(member, channel)
    assert address is not None  # _refusal checked it
    held = quiet_until(now, policy)
    message = OutgoingMessage(
        channel=channel,
        recipient=address,
        subject=subject,
        body=body,
        member_id=member_id,
        campaign_id=campaign_id,
        template=chosen.code,
        send_after=held,
        created_at=now,
    )
    session.add(message)
    session.flush()
    if held is not None:
        return MessageOutcome("scheduled", "quiet hours", message.id)
    return MessageOutcome("queued", None, message.id)


def template_exists(session: Session, code: str) -> bool:
    stmt = select(MessageTemplate.code).where(MessageTemplate.code == code).limit(1)
    return session.scalar(stmt) is not None


def list_templates(session: Session) -> list[dict[str, Any]]:
    """Every template code with its locales and when it last changed."""
    rows = session.scalars(select(MessageTemplate).order_by(MessageTemplate.code))
    summary: dict[str, dict[str, Any]] = {}
    for row in rows:
        item = summary.setdefault(row.code, {"code": row.code, "locales": [], "updated_at": None})
        item["locales"].append(row.locale)
        item["updated_at"] = max(filter(None, (item["updated_at"], row.updated_at)))
    return [{**item, "locales": sorted(item["locales"])} for item in summary.values()]


def get_template(session: Session, code: str) -> list[MessageTemplate]:
    """A template's locales; UnknownTemplate when the code has none."""
    stmt = select(MessageTemplate).where(MessageTemplate.code == code)
    found = list(session.scalars(stmt.order_by(MessageTemplate.locale)))
    if not found:
        raise UnknownTemplate(f"No message template {code!r}.")
    return found


def save_template(
    session: Session, code: str, locales: Mapping[str, Mapping[str, Any]]
) -> list[MessageTemplate]:
    """Replace a template's texts: the locales given are stored, the others removed.

    InvalidInput for a bad code; Conflict when a concurrent save created it first.
    """
    if not CODE_RE.match(code):
        raise InvalidInput("code", "lower-case letters, digits, '_', '.' or '-', 1 to 64")
    try:
        with session.begin_nested():  # a concurrent save may create the code first
            _write_template(session, code, locales)
    except IntegrityError as exc:
        raise Conflict("The template was saved by another request; send it again.") from exc
    return get_template(session, code)


def _write_template(session: Session, code: str, locales: dict[str, dict[str, Any]]) -> None:
    stmt = select(MessageTemplate).where(MessageTemplate.code == code)
    current = {row.locale: row for row in session.scalars(stmt)}
    for locale, text in locales.items():
        row = current.get(locale) or MessageTemplate(code=code, locale=locale)
        row.subject, row.body = text.get("subject"), text["body"]
        session.add(row)
    gone = set(current) - set(locales)
    if gone:
        session.execute(
            delete(MessageTemplate).where(
                MessageTemplate.code == code, MessageTemplate.locale.in_(gone)
            )
        )

"""Outbox handlers that turn member events into campaign events for the engine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from members.models import Member
from rewards.campaigns import engine
from rewards.campaigns.planning import Event
from rewards.models import Redemption

DAILY_TRIGGERS = ("member.birthday", "member.inactive", "points.expiring")
Handler = Callable[[Session, dict[str, Any]], int]


def day_start(day: date, timezone: str) -> datetime:
    """Midnight of a program day, as an aware time."""
    return datetime.combine(day, time(0), ZoneInfo(timezone))


def enrolled(session: Session, payload: dict[str, Any], settings: engine.EngineSettings) -> int:
    member = session.get(Member, int(payload["member_id"]))
    if member is None:
        return 0
    event = Event("member.enrolled", f"member.enrolled:{member.id}", member.id, member.enrolled_at)
    return engine.handle_event(session, event, settings)


def reward_redeemed(
    session: Session, payload: dict[str, Any], settings: engine.EngineSettings
) -> int:
    found = session.get(Redemption, int(payload["redemption_id"]))
    if found is None:
        return 0
    event = Event(
        "reward.redeemed",
        f"reward.redeemed:{found.id}",
        found.member_id,
        found.created_at,
        facts={"reward.id": found.reward_id},
    )
    return engine.handle_event(session, event, settings)


def tier_changed(session: Session, payload: dict[str, Any], settings: engine.EngineSettings) -> int:
    at = datetime.fromisoformat(payload["at"])
    member_id = int(payload["member_id"])
    event = Event(
        "tier.changed",
        f"tier.changed:{member_id}:{payload['to']}:{int(at.timestamp())}",
        member_id,
        at,
        facts={"tier.from": payload["from"], "tier.to": payload["to"]},
    )
    return engine.handle_event(session, event, settings)


def daily(session: Session, payload: dict[str, Any], settings: engine.EngineSettings) -> int:
    """member.birthday / member.inactive / points.expiring, emitted by rewards.daily."""
    trigger, member_id, param = payload["trigger"], int(payload["member_id"]), payload.get("param")
    day = date.fromisoformat(payload["day"])
    facts = {"points.expiring": payload["points"]} if "points" in payload else {}
    event = Event(
        trigger,
        f"{trigger}:{member_id}:{day.isoformat()}:{param or 0}",
        member_id,
        day_start(day, settings.timezone),
        param=param,
        facts={
            **facts,
            **({"expires_on": payload["expires_on"]} if "expires_on" in payload else {}),
        },
    )
    return engine.handle_event(session, event, settings)


def handlers(settings: engine.EngineSettings) -> dict[str, Handler]:
    """Outbox topic → handler, bound to the engine's settings."""
    bound: dict[str, Handler] = {
        "member.enrolled": lambda s, p: enrolled(s, p, settings),
        "reward.redeemed": lambda s, p: reward_redeemed(s, p, settings),
        "tier.changed": lambda s, p: tier_changed(s, p, settings),
    }
    for trigger in DAILY_TRIGGERS:
        bound[trigger] = lambda s, p: daily(s, p, settings)
    return bound


def _unheeded(trigger: str) -> Callable[[Session, list[dict[str, Any]]], set[int]]:
    """A run of one trigger's events: done at once when no live campaign listens to it (the
    one-event handler would find no candidate and do nothing); otherwise each on its own."""

    def handle(session: Session, payloads: list[dict[str, Any]]) -> set[int]:
        if engine.live_program(session).rules_for(trigger):
            return set(range(len(payloads)))
        return set()

    return handle


def batch_handlers() -> dict[str, Callable[[Session, list[dict[str, Any]]], set[int]]]:
    """Outbox topic → handler of a run of its messages."""
    return {
        topic: _unheeded(topic)
        for topic in ("member.enrolled", "reward.redeemed", "tier.changed", *DAILY_TRIGGERS)
    }

"""Tier policies: the ladder, what qualifies, over which window, and how members move down.

Pure rules. A policy is a JSON document:
{"basis": "spend" | "points",
 "window": {"type": "rolling", "months": 12} | {"type": "calendar_year"},
 "downgrade": "period_end" | "one_tier",
 "tiers": [{"code", "name", "threshold": "0", "multiplier": "1.0", "privileges": [...]}, …]}
What qualifies is the spend (or the points earned) on the program days of the window. Members
move up as soon as what qualifies in the window ending that day reaches a higher threshold.
They keep a tier for a period: from the day after they reached it (or from a review) until
its review, at midnight (program time) `months` later, or at the next new year. The window
ending the day before the review decides: down to the tier it reaches ("period_end"), or one
step at most ("one_tier"); then the next period begins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

BASES = ("spend", "points")
WINDOWS = ("rolling", "calendar_year")
DOWNGRADES = ("period_end", "one_tier")
# New members start in this tier (the enrolment default), so every ladder starts with it.
BASE_TIER = "member"


@dataclass(frozen=True)
class PolicyTier:
    code: str
    name: str
    threshold: int  # minor units (spend) or points
    multiplier: Decimal
    privileges: tuple[str, ...] = ()


@dataclass(frozen=True)
class TierPolicy:
    basis: str
    window_type: str
    window_months: int  # 12 for a calendar year
    downgrade: str
    tiers: tuple[PolicyTier, ...]  # by threshold, the first at 0

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> TierPolicy:
        window = doc["window"]
        scale = 100 if doc["basis"] == "spend" else 1
        tiers = tuple(
            sorted(
                (
                    PolicyTier(
                        code=t["code"],
                        name=t.get("name") or t["code"].title(),
                        threshold=int(Decimal(str(t["threshold"])) * scale),
                        multiplier=Decimal(str(t.get("multiplier", "1"))),
                        privileges=tuple(t.get("privileges") or ()),
                    )
                    for t in doc["tiers"]
                ),
                key=lambda t: t.threshold,
            )
        )
        return cls(
            basis=doc["basis"],
            window_type=window["type"],
            window_months=int(window.get("months", 12)),
            downgrade=doc.get("downgrade", "period_end"),
            tiers=tiers,
        )

    def rank(self, code: str) -> int:
        """The tier's place on the ladder (0 = lowest); an unknown tier counts as the lowest."""
        for index, tier in enumerate(self.tiers):
            if tier.code == code:
                return index
        return 0

    def reached(self, qualifying: int) -> PolicyTier:
        """The highest tier whose threshold `qualifying` reaches."""
        found = self.tiers[0]
        for tier in self.tiers:
            if tier.threshold <= qualifying:
                found = tier
        return found

    def is_top(self, code: str) -> bool:
        return code == self.tiers[-1].code


def document_problems(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, problem) pairs for rules across a policy's fields (the schema checks types)."""
    problems = []
    codes = [t["code"] for t in doc["tiers"]]
    if codes and codes[0] != BASE_TIER:
        problems.append(("tiers.0.code", f'the first tier is "{BASE_TIER}", where members start'))
    if len(set(codes)) != len(codes):
        problems.append(("tiers", "tier codes must be different"))
    thresholds = [Decimal(str(t["threshold"])) for t in doc["tiers"]]
    if sorted(thresholds) != thresholds:
        problems.append(("tiers", "list the tiers from the lowest threshold up"))
    elif len(set(thresholds)) != len(thresholds):
        problems.append(("tiers", "each tier needs its own threshold"))
    if thresholds and thresholds[0] != 0:
        problems.append(("tiers.0.threshold", "the first tier starts at 0"))
    if doc["basis"] == "points" and any(t != t.to_integral_value() for t in thresholds):
        problems.append(("tiers", "points thresholds are whole numbers"))
    return problems


def _decimal_text(value: Decimal, places: int) -> str:
    """A decimal as text with at most `places` places and at least one ("1.0", "1.25")."""
    text = f"{value:.{places}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def normalised(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The policy document as it is stored and shown: every field present, amounts as text
    ("10000.00" for spend, "500" for points), multipliers as "1.25"."""
    spend = doc["basis"] == "spend"
    window = {"type": doc["window"]["type"]}
    if window["type"] == "rolling":
        window["months"] = int(doc["window"]["months"])
    tiers = []
    for t in doc["tiers"]:
        threshold = Decimal(str(t["threshold"]))
        tiers.append(
            {
                "code": t["code"],
                "name": (t.get("name") or t["code"].title()).strip(),
                "threshold": f"{threshold:.2f}" if spend else f"{threshold:.0f}",
                "multiplier": _decimal_text(Decimal(str(t.get("multiplier", "1"))), 3),
                "privileges": list(t.get("privileges") or []),
            }
        )
    return {
        "basis": doc["basis"],
        "window": window,
        "downgrade": doc.get("downgrade", "period_end"),
        "tiers": tiers,
    }


def add_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier), on the month's last day when it is shorter."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    following = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return day.replace(year=year, month=month + 1, day=min(day.day, (following - timedelta(1)).day))


def program_day(at: datetime, timezone: str) -> date:
    return at.astimezone(ZoneInfo(timezone)).date()


def window_days(policy: TierPolicy, last_day: date) -> tuple[date, date]:
    """The first and last program day of the qualifying window that ends on `last_day`."""
    if policy.window_type == "calendar_year":
        return last_day.replace(month=1, day=1), last_day
    return add_months(last_day, -policy.window_months) + timedelta(days=1), last_day


def period_start(at: datetime, timezone: str, *, reached: bool) -> date:
    """The first program day of the period a tier is held for and earned again in: the day
    after it was reached (that day's spend reached it), or the day of a review."""
    day = program_day(at, timezone)
    return day + timedelta(days=1) if reached else day


def review_at(policy: TierPolicy, start: date, timezone: str) -> datetime:
    """When a tier held from the program day `start` is reviewed: at midnight (program time)
    `months` later, or at the next new year."""
    if policy.window_type == "calendar_year":
        due = date(start.year + 1, 1, 1)
    else:
        due = add_months(start, policy.window_months)
    return datetime.combine(due, time(0), ZoneInfo(timezone))


def review_window(policy: TierPolicy, review: datetime, timezone: str) -> tuple[date, date]:
    """The window that decides a review: the one ending the program day before it."""
    return window_days(policy, program_day(review, timezone) - timedelta(days=1))


def upgrade_to(policy: TierPolicy, current: str, qualifying: int) -> PolicyTier | None:
    """The higher tier `qualifying` reaches now, if any."""
    target = policy.reached(qualifying)
    return target if policy.rank(target.code) > policy.rank(current) else None


def review_to(policy: TierPolicy, current: str, qualifying: int) -> PolicyTier:
    """The tier a member holds after a review, on what qualified in the window ending then."""
    target = policy.reached(qualifying)
    now_rank, target_rank = policy.rank(current), policy.rank(target.code)
    if target_rank >= now_rank:
        return target
    if policy.downgrade == "one_tier":
        return policy.tiers[now_rank - 1]
    return target


@dataclass(frozen=True)
class Progress:
    """Where a member stands; amounts in the basis' unit (minor units or points)."""

    tier: str
    next_tier: str | None
    qualifying: int  # in the window ending today
    to_next: int | None  # still needed in that window to reach the next tier
    to_keep: int | None  # still needed in the window the review decides on
    keep_by: datetime | None  # the review


def progress(
    policy: TierPolicy, current: str, qualifying: int, keeping: int, review: datetime | None
) -> Progress:
    """The next tier and what it takes; what keeps the current tier (`keeping` qualified so far
    in the window the review decides on), and by when. The lowest tier needs no keeping."""
    rank = policy.rank(current)
    above = policy.tiers[rank + 1] if rank + 1 < len(policy.tiers) else None
    held = rank > 0 and review is not None
    return Progress(
        tier=current,
        next_tier=above.code if above else None,
        qualifying=qualifying,
        to_next=max(0, above.threshold - qualifying) if above else None,
        to_keep=max(0, policy.tiers[rank].threshold - keeping) if held else None,
        keep_by=review if held else None,
    )

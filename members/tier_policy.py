"""Tier policies: the ladder, what qualifies, over which window, and how members move down.

Pure rules. A policy is a JSON document:
{"basis": "spend" | "points",
 "window": {"type": "rolling", "months": 12} | {"type": "calendar_year"},
 "downgrade": "period_end" | "one_tier",
 "tiers": [{"code", "name", "threshold": "0", "multiplier": "1.0", "privileges": [...]}, …]}
Members move up as soon as what qualifies in the window reaches a higher threshold. They keep
a tier until its review (the end of the calendar year, or `months` after they reached it);
at the review the window ending then decides: down to the tier it reaches ("period_end"), or
one step at most ("one_tier").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

BASES = ("spend", "points")
WINDOWS = ("rolling", "calendar_year")
DOWNGRADES = ("period_end", "one_tier")


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


def document_problems(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, problem) pairs for rules across a policy's fields (the schema checks types)."""
    problems = []
    codes = [t["code"] for t in doc["tiers"]]
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


def _add_months(at: datetime, months: int) -> datetime:
    index = at.year * 12 + at.month - 1 + months
    year, month = divmod(index, 12)
    day = min(at.day, _days_in(year, month + 1))
    return at.replace(year=year, month=month + 1, day=day)


def _days_in(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - datetime(year, month, 1)).days


def window_start(policy: TierPolicy, at: datetime, timezone: str) -> datetime:
    """Where the qualifying window that ends at `at` begins."""
    local = at.astimezone(ZoneInfo(timezone))
    if policy.window_type == "calendar_year":
        return datetime.combine(local.date().replace(month=1, day=1), time(0), local.tzinfo)
    return _add_months(local, -policy.window_months)


def review_at(policy: TierPolicy, tier_since: datetime, timezone: str) -> datetime:
    """When a tier reached at `tier_since` is reviewed (kept or lowered)."""
    local = tier_since.astimezone(ZoneInfo(timezone))
    if policy.window_type == "calendar_year":
        next_year = local.date().replace(year=local.year + 1, month=1, day=1)
        return datetime.combine(next_year, time(0), local.tzinfo)
    return _add_months(local, policy.window_months)


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


def progress(
    policy: TierPolicy, current: str, qualifying: int, review: datetime | None
) -> dict[str, Any]:
    """The next tier and what it takes; what keeps the current tier, and by when."""
    rank = policy.rank(current)
    above = policy.tiers[rank + 1] if rank + 1 < len(policy.tiers) else None
    keep = policy.tiers[rank].threshold
    return {
        "tier": current,
        "basis": policy.basis,
        "qualifying": qualifying,
        "next_tier": above.code if above else None,
        "to_next": max(0, above.threshold - qualifying) if above else None,
        "to_keep": max(0, keep - qualifying),
        "keep_by": review if rank > 0 else None,
    }


def ladder_codes(policy: TierPolicy) -> Sequence[str]:
    return [t.code for t in policy.tiers]

"""The program report: every figure of `GET /analytics/program` for one scope, and the same
as CSV rows for finance."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from rewards.analytics import program, rolled, trends
from rewards.analytics.periods import day_of
from rewards.analytics.program import Scope


def program_report(session: Session, scope: Scope) -> dict[str, Any]:
    """The report, its members, flows, weeks and cohorts read from the rollups."""
    w = scope.window
    read = rolled.load(session, scope)
    return _report(
        session,
        scope,
        rolled.members(session, scope, read),
        rolled.point_flows(read, day_of(w.first), day_of(w.last)),
        rolled.by_week(scope, read),
        rolled.cohorts(scope, read),
        read.balances,
        read.breakage_rate,
        rolled.by_tier(read),
    )


def recounted_report(session: Session, scope: Scope) -> dict[str, Any]:
    """The same report counted from the ledger, receipts and members themselves (slow on a
    large program): what the rollups are checked against."""
    w = scope.window
    return _report(
        session,
        scope,
        program.members(session, scope),
        program.point_flows(session, scope, w.start(), w.end),
        trends.by_week(session, scope),
        trends.cohorts(session, scope),
        program.balances(session, scope),
        program.breakage(session, scope),
        program.by_tier(session, scope),
    )


def _report(
    session: Session,
    scope: Scope,
    members: dict[str, Any],
    points: dict[str, int],
    weeks: list[dict[str, Any]],
    cohorts: list[dict[str, Any]],
    balances: tuple[int, int],
    breakage_rate: str | None,
    tiers: list[dict[str, Any]],
) -> dict[str, Any]:
    outstanding, owed = balances
    points.update(outstanding=outstanding, owed=owed, pending=program.pending(session, scope))
    return {
        "from": scope.window.first.isoformat(),
        "to": scope.window.last.isoformat(),
        "members": members,
        "points": points,
        "redemption_rate": program.share(points["redeemed"], points["issued"]),
        "breakage_rate": breakage_rate,
        "liability": program.liability(session, outstanding, breakage_rate),
        "by_tier": tiers,
        "by_week": weeks,
        "cohorts": cohorts,
    }


def csv_rows(report: dict[str, Any]) -> list[list[str]]:
    """The report as (section, figure, value) rows: the headline figures, then each week."""
    rows = [["section", "figure", "value"]]
    for section in ("members", "points", "liability"):
        rows += [[section, name, str(value)] for name, value in report[section].items()]
    for name in ("redemption_rate", "breakage_rate"):
        rows.append(["rates", name, "" if report[name] is None else report[name]])
    for tier in report["by_tier"]:
        rows += [[f"tier {tier['tier']}", k, str(tier[k])] for k in ("members", "outstanding")]
    for week in report["by_week"]:
        rows += [[f"week {week['week_start']}", k, str(v)] for k, v in week.items()][1:]
    for cohort in report["cohorts"]:
        rows.append([f"cohort {cohort['month']}", "members", str(cohort["members"])])
        rows += [
            [f"cohort {cohort['month']}", f"retained month {k}", value]
            for k, value in enumerate(cohort["retained"])
        ]
    return rows

"""The program report: every figure of `GET /analytics/program` for one scope, and the same
as CSV rows for finance."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from rewards.analytics import program, trends
from rewards.analytics.program import Scope


def program_report(session: Session, scope: Scope) -> dict[str, Any]:
    w = scope.window
    points = program.point_flows(session, scope, w.start(), w.end)
    outstanding, owed = program.balances(session, scope)
    points.update(outstanding=outstanding, owed=owed, pending=program.pending(session, scope))
    breakage_rate = program.breakage(session, scope)
    return {
        "from": w.first.isoformat(),
        "to": w.last.isoformat(),
        "members": program.members(session, scope),
        "points": points,
        "redemption_rate": program.share(points["redeemed"], points["issued"]),
        "breakage_rate": breakage_rate,
        "liability": program.liability(session, outstanding, breakage_rate),
        "by_tier": program.by_tier(session, scope),
        "by_week": trends.by_week(session, scope),
        "cohorts": trends.cohorts(session, scope),
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

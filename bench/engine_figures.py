"""What one engine-benchmark run wrote, read back from PostgreSQL: applications, points,
tags, events, progress over time, the campaign limits checked, and the results table."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import psycopg

from bench.stack import libpq_url

TIMELINE = """
SELECT floor(extract(epoch FROM processed_at - %s))::int AS second, count(*)
FROM transactions WHERE processed_at IS NOT NULL GROUP BY 1 ORDER BY 1
"""
APPLICATIONS = """
SELECT "group", count(*), coalesce(sum(points_issued), 0)::bigint FROM campaign_applications
WHERE transaction_id IS NOT NULL GROUP BY "group"
"""
JOURNAL = """
SELECT kind, count(*), coalesce(sum(points), 0)::bigint FROM journal_entries
WHERE cause_type = 'transaction' GROUP BY kind
"""
EVENTS = "SELECT topic, count(*) FROM outbox WHERE topic <> 'member.enrolled' GROUP BY topic"
TAGS = "SELECT count(*) FROM member_tags WHERE tag <> 'welcome'"
WELCOME = """
SELECT count(*), coalesce(sum(points_issued), 0)::bigint FROM campaign_applications
WHERE event_key LIKE 'member.enrolled:%'
"""
BY_CAMPAIGN = """
SELECT c.id, c.name, c.priority, c.definition -> 'limits', c.points_issued, c.applications,
       count(a.id) FILTER (WHERE a."group" = 'treated'),
       count(a.id) FILTER (WHERE a."group" = 'holdout'),
       coalesce(sum(a.points_issued), 0)::bigint
FROM campaigns c LEFT JOIN campaign_applications a ON a.campaign_id = c.id
WHERE c.builtin IS NULL AND c.trigger = 'transaction.recorded'
GROUP BY c.id ORDER BY c.id
"""
PERIOD = {
    "campaign": "0",
    "day": "date_trunc('day', occurred_at AT TIME ZONE %(tz)s)",
    "week": "date_trunc('week', occurred_at AT TIME ZONE %(tz)s)",
    "month": "date_trunc('month', occurred_at AT TIME ZONE %(tz)s)",
}
OVER_LIMIT = """
SELECT count(*) FROM (SELECT member_id, {period} FROM campaign_applications
WHERE campaign_id = %(id)s AND "group" = 'treated' GROUP BY 1, 2
HAVING count(*) > %(count)s) AS over
"""
BONUS_POINTS = """
SELECT (SELECT coalesce(sum(points), 0)::bigint FROM journal_entries
        WHERE kind = 'bonus' AND cause_type = 'transaction')
     - (SELECT coalesce(sum(points_issued), 0)::bigint FROM campaign_applications
        WHERE transaction_id IS NOT NULL)
"""


def _connect(database: str) -> psycopg.Connection:
    return psycopg.connect(libpq_url(database), autocommit=True)


def timeline(database: str, started: datetime) -> list[tuple[int, int]]:
    """(seconds since the worker started, receipts processed by then), one per second."""
    with _connect(database) as conn:
        rows = conn.execute(TIMELINE, (started,)).fetchall()
    total, out = 0, []
    for second, count in rows:
        total += count
        out.append((second, total))
    return out


def written(database: str) -> dict[str, Any]:
    """What the worker wrote for the receipts (and, apart, what the welcome campaign gave)."""
    with _connect(database) as conn:
        applications = {g: {"count": n, "points": p} for g, n, p in conn.execute(APPLICATIONS)}
        journal = {kind: {"entries": n, "points": p} for kind, n, p in conn.execute(JOURNAL)}
        events = dict(conn.execute(EVENTS).fetchall())
        tags = conn.execute(TAGS).fetchone()[0]  # type: ignore[index]
        welcome = conn.execute(WELCOME).fetchone()  # type: ignore[misc]
    return {
        "applications": applications,
        "journal": journal,
        "member_tags": tags,
        "events": events,
        "welcome_at_enrolment": {"applications": welcome[0], "points": welcome[1]},
    }


def by_campaign(database: str) -> list[dict[str, Any]]:
    """Per transaction.recorded campaign: limits, budget counters, applications, points."""
    with _connect(database) as conn:
        rows = conn.execute(BY_CAMPAIGN).fetchall()
    return [
        {"id": row[0], "name": row[1], "priority": row[2], "limits": row[3] or {},
         "budget_used": {"points": row[4], "applications": row[5]},
         "treated": row[6], "holdout": row[7], "points": row[8]}
        for row in rows
    ]  # fmt: skip


def _overspent(campaign: dict[str, Any]) -> bool:
    limits, used = campaign["limits"], campaign["budget_used"]
    if "budget_points" not in limits and "budget_count" not in limits:
        return False
    counters_differ = (used["points"], used["applications"]) != (
        campaign["points"],
        campaign["treated"],
    )
    return (
        counters_differ
        or campaign["points"] > limits.get("budget_points", campaign["points"])
        or campaign["treated"] > limits.get("budget_count", campaign["treated"])
    )


def campaign_checks(database: str, timezone: str) -> dict[str, int]:
    """The campaigns' own invariants; every figure should be 0."""
    campaigns = by_campaign(database)
    over_limit = 0
    with _connect(database) as conn:
        for campaign in campaigns:
            if per_member := campaign["limits"].get("per_member"):
                sql = OVER_LIMIT.format(period=PERIOD[per_member["period"]])
                params = {"id": campaign["id"], "count": per_member["count"], "tz": timezone}
                over_limit += conn.execute(sql, params).fetchone()[0]  # type: ignore[index]
        bonus_differs = conn.execute(BONUS_POINTS).fetchone()[0]  # type: ignore[index]
    return {
        "budgets_overspent_or_miscounted": sum(_overspent(c) for c in campaigns),
        "per_member_limits_exceeded": over_limit,
        "bonus_points_differ_from_applications": abs(bonus_differs),
    }


def _line(cells: list[Any], widths: list[int]) -> str:
    return "  ".join(f"{cell!s:>{width}}" for cell, width in zip(cells, widths, strict=True))


HEADER = [
    "K", "receipts/s", "after 1st batch", "worker ms/rcpt", "postgres ms/rcpt", "other ms",
    "busy %", "applied/rcpt", "bonus points", "base points", "integrity",
]  # fmt: skip


def _cells(run: dict[str, Any]) -> list[Any]:
    cpu, written_ = run["cpu_per_receipt"], run["written"]
    applied = sum(a["count"] for a in written_["applications"].values())
    bad = {k: v for k, v in run["integrity"].items() if v}
    if run["drain_job_timed_out"]:
        bad["drain_job_timed_out"] = 1
    return [
        run["campaigns"],
        run["receipts_per_s"],
        run["receipts_per_s_after_first_batch"] or "-",
        f"{cpu['rq_worker_ms']:.2f}",
        f"{cpu['postgres_ms']:.2f}",
        f"{cpu['other_processes_ms']:.2f}",
        cpu["machine_busy_pct"],
        f"{applied / max(run['processed'], 1):.2f}",
        written_["journal"].get("bonus", {}).get("points", 0),
        written_["journal"].get("earn", {}).get("points", 0),
        _verdict(run["all_processed"], bad),
    ]


def _verdict(all_processed: bool, bad: dict[str, int]) -> str:
    if not all_processed:
        return "NOT ALL PROCESSED"
    return json.dumps(bad) if bad else "ok"


def table(results: dict[str, Any]) -> str:
    """One line per campaign count: the rate through one worker, CPU per receipt, the output."""
    m, lines = results["machine"], []
    lines.append(f"machine: {m['nproc']} CPU ({m['cpu_model']}), {m['memory_gib']} GiB, "
                 f"PostgreSQL {m['postgresql']}, Redis {m['redis']}")  # fmt: skip
    if pg := results.get("pgbench"):
        lines.append(f"pgbench TPC-B (yardstick): {pg['tps']:.0f} tps")
    options = results["options"]
    lines.append(
        f"{options['receipts']} receipts per K through one `flask --app wsgi worker`; CPU ms per "
        "receipt from the worker's start (the JSON also has them after its first batch)"
    )
    rows = [HEADER, *(_cells(run) for run in results["runs"])]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(HEADER))]
    lines += [_line(row, widths) for row in rows]
    return "\n".join(lines)

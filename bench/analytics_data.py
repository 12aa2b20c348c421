"""The ledger of the large synthetic program (bench/profile_data.py), made by SQL: what the
engine and the tills would have posted for its receipts — an earning entry and a lot per
sale, redemptions of a fifth of them a day later, expiry of a twentieth, with member balances
to match — so that the program report reads a ledger of realistic size and shape."""

from __future__ import annotations

import time
from typing import Any

import psycopg

LEDGER_SQL = (
    # earning: 1 point per 25.00, posted when the sale was processed
    """
    INSERT INTO journal_entries (id, idempotency_key, kind, member_id, points, balance_after,
        occurred_at, description, cause_type, cause_id, rule, store_id)
    SELECT t.id, 'earn:txn:' || t.id || ':base', 'earn', t.member_id, t.total_minor / 2500, 0,
        t.occurred_at, 'Purchase ' || t.external_id, 'transaction', t.id::text, 'base',
        t.store_id
    FROM transactions AS t
    """,
    """
    INSERT INTO points_lots (id, member_id, entry_id, points, remaining, earned_at, expires_at)
    SELECT e.id, e.member_id, e.id, e.points,
        CASE WHEN e.id %% 5 = 0 OR e.id %% 20 = 1 THEN 0 ELSE e.points END,
        e.occurred_at, e.occurred_at + interval '2 years'
    FROM journal_entries AS e
    """,
    # a fifth of the sales' points redeemed a day later at the same store
    """
    INSERT INTO journal_entries (id, idempotency_key, kind, member_id, points, balance_after,
        occurred_at, description, cause_type, cause_id, rule, store_id)
    SELECT %(offset)s + e.id, 'redeem:redemption:' || e.id, 'redeem', e.member_id, -e.points,
        0, least(e.occurred_at + interval '1 day', now()), 'Redeemed', 'redemption', e.id::text, '',
        e.store_id
    FROM journal_entries AS e WHERE e.kind = 'earn' AND e.id %% 5 = 0
    """,
    # a twentieth expired (the lot closed by expiry)
    """
    INSERT INTO journal_entries (id, idempotency_key, kind, member_id, points, balance_after,
        occurred_at, description, cause_type, cause_id, rule)
    SELECT 2 * %(offset)s + e.id, 'expire:' || e.id, 'expire', e.member_id, -e.points, 0,
        e.occurred_at + interval '180 days', 'Expired', 'expiry', e.id::text, ''
    FROM journal_entries AS e
    WHERE e.kind = 'earn' AND e.id %% 20 = 1 AND e.occurred_at < now() - interval '180 days'
    """,
    """
    INSERT INTO lot_movements (lot_id, entry_id, points)
    SELECT e.id - 2 * %(offset)s, e.id, e.points FROM journal_entries AS e WHERE e.kind = 'expire'
    """,
    """
    UPDATE members AS m SET points_balance = b.points
    FROM (SELECT member_id, sum(points) AS points FROM journal_entries GROUP BY member_id) AS b
    WHERE m.id = b.member_id
    """,
)


def generate(libpq_url: str) -> dict[str, Any]:
    """Post the ledger of the receipts already made; returns the counts and the seconds."""
    started = time.perf_counter()
    with psycopg.connect(libpq_url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET work_mem = '256MB'")
        top = conn.execute("SELECT coalesce(max(id), 0) FROM transactions").fetchone()
        offset = 10 ** len(str(top[0] if top else 0))
        for sql in LEDGER_SQL:
            conn.execute(sql, {"offset": offset})
        for table in ("journal_entries", "lot_movements"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        conn.execute("VACUUM ANALYZE")
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in ("journal_entries", "points_lots", "lot_movements")
        }
    return {"counts": counts, "seconds": round(time.perf_counter() - started, 1)}

"""A large synthetic program for the profile benchmarks, made by SQL on PostgreSQL: members,
their sales as processed receipts, and what the engine derives from the receipts (member days,
category and store affinities, visits and spend, tiers by 12-month spend, consents, tags).

Each member makes a geometric number of purchases (the mean that gives the requested total)
spread as a Poisson process between a first purchase in the two years before the as-of day and
a last one after a span drawn per member, so recency, frequency and lifetime vary as the RFM
and BG/NBD models expect. Sales are 60.00 to 460.00, mostly small.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import psycopg

STORES = ("SPG", "TLR", "ARI", "SLM")
CATEGORIES = ("coffee", "bakery", "dessert", "tea", "clothes", "accessories")
TIMEZONE = "Asia/Bangkok"

MEMBERS_SQL = """
INSERT INTO members (id, member_no, name, birthdate, locale, status, tier_code, enrolled_at,
    enrolled_store_id, points_balance, lifetime_spend_minor, visits, updated_at)
SELECT g, lpad(g::text, 10, '0'), 'Member ' || g,
    date '1960-01-01' + (hashint4(g) & 16383),
    CASE WHEN g %% 3 = 0 THEN 'en' ELSE 'th' END, 'active', 'member',
    %(as_of)s::timestamptz - interval '800 days', (SELECT min(id) FROM stores) + g %% 4,
    0, 0, 0, now()
FROM generate_series(1, %(members)s) AS g
"""

# Per member: n purchases (geometric, mean `per_member`) between the first one, a day in the two
# years before the as-of day, and the day the member stops (after a span drawn per member, or
# the as-of day): the times of a Poisson process with n events in that window.
SALES_SQL = """
WITH plan AS (
    SELECT g AS member_id,
        1 + floor(ln(1 - random()) / ln(1 - 1.0 / %(per_member)s))::int AS n,
        730 * random() AS first_back,
        730 * power(random(), 0.7) AS span,
        -ln(1 - random()) AS extra
    FROM generate_series(1, %(members)s) AS g
), draws AS (
    SELECT member_id, k, first_back, greatest(first_back - span, 0) AS last_back, extra,
        -ln(1 - random()) AS e
    FROM plan, generate_series(1, n) AS k
), days AS (
    SELECT member_id, k, first_back - (first_back - last_back)
        * sum(e) OVER (PARTITION BY member_id ORDER BY k)
        / (sum(e) OVER (PARTITION BY member_id) + extra) AS day_back
    FROM draws
)
INSERT INTO transactions (id, store_id, source, external_id, type, occurred_at, currency,
    member_id, total_minor, discount_minor, items, body_hash, status, points_awarded,
    base_points, points_pending, refunded_minor, refund_processed_minor, created_at,
    processed_at)
SELECT row_number() OVER (), s.store_id, 'csv', 'G-' || row_number() OVER (), 'sale',
    %(as_of)s::timestamptz - make_interval(secs => 86400 * d.day_back) - interval '2 hours',
    'THB', d.member_id, s.total, 0,
    jsonb_build_array(jsonb_build_object('sku', 'SKU-' || s.category, 'category', s.category,
        'quantity', '1', 'unit_price', to_char(s.total / 100.0, 'FM999990.00'))),
    md5(d.member_id::text || '-' || d.k), 'processed', 0, 0, 0, 0, 0, now(), now()
FROM days AS d,
LATERAL (SELECT (SELECT min(id) FROM stores) + (d.member_id + d.k) %% 4 AS store_id,
    (ARRAY['coffee','bakery','dessert','tea','clothes','accessories'])[
        1 + (d.member_id * 7 + d.k) %% 6] AS category,
    (6000 + floor(40000 * power(random(), 3)))::bigint AS total) AS s
"""

DERIVED_SQL = (
    """
    INSERT INTO member_days (member_id, day, spend_minor, purchases, points)
    SELECT member_id, (occurred_at AT TIME ZONE %(tz)s)::date, sum(total_minor), count(*), 0
    FROM transactions GROUP BY 1, 2
    """,
    """
    INSERT INTO member_affinities (member_id, kind, key, spend_minor, purchases)
    SELECT member_id, 'category', items -> 0 ->> 'category', sum(total_minor), count(*)
    FROM transactions GROUP BY 1, 3
    """,
    """
    INSERT INTO member_affinities (member_id, kind, key, spend_minor, purchases)
    SELECT member_id, 'store', store_id::text, sum(total_minor), count(*)
    FROM transactions GROUP BY 1, 3
    """,
    """
    UPDATE members m SET visits = t.n, lifetime_spend_minor = t.spend,
        first_purchase_at = t.first, last_purchase_at = t.last,
        enrolled_at = least(m.enrolled_at, t.first)
    FROM (SELECT member_id, count(*) AS n, sum(total_minor) AS spend,
              min(occurred_at) AS first, max(occurred_at) AS last
          FROM transactions GROUP BY member_id) AS t
    WHERE m.id = t.member_id
    """,
    """
    UPDATE members m SET tier_code = CASE WHEN s.spend >= 2000000 THEN 'gold'
            WHEN s.spend >= 500000 THEN 'silver' ELSE 'member' END
    FROM (SELECT member_id, sum(spend_minor) AS spend FROM member_days
          WHERE day > %(as_of)s::date - 365 GROUP BY member_id) AS s
    WHERE m.id = s.member_id AND s.spend >= 500000
    """,
    """
    INSERT INTO consents (member_id, channel, granted, changed_at)
    SELECT g, c, true, now()
    FROM generate_series(1, %(members)s) AS g, unnest(ARRAY['marketing_email',
        'marketing_sms']) AS c
    WHERE hashint4(g + length(c)) %% 10 < 6
    """,
    """
    INSERT INTO member_tags (member_id, tag, created_at)
    SELECT g, 'vip', now() FROM generate_series(1, %(members)s) AS g WHERE g %% 50 = 0
    """,
)

SEQUENCES = ("members", "transactions")


def generate(libpq_url: str, members: int, transactions: int, as_of: date) -> dict[str, Any]:
    """Fill an empty, migrated database that has its stores and tier ladder; returns the
    counts made and the seconds each step took."""
    params = {
        "members": members,
        "per_member": max(transactions / members, 1.0001),
        "as_of": as_of.isoformat(),
        "tz": TIMEZONE,
    }
    steps: dict[str, float] = {}
    with psycopg.connect(libpq_url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET work_mem = '256MB'")
        for name, sql in (("members", MEMBERS_SQL), ("transactions", SALES_SQL)):
            started = time.perf_counter()
            conn.execute(sql, params)
            steps[name] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        for sql in DERIVED_SQL:
            conn.execute(sql, params)
        steps["derived"] = round(time.perf_counter() - started, 1)
        for table in SEQUENCES:
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        steps["vacuum_analyze"] = round(time.perf_counter() - started, 1)
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in ("members", "transactions", "member_days", "member_affinities")
        }
    return {"counts": counts, "seconds": steps}


SCORES = ("segment_members", "segments", "member_metrics", "clv_models", "outbox")


def made_before(libpq_url: str, members: int) -> bool:
    """Whether the database holds a program of this size from an earlier run."""
    try:
        with psycopg.connect(libpq_url, autocommit=True) as conn:
            found = conn.execute("SELECT count(*) FROM members").fetchone()
    except psycopg.Error:
        return False
    return found is not None and found[0] == members


def reset_scores(libpq_url: str) -> dict[str, Any]:
    """Keep the program, drop what the jobs made (scores, models, segments, events)."""
    with psycopg.connect(libpq_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(SCORES)}")
        conn.execute("VACUUM ANALYZE")
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in ("members", "transactions", "member_days", "member_affinities")
        }
    return {"counts": counts, "seconds": {"kept": 0.0}}

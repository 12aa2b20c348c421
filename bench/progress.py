"""Reading the database while the service works: how many receipts are fully processed,
and whether the books still balance afterwards."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from bench.stack import libpq_url

COUNTS = """
SELECT count(*), count(*) FILTER (WHERE status = 'processed'), max(processed_at)
FROM transactions
"""


@dataclass(frozen=True)
class Counts:
    recorded: int
    processed: int
    last_processed_at: datetime | None


def counts(conn: psycopg.Connection) -> Counts:
    recorded, processed, last = conn.execute(COUNTS).fetchone()  # type: ignore[misc]
    return Counts(recorded, processed, last)


@dataclass
class Monitor:
    """Samples (seconds since start, recorded, processed) every `every` seconds."""

    database: str
    every: float = 0.5
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self, t0: float) -> None:
        self._thread = threading.Thread(target=self._run, args=(t0,), daemon=True)
        self._thread.start()

    def _run(self, t0: float) -> None:
        with psycopg.connect(libpq_url(self.database), autocommit=True) as conn:
            while not self._stop.wait(self.every):
                c = counts(conn)
                self.samples.append((round(time.monotonic() - t0, 2), c.recorded, c.processed))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def wait_processed(database: str, timeout: float) -> Counts:
    """Poll until every recorded receipt is processed, or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(libpq_url(database), autocommit=True) as conn:
        while True:
            c = counts(conn)
            if c.processed == c.recorded or time.monotonic() >= deadline:
                return c
            time.sleep(0.1)


CHECKS = {
    "unbalanced_entries": """
        SELECT count(*) FROM (SELECT entry_id FROM postings GROUP BY entry_id
        HAVING sum(points) <> 0) AS unbalanced""",
    "members_cache_differs": """
        SELECT count(*) FROM members m LEFT JOIN (SELECT member_id, sum(points) AS total
        FROM postings WHERE account = 'member' GROUP BY member_id) p ON p.member_id = m.id
        WHERE m.points_balance <> coalesce(p.total, 0)""",
    "members_negative": "SELECT count(*) FROM members WHERE points_balance < 0",
    "points_still_pending": "SELECT count(*) FROM transactions WHERE points_pending <> 0",
    "outbox_not_done": "SELECT count(*) FROM outbox WHERE status <> 'done'",
    "receipts_earning_twice": """
        SELECT count(*) FROM (SELECT cause_id FROM journal_entries
        WHERE kind = 'earn' AND cause_type = 'transaction' GROUP BY cause_id
        HAVING count(*) > 1) AS twice""",
}


def count_rows(database: str, queries: dict[str, str]) -> dict[str, int]:
    """The figure each `SELECT count(*) …` gives, by name."""
    with psycopg.connect(libpq_url(database), autocommit=True) as conn:
        return {k: conn.execute(sql).fetchone()[0] for k, sql in queries.items()}  # type: ignore[index]


def integrity(database: str) -> dict[str, Any]:
    """Invariants after the run; every figure should be 0."""
    with psycopg.connect(libpq_url(database), autocommit=True) as conn:
        return {name: conn.execute(sql).fetchone()[0] for name, sql in CHECKS.items()}  # type: ignore[index]

"""pgbench TPC-B on the same machine, in the same run: what the database alone can do."""

from __future__ import annotations

import re
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

from bench.stack import drop_database, recreate_database

HOST = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]


@dataclass(frozen=True)
class PgbenchResult:
    scale: int
    clients: int
    threads: int
    duration_s: int
    tps: float
    latency_avg_ms: float
    command: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"pgbench output has no {pattern!r}:\n{text}")
    return float(found.group(1))


def run_pgbench(
    database: str, scale: int, clients: int, threads: int, duration: int
) -> PgbenchResult:
    """Initialise a TPC-B database at `scale`, run the default script, drop the database."""
    recreate_database(database)
    try:
        init = ["pgbench", *HOST, "-i", "-q", "-s", str(scale), database]
        subprocess.run(init, check=True, capture_output=True, timeout=600)
        run = ["pgbench", *HOST, "-c", str(clients), "-j", str(threads), "-T", str(duration)]
        out = subprocess.run(
            [*run, database], check=True, capture_output=True, text=True, timeout=duration + 120
        ).stdout
    finally:
        drop_database(database)
    return PgbenchResult(
        scale=scale,
        clients=clients,
        threads=threads,
        duration_s=duration,
        tps=_number(r"tps = ([\d.]+)", out),
        latency_avg_ms=_number(r"latency average = ([\d.]+) ms", out),
        command=" ".join([*run, database]),
    )


def pgbench_tpcb() -> dict[str, Any]:
    """The run every benchmark compares with: scale 10, 8 clients, 2 threads, 30 s."""
    return run_pgbench("loyalty_bench_pgbench", 10, 8, 2, 30).as_dict()

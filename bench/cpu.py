"""CPU time spent per component during a phase, from /proc: where a receipt's cost goes.

The machine's total busy time is read too, so CPU taken by anything else running on the
machine at the same time shows up as `other` instead of silently lowering our figures.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.stack import Running, libpq_url

TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all CPUs."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / TICK, total / TICK


BACKENDS = """
SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()
AND (datname = %s OR backend_type <> 'client backend')
"""


def postgres_processes(database: str) -> list[int]:
    """The server processes serving `database`, and the shared ones (WAL writer, …)."""
    with psycopg.connect(libpq_url(database), autocommit=True) as conn:
        return [row[0] for row in conn.execute(BACKENDS, (database,)).fetchall()]


@dataclass
class Sample:
    """CPU seconds per process, by component, and the machine's busy and total time."""

    groups: dict[str, dict[int, float]]
    busy: float
    total: float


def groups_of(running: Running, database: str) -> dict[str, list[int]]:
    return {
        "gunicorn": [running.gunicorn.pid, *running.gunicorn_worker_pids()],
        "rq_worker": [w.pid for w in running.workers],
        "postgres": postgres_processes(database),
        "load_generator": [os.getpid()],
    }


def sample(groups: dict[str, list[int]]) -> Sample:
    busy, total = machine_cpu_s()
    cpu = {name: {pid: process_cpu_s(pid) for pid in pids} for name, pids in groups.items()}
    return Sample(cpu, busy, total)


def breakdown(before: Sample, after: Sample, units: int) -> dict[str, float]:
    """CPU milliseconds per unit of work by component, plus `other` and the machine's use.

    `after` may list processes that started during the phase (new pool connections):
    all of their CPU time counts.
    """
    ours = {
        name: sum(cpu - before.groups[name].get(pid, 0.0) for pid, cpu in pids.items())
        for name, pids in after.groups.items()
    }
    busy = after.busy - before.busy
    per_unit = {f"{k}_ms": round(1000 * v / max(units, 1), 3) for k, v in ours.items()}
    per_unit["other_processes_ms"] = round(1000 * (busy - sum(ours.values())) / max(units, 1), 3)
    per_unit["machine_busy_pct"] = round(100 * busy / max(after.total - before.total, 1e-9), 1)
    return per_unit


def spread(before: Sample, after: Sample, group: str) -> list[float]:
    """CPU seconds of each process of `group` in the phase: is the work shared out?"""
    old = before.groups[group]
    return sorted(
        (round(cpu - old.get(pid, 0.0), 2) for pid, cpu in after.groups[group].items()),
        reverse=True,
    )

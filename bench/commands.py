"""The service's command line as an operator runs it, against a benchmark's database, timed."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench import cpu, stack


def environment(database: str) -> dict[str, str]:
    """The embedded mode on this database: no Redis, so commands do their own work."""
    env = {k: v for k, v in os.environ.items() if k != "LOYALTY_REDIS_URL"}
    env.update(
        LOYALTY_DATABASE_URL=stack.sqlalchemy_url(database),
        LOYALTY_SECRET_KEY="bench-profiles-secret",
    )
    return env


def flask(
    env: dict[str, str], *args: str, timeout: float = 3600, prefix: Sequence[str] = ()
) -> str:
    """`flask --app wsgi …` (after `prefix`, a profiler say); its output, or RuntimeError with
    what it printed."""
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=stack.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # every finished descendant
    return usage.ru_utime + usage.ru_stime


def timed_flask(
    env: dict[str, str], *args: str, timeout: float = 3600, prefix: Sequence[str] = ()
) -> dict[str, Any]:
    """One command from start to exit: wall time, the CPU of its processes, the CPU of the rest
    of the machine meanwhile (PostgreSQL, on a machine left alone), and what it printed."""
    busy0, total0 = cpu.machine_cpu_s()
    own0 = _children_cpu_s()
    started = time.perf_counter()
    output = flask(env, *args, timeout=timeout, prefix=prefix)
    seconds = time.perf_counter() - started
    busy1, total1 = cpu.machine_cpu_s()
    own = _children_cpu_s() - own0
    return {
        "command": "flask --app wsgi " + " ".join(args),
        "seconds": round(seconds, 2),
        "command_cpu_s": round(own, 2),
        "rest_of_machine_cpu_s": round(busy1 - busy0 - own, 2),
        "machine_busy_pct": round(100 * (busy1 - busy0) / max(total1 - total0, 1e-9), 1),
        "output": output.strip().splitlines(),
    }

"""The machine a run happened on, the results table, and the JSON file in bench/results/."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
from redis import Redis

from bench.stack import REDIS, ROOT, libpq_url

RESULTS = ROOT / "bench" / "results"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _git_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def python_cpu_ms() -> float:
    """CPU (not wall) milliseconds this machine takes for a fixed pure-Python loop: compares
    machines, and is barely moved by other processes competing for the CPUs."""
    started = time.process_time()
    sum(i * i for i in range(2_000_000))
    return round(1000 * (time.process_time() - started), 1)


def machine(database: str) -> dict[str, Any]:
    with psycopg.connect(libpq_url(database)) as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    redis = Redis.from_url(f"redis://{REDIS}/0")
    redis_version = redis.info("server")["redis_version"]
    redis.close()
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": postgres,
        "redis": redis_version,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python_loop_cpu_ms": python_cpu_ms(),
        "commit": _git_commit(),
    }


def write_json(results: dict[str, Any], stamp: str, benchmark: str = "earn") -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{benchmark}-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path


def _row(name: str, value: Any, target: str = "") -> str:
    return f"  {name:<44} {value!s:>14}  {target}"


def _cpu_line(title: str, cpu: dict[str, float]) -> str:
    parts = ", ".join(
        f"{k.removesuffix('_ms')} {v:.2f}" for k, v in cpu.items() if k.endswith("_ms")
    )
    return f"  {title}: {parts}; machine busy {cpu['machine_busy_pct']}%"


def _rate(per_s: float, target: float, pgbench: dict[str, Any] | None) -> str:
    """The goal beside the figure, and the figure's ratio to pgbench TPC-B of the same run."""
    ratio = f"; {per_s / pgbench['tps']:.3f} of pgbench" if pgbench else ""
    return f"≥ {target:.0f}{ratio}"


def _receipt_lines(r: dict[str, Any], pgbench: dict[str, Any] | None) -> list[str]:
    speed = " → ".join(str(ms) for ms in r["python_loop_cpu_ms_before_after"])
    processed = r["processed_per_s"]
    return [
        _row("receipts ingested /s (HTTP 201)", f"{r['ingested_per_s']:.0f}"),
        _row("receipts fully processed /s", f"{processed:.0f}", _rate(processed, 1000, pgbench)),
        _row("worker rate while ingesting /s", f"{r['worker_per_s_during_load']:.0f}"),
        _row("receipt POST p50 / p99 ms", f"{r['latency_ms']['p50']} / {r['latency_ms']['p99']}"),
        _cpu_line("CPU ms per receipt", r["cpu_per_receipt"]),
        f"  CPU speed check (ms for a fixed Python loop, lower is faster): {speed}",
    ]


def _streaming_lines(st: dict[str, Any]) -> list[str]:
    lines = []
    stream = st["stream"]["latency_ms"]
    lines.append(_row(f"stream of {st['stream_rate']:.0f} receipts/s (batches of "
                      f"{st['stream_batch']}) p50 / p99 ms", f"{stream['p50']} / {stream['p99']}",
                      f"statuses {st['stream']['statuses']}"))  # fmt: skip
    for name in ("resolve", "quote", "redeem"):
        ms = st[name]["latency_ms"]
        lines.append(_row(f"  {name} @ {st['rate']:.0f}/s meanwhile p50 / p99 ms",
                          f"{ms['p50']} / {ms['p99']}", "p99 ≤ 20"))  # fmt: skip
    busy = st["cpu_ms_in_phase"]["machine_busy_pct"]
    lines.append(_row("  machine busy meanwhile", f"{busy}%"))
    return lines


def table(results: dict[str, Any]) -> str:
    """The headline figures, one per line, with the targets beside them."""
    m, lines = results["machine"], []
    lines.append(f"machine: {m['nproc']} CPU ({m['cpu_model']}), {m['memory_gib']} GiB, "
                 f"PostgreSQL {m['postgresql']}, Redis {m['redis']}")  # fmt: skip
    if pg := results.get("pgbench"):
        lines.append(_row("pgbench TPC-B tps (yardstick)", f"{pg['tps']:.0f}"))
    if r := results.get("receipts"):
        lines.extend(_receipt_lines(r, pg))
    if b := results.get("batches"):
        per_s = b["processed_per_s"]
        lines.append(_row(f"receipts fully processed /s in batches of {b['batch_size']}",
                          f"{per_s:.0f}", _rate(per_s, 3000, pg)))  # fmt: skip
        ms = b["batch_latency_ms"]
        lines.append(_row("batch POST p50 / p99 ms", f"{ms['p50']} / {ms['p99']}"))
        lines.append(_cpu_line("CPU ms per receipt in batches", b["cpu_per_receipt"]))
    for name in ("resolve", "redeem"):
        if lat := results.get(name):
            ms = lat["latency_ms"]
            lines.append(_row(f"{name} @ {lat['rate']}/s p50 / p99 ms",
                              f"{ms['p50']} / {ms['p99']}", "p99 ≤ 20"))  # fmt: skip
    for name in ("resolve", "redeem"):
        if lat := results.get(name):
            lines.append(_cpu_line(f"CPU ms per {name}", lat["cpu_per_request"]))
    if st := results.get("streaming"):
        lines.extend(_streaming_lines(st))
    if c := results.get("connections"):
        ms = c["latency_ms"]
        lines.append(_row(f"{c['connections']} connections resolving: within 1 s",
                          f"{c['within_1s']}", f"all; statuses {c['statuses']}"))  # fmt: skip
        spread = f"{ms['p50']} / {ms['p99']} / {ms['max']}"
        lines.append(_row("  their latency p50 / p99 / max ms", spread))
    bad = {k: v for k, v in results["integrity"].items() if v}
    lines.append(_row("integrity checks", "ok" if not bad else json.dumps(bad)))
    return "\n".join(lines)

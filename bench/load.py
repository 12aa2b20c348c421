"""Load generators over plain HTTP/1.1 keep-alive connections (stdlib http.client).

`closed_loop` keeps N clients busy for a fixed time, each sending its next request when the
last one answered. `open_loop` sends at a fixed rate from a precomputed schedule and measures
every latency from the request's scheduled time, so a stalled server is charged for the
requests that queued behind the stall (no coordinated omission).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TIMEOUT_S = 30.0


class Connection:
    """One keep-alive connection to 127.0.0.1, reopened once if the server closed it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> int:
        """POST JSON; returns the status (0 when the request failed at the transport)."""
        payload = json.dumps(body, separators=(",", ":")).encode()
        all_headers = {"Content-Type": "application/json", **headers}
        for attempt in (1, 2):
            try:
                self._conn.request("POST", path, payload, all_headers)
                response = self._conn.getresponse()
                response.read()
                return response.status
            except (http.client.HTTPException, OSError):
                self._conn.close()  # http.client reconnects on the next request
                if attempt == 2:
                    return 0
        return 0

    def open(self) -> bool:
        """Connect now (the kernel completes it even before the server accepts)."""
        try:
            self._conn.connect()
            return True
        except OSError:
            return False

    def close(self) -> None:
        self._conn.close()


Send = Callable[[Connection, int], int]
"""Sends request number i on a connection and returns the HTTP status."""


@dataclass
class Tally:
    """What a load phase saw: statuses, latencies (seconds) of the successful requests."""

    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, status: int, latency: float, ok: Callable[[int], bool]) -> None:
        with self.lock:
            self.statuses[status] += 1
            if ok(status):
                self.latencies.append(latency)


def is_2xx(status: int) -> bool:
    return 200 <= status < 300


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def summary_ms(latencies: list[float]) -> dict[str, float]:
    values = sorted(latencies)
    points = {"p50": 50, "p90": 90, "p99": 99, "p99_9": 99.9, "max": 100}
    return {name: round(percentile(values, p) * 1000, 2) for name, p in points.items()}


def closed_loop(
    port: int, clients: int, duration: float, send_for: Callable[[int], Send], ok: int = 201
) -> tuple[Tally, float]:
    """Run `clients` threads for `duration` seconds; returns the tally and the elapsed time
    (latencies of the answers with status `ok`)."""
    tally, deadline = Tally(), time.monotonic() + duration

    def client(index: int) -> None:
        send, conn, n = send_for(index), Connection(port), 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            status = send(conn, n)
            tally.add(status, time.perf_counter() - started, lambda s: s == ok)
            n += 1
        conn.close()

    started = time.monotonic()
    run_threads([threading.Thread(target=client, args=(i,)) for i in range(clients)])
    return tally, time.monotonic() - started


def open_loop(port: int, rate: float, duration: float, send: Send, senders: int = 16) -> Tally:
    """Send `rate` requests per second for `duration` seconds on a fixed schedule."""
    total = int(rate * duration)
    start = time.perf_counter() + 0.2
    tally, taken, lock = Tally(), iter(range(total)), threading.Lock()

    def sender() -> None:
        conn = Connection(port)
        while True:
            with lock:
                i = next(taken, None)
            if i is None:
                break
            scheduled = start + i / rate
            time.sleep(max(0.0, scheduled - time.perf_counter()))
            status = send(conn, i)
            tally.add(status, time.perf_counter() - scheduled, is_2xx)
        conn.close()

    run_threads([threading.Thread(target=sender) for _ in range(senders)])
    return tally


def burst(port: int, connections: int, send: Send) -> Tally:
    """`connections` clients open a connection each, then all send one request at the same
    moment; each latency runs from that moment (a refused connection counts as status 0)."""
    conns = [Connection(port) for _ in range(connections)]
    opened = [conn.open() for conn in conns]
    tally, go = Tally(), threading.Barrier(connections + 1)
    moment: list[float] = []

    def client(i: int) -> None:
        go.wait()
        status = send(conns[i], i) if opened[i] else 0
        tally.add(status, time.perf_counter() - moment[0], is_2xx)
        conns[i].close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(connections)]
    for thread in threads:
        thread.start()
    moment.append(time.perf_counter())
    go.wait()
    for thread in threads:
        thread.join()
    return tally


def run_threads(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.daemon = True
        thread.start()
    for thread in threads:
        thread.join()

"""A local HTTP server for a fake vendor API: a Flask app served from a thread on a free port
of 127.0.0.1, with injectable faults (429 with `Retry-After`, 5xx) and a log of requests."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, request
from werkzeug.serving import make_server


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class FakeServer:
    """Serve `app` until `stop()`. Before each request, a queued fault (status, headers,
    body) is answered instead of the app's answer; `seen` lists every request."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.seen: list[Seen] = []
        self._faults: deque[tuple[int, dict[str, str], Any]] = deque()
        self._outage: tuple[int, tuple[int, dict[str, str], Any]] | None = None
        self._lock = threading.Lock()
        app.before_request(self._before)
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def fail_next(
        self, count: int, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        """The next `count` requests answer `status` with `body` (JSON) and `headers`."""
        with self._lock:
            for _ in range(count):
                self._faults.append((status, headers or {}, body))

    def outage_after(self, passing: int, status: int, body: Any = None) -> None:
        """Let `passing` more requests through, then answer every one with `status` until
        `recover()`: a vendor going down in the middle of a sync."""
        with self._lock:
            self._outage = (len(self.seen) + passing, (status, {}, body))

    def recover(self) -> None:
        with self._lock:
            self._outage = None

    def requests_to(self, path_part: str) -> list[Seen]:
        return [s for s in self.seen if path_part in s.path]

    def _before(self) -> Response | None:
        with self._lock:
            self.seen.append(
                Seen(
                    request.method,
                    request.path,
                    dict(request.args),
                    dict(request.headers),
                    request.get_data(),
                )
            )
            fault = self._faults.popleft() if self._faults else None
            if fault is None and self._outage and len(self.seen) > self._outage[0]:
                fault = self._outage[1]
        if fault is None:
            return None
        status, headers, body = fault
        response = self.app.json.response(body) if body is not None else Response(status=status)
        response.status_code = status
        response.headers.update(headers)
        return response

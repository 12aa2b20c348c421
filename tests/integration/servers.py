"""Real processes for integration tests: gunicorn, `flask worker`, `rq worker` and a private
redis-server.

Every process runs in its own session (process group), writes its output to a log file,
is started only once it answers, and is stopped by the `Launcher` that started it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Worker

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "test-secret"


class NotReady(AssertionError):
    """A process died or did not answer in time; the message carries its log."""


@dataclass
class Process:
    """A child process in its own process group, with its output in a log file."""

    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]

    def kill(self) -> None:
        """SIGKILL the whole group: no handler, no cleanup, as a crash would."""
        self._signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `grace` seconds."""
        self.terminate()
        self.wait_or_kill(time.monotonic() + grace)

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> None:
        try:
            self.popen.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            self.kill()

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.popen.pid, signum)

    def describe(self) -> str:
        return f"{self.name} (pid {self.pid}, exit {self.popen.poll()}):\n{self.log()}"


def wait_until(
    condition: Callable[[], bool],
    what: str,
    timeout: float = 20.0,
    watch: Process | None = None,
    every: float = 0.05,
) -> None:
    """Poll `condition` until true; fail with `watch`'s log if it dies or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if watch is not None and not watch.alive():
            raise NotReady(f"{what}: the process exited.\n{watch.describe()}")
        if time.monotonic() > deadline:
            log = watch.describe() if watch is not None else ""
            raise NotReady(f"{what}: not within {timeout} s.\n{log}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(database_url: str, redis_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment a production process gets: only LOYALTY_* variables configure it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env.update(
        LOYALTY_DATABASE_URL=database_url,
        LOYALTY_SECRET_KEY=SECRET_KEY,
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["LOYALTY_REDIS_URL"] = redis_url
    env.update(extra)
    return env


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _redis_answers(url: str) -> bool:
    try:
        with Redis.from_url(url, socket_timeout=1) as connection:
            return bool(connection.ping())
    except RedisError:
        return False


def _worker_registered(redis_url: str, pid: int) -> bool:
    try:
        with Redis.from_url(redis_url, socket_timeout=1) as connection:
            return any(w.pid == pid for w in Worker.all(connection=connection))
    except RedisError:
        return False


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
    """One JSON request to a running service."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Reply(response.status, json.loads(response.read() or b"null"))
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return Reply(error.code, json.loads(raw or b"null"))
        except ValueError:
            return Reply(error.code, raw.decode(errors="replace"))


@dataclass
class Launcher:
    """Starts processes, waits until each answers, and stops them all in `close`."""

    log_dir: Path
    started: list[Process] = field(default_factory=list)

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        log_path = self.log_dir / f"{name}-{len(self.started)}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(name, popen, log_path)
        self.started.append(process)
        return process

    def gunicorn(self, env: dict[str, str], workers: int = 3, threads: int = 4) -> str:
        """`gunicorn wsgi:app` with threaded workers; returns its base URL once it answers."""
        port = free_port()
        argv = [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}"]
        argv += ["--workers", str(workers), "--threads", str(threads), "--worker-class"]
        argv += ["gthread", "--timeout", "60", "--graceful-timeout", "2", "--preload"]
        process = self.spawn("gunicorn", argv, env)
        base_url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _http_ok(f"{base_url}/healthz"), "gunicorn answers", watch=process)
        return base_url

    def worker(self, env: dict[str, str], *args: str) -> Process:
        """`flask --app wsgi worker`; returned once it has registered itself with RQ."""
        argv = [sys.executable, "-m", "flask", "--app", "wsgi", "worker", *args]
        return self._registered("worker", argv, env)

    def rq_worker(self, env: dict[str, str], *queues: str) -> Process:
        """A plain `rq worker --with-scheduler -u URL QUEUE…` (RQ's own command: its jobs build
        the app from the environment); returned once it has registered itself with RQ."""
        argv = [sys.executable, "-m", "rq.cli", "worker", "--with-scheduler"]
        argv += ["-u", env["LOYALTY_REDIS_URL"], *queues]
        return self._registered("rq-worker", argv, env)

    def _registered(self, name: str, argv: list[str], env: dict[str, str]) -> Process:
        process = self.spawn(name, argv, env)
        redis_url = env["LOYALTY_REDIS_URL"]
        wait_until(
            lambda: _worker_registered(redis_url, process.pid), f"{name} registers", watch=process
        )
        return process

    def redis(self, port: int) -> Process:
        """A private, memory-only redis-server on `port`."""
        url = f"redis://127.0.0.1:{port}/0"
        if _redis_answers(url):  # it would answer for ours, and ours would not be the one
            raise NotReady(f"another Redis already listens on port {port}")
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        process = self.spawn("redis", argv)
        wait_until(lambda: _redis_answers(url), f"redis-server on {port} answers", watch=process)
        return process

    def close(self, grace: float = 10.0) -> None:
        """Stop every process still running: SIGTERM to all, SIGKILL to any left after `grace`."""
        running = [p for p in reversed(self.started) if p.alive()]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + grace
        for process in running:
            process.wait_or_kill(deadline)
        self.started.clear()

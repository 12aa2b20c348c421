"""The service under test as an operator runs it: a fresh PostgreSQL database migrated with
`flask db upgrade`, gunicorn serving `wsgi:app`, and `flask --app wsgi worker` processes."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
SERVER = "127.0.0.1:5432"
REDIS = "127.0.0.1:6379"


def sqlalchemy_url(database: str) -> str:
    return f"postgresql+psycopg://postgres@{SERVER}/{database}"


def libpq_url(database: str) -> str:
    return f"postgresql://postgres@{SERVER}/{database}"


def recreate_database(name: str) -> None:
    """Drop (closing its sessions) and create the database `name`."""
    with psycopg.connect(libpq_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    with psycopg.connect(libpq_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis(db_number: int) -> None:
    """Empty this benchmark's own Redis database (and only that one)."""
    connection = Redis.from_url(f"redis://{REDIS}/{db_number}")
    connection.flushdb()
    connection.close()


@dataclass(frozen=True)
class ServiceConfig:
    database: str
    redis_db: int
    port: int
    workers: int
    worker_class: str
    threads: int
    rq_workers: int
    secret_key: str

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "LOYALTY_DATABASE_URL": sqlalchemy_url(self.database),
            "LOYALTY_REDIS_URL": f"redis://{REDIS}/{self.redis_db}",
            "LOYALTY_SECRET_KEY": self.secret_key,
        }


def roll_up(config: ServiceConfig) -> dict[str, float]:
    """`flask analytics roll-up` over what the service wrote, timed: wall seconds, the
    command's CPU seconds and the whole machine's busy CPU seconds meanwhile (the command and
    PostgreSQL, on an otherwise idle machine)."""
    from bench.cpu import machine_cpu_s  # noqa: PLC0415  (bench.cpu imports this module)

    busy, started, own = machine_cpu_s()[0], time.perf_counter(), os.times()
    _flask(config, "analytics", "roll-up")
    done = os.times()
    command = done.children_user + done.children_system - own.children_user - own.children_system
    return {
        "wall_s": round(time.perf_counter() - started, 2),
        "command_cpu_s": round(command, 2),
        "machine_busy_s": round(machine_cpu_s()[0] - busy, 2),
    }


def migrate(config: ServiceConfig) -> None:
    """Make the schema the only supported way: the Alembic migrations."""
    _flask(config, "db", "upgrade", timeout=120)


def _flask(config: ServiceConfig, *args: str, timeout: float | None = None) -> None:
    """`flask --app wsgi …` with the service's environment; raises if it fails."""
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=config.environment(),
        check=True,
        capture_output=True,
        timeout=timeout,
    )


def gunicorn_command(config: ServiceConfig) -> list[str]:
    command = [
        sys.executable, "-m", "gunicorn", "wsgi:app",
        "--bind", f"127.0.0.1:{config.port}",
        "--workers", str(config.workers),
        "--worker-class", config.worker_class,
    ]  # fmt: skip
    if config.worker_class == "gthread":
        command += ["--threads", str(config.threads), "--keep-alive", "30"]
    return command


def worker_command() -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", "worker"]


def _spawn(command: list[str], config: ServiceConfig, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=config.environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped together, by id
        )


def _stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


def _ready(port: int) -> bool:
    """Whether /readyz answers 200 (a refused connection means not yet)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def wait_healthy(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _ready(port):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the service on port {port} did not become ready in {timeout:.0f} s")


@contextlib.contextmanager
def running_worker(config: ServiceConfig, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One `flask --app wsgi worker` alone, stopped on exit whatever happens."""
    log.parent.mkdir(parents=True, exist_ok=True)
    worker = _spawn(worker_command(), config, log)
    try:
        yield worker
    finally:
        _stop(worker)


@dataclass
class Running:
    """The processes of a running service, for profilers to attach to."""

    gunicorn: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]

    def gunicorn_worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.gunicorn.pid}/task/{self.gunicorn.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []


@contextlib.contextmanager
def running_service(config: ServiceConfig, log_dir: Path) -> Iterator[Running]:
    """gunicorn and the RQ workers, stopped on exit whatever happens."""
    log_dir.mkdir(parents=True, exist_ok=True)
    gunicorn = _spawn(gunicorn_command(config), config, log_dir / "gunicorn.log")
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(config.rq_workers):
            workers.append(_spawn(worker_command(), config, log_dir / f"worker-{i + 1}.log"))
        wait_healthy(config.port)
        yield Running(gunicorn, workers)
    finally:
        for process in [gunicorn, *workers]:
            _stop(process)

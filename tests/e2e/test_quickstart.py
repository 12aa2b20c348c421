"""The README's Quick start: `.ci/serve` brings up the embedded service with the demo program.

The service is started as a user starts it (schema, demo seed, `flask run`) in its own
process, on a SQLite file in a temporary folder and a free port, with no Redis.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from demo.seed import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 180.0


@dataclass(frozen=True)
class Service:
    base_url: str
    output: str  # what the start-up printed, demo keys included

    def call(self, method: str, path: str, body: Any = None, token: str | None = None):
        """(status, parsed JSON body) of one request."""
        request = urllib.request.Request(self.base_url + path, method=method)
        if body is not None:
            request.data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def quickstart_env(folder: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env.update(
        LOYALTY_DATABASE_URL=f"sqlite:///{folder / 'loyalty.db'}",
        LOYALTY_SECRET_KEY="quickstart-secret",
        PYTHON=sys.executable,
        HOST="127.0.0.1",
        PORT=str(port),
    )
    return env


def wait_until_healthy(process: subprocess.Popen, base_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the service exited with {process.returncode}:\n{log.read_text()}")
        with (
            contextlib.suppress(OSError),  # not listening yet
            urllib.request.urlopen(base_url + "/healthz", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"no /healthz within {START_TIMEOUT:.0f} s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("quickstart")
    port, log = free_port(), folder / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["bash", ".ci/serve", "--no-install"],
            cwd=ROOT,
            env=quickstart_env(folder, port),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_healthy(process, base_url, log)
        yield Service(base_url, log.read_text())
    finally:
        stop(process)


def admin_token(service: Service) -> str:
    body = {"email": "admin@demo.local", "password": DEMO_PASSWORD}
    status, answer = service.call("POST", "/api/v1/auth/token", body)
    assert status == 200, answer
    return answer["access_token"]


def test_the_started_service_is_healthy_ready_and_documents_its_api(service):
    assert service.call("GET", "/healthz")[0] == 200
    status, answer = service.call("GET", "/readyz")
    assert status == 200, answer
    assert answer["checks"] == {"database": "ok"}
    status, spec = service.call("GET", "/api/openapi.json")
    assert status == 200
    assert "/api/v1/transactions" in spec["paths"]


def test_the_demo_admin_logs_in_and_reads_demo_member_profiles(service):
    token = admin_token(service)
    profiles = [service.call("GET", f"/api/v1/members/{i}", token=token) for i in (1, 2, 3)]
    for status, profile in profiles:
        assert status == 200, profile
        assert profile["phone"].startswith("+66")
        assert profile["card"]["card_no"]
    assert any(p["points_balance"] > 0 for _, p in profiles)
    status, ledger = service.call("GET", "/api/v1/members/1/ledger", token=token)
    assert status == 200
    assert isinstance(ledger, list)


def test_a_printed_terminal_key_records_a_sale_for_a_demo_member(service):
    keys = re.findall(r"\btk_\d+_\S+", service.output)
    assert len(keys) == 4, service.output
    status, member = service.call("GET", "/api/v1/members/1", token=admin_token(service))
    assert status == 200
    receipt = {
        "external_id": "QS-1",
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "member": {"member_no": member["member_no"]},
        "items": [{"sku": "CF-LATTE", "quantity": 2, "unit_price": "125.00"}],
        "total": "250.00",
    }
    status, result = service.call("POST", "/api/v1/transactions", receipt, token=keys[0])
    assert status == 201, result
    assert result["status"] == "processed"
    assert result["points_awarded"] == 10
    assert result["member"]["points_balance"] == member["points_balance"] + 10

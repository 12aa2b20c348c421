"""The suite's own setup: what it refuses to run on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_test_database_url_that_is_not_postgresql_stops_the_run():
    env = {**os.environ, "LOYALTY_TEST_DATABASE_URL": "sqlite:///elsewhere.db"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/unit/test_money.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 4
    assert "LOYALTY_TEST_DATABASE_URL must be a PostgreSQL URL" in run.stdout + run.stderr

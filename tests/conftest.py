"""Fixtures in the flaskr shape: `app`, `client`, `runner`, plus credentials and members.

The database comes from LOYALTY_TEST_DATABASE_URL (default: a SQLite file in a temp folder);
its schema is made once per run by the Alembic migrations, and emptied after each test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from loyalty import create_app
from loyalty.db import utcnow
from loyalty.extensions import db
from members.models import TierPolicyVersion
from rewards.campaigns import service as campaigns
from rewards.models import Campaign, CampaignVersion
from tests import factories

KEEP_TABLES = {"alembic_version", "tiers"}


def _fresh_postgres(url: str) -> None:
    """Drop and create the test database named in `url`, through the server's `postgres` db."""
    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def pytest_configure(config: pytest.Config) -> None:
    """A test database URL that is not PostgreSQL stops the run: the suite's second pass is
    meant for PostgreSQL, and quietly running on SQLite again would prove nothing."""
    url = os.environ.get("LOYALTY_TEST_DATABASE_URL")
    if url and not url.startswith("postgresql"):
        pytest.exit(
            f"LOYALTY_TEST_DATABASE_URL must be a PostgreSQL URL (postgresql+psycopg://…), "
            f"not {url.split(':', 1)[0]}:…; unset it to run on SQLite.",
            returncode=4,
        )


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("LOYALTY_TEST_DATABASE_URL")
    if url:
        _fresh_postgres(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'loyalty.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test-secret"})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


def test_config(database_url: str, **overrides: object) -> dict:
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": None,
        "SECRET_KEY": "test-secret",
    }
    config.update(overrides)
    return config


def empty_database() -> None:
    """Delete every row a test wrote (DELETE: on PostgreSQL, a TRUNCATE of every table costs
    far more than the few rows a test leaves)."""
    tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in KEEP_TABLES]
    with db.engine.begin() as conn:
        for table in tables:
            conn.execute(table.delete())
        conn.execute(text("DELETE FROM tiers WHERE code <> 'member'"))
        conn.execute(
            text(
                "UPDATE tiers SET name = 'Member', rank = 0, threshold_minor = 0, multiplier = 1"
                " WHERE code = 'member'"
            )
        )
    restore_base_earning()
    restore_first_tier_policy()


def restore_first_tier_policy() -> None:
    """Put back version 1 of the tier policy the migration creates (the one tier "member")."""
    document = {
        "basis": "spend",
        "window": {"type": "rolling", "months": 12},
        "downgrade": "period_end",
        "tiers": [
            {
                "code": "member",
                "name": "Member",
                "threshold": "0.00",
                "multiplier": "1",
                "privileges": [],
            }
        ],
    }
    with Session(db.engine) as session:
        session.add(TierPolicyVersion(version=1, document=document, created_by="migration"))
        session.commit()


def restore_base_earning() -> None:
    """Put back the built-in base earning campaign the migration creates (1 point per 25.00)."""
    definition = {
        **campaigns.DEFAULT_RULE,
        "effects": [{"type": "points_per_amount", "points": 1, "amount": "25.00"}],
    }
    with Session(db.engine) as session:
        base = Campaign(
            name="Base earning",
            builtin=campaigns.BASE_EARNING,
            trigger="transaction.recorded",
            status="active",
            version=1,
            priority=0,
            definition=definition,
            points_issued=0,
            applications=0,
            activated_at=utcnow(),
        )
        session.add(base)
        session.flush()
        session.add(
            CampaignVersion(
                campaign_id=base.id,
                version=1,
                snapshot=campaigns.snapshot(base),
                created_by="migration",
            )
        )
        session.commit()


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(test_config(database_url))
    yield app
    with app.app_context():
        empty_database()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def program(app: Flask) -> factories.Program:
    """Two stores, a terminal in each, and a staff user of every role."""
    with app.app_context():
        return factories.make_program(app)


@pytest.fixture
def tmp_instance(tmp_path: Path) -> Path:
    return tmp_path

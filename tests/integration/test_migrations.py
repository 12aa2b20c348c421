"""The schema is made only by migrations: `flask db upgrade`, `downgrade base` and upgrade
again on an empty database of the suite's kind; and the models match the migrations."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, inspect, make_url, text

from loyalty import create_app
from loyalty.extensions import db
from tests.integration.servers import ROOT, SECRET_KEY, service_env


@pytest.fixture
def empty_database_url(database_url: str, tmp_path) -> Iterator[str]:
    """A new, empty database beside the suite's: a SQLite file, or `<suite db>_b`."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"{url.database}_b"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def flask_db(url: str, *args: str) -> None:
    """`flask --app wsgi db …` as an operator runs it, in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", *args],
        cwd=ROOT,
        env=service_env(url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def flask_db_here(empty_database_url: str) -> Iterator[Callable[..., None]]:
    """The same `flask db …` commands run in this process (faster), on the same database."""
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": SECRET_KEY, "REDIS_URL": None}
    )

    def run(*args: str) -> None:
        result = app.test_cli_runner().invoke(args=["db", *args])
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"

    yield run
    with app.app_context():
        db.engine.dispose()


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_build_the_whole_schema_tear_it_down_and_build_it_again(
    empty_database_url, flask_db_here
):
    models = set(db.metadata.tables)
    assert tables(empty_database_url) == set()

    flask_db(empty_database_url, "upgrade")
    assert tables(empty_database_url) == models | {"alembic_version"}

    flask_db_here("downgrade", "base")
    assert tables(empty_database_url) <= {"alembic_version"}

    flask_db_here("upgrade")
    assert tables(empty_database_url) == models | {"alembic_version"}


def test_the_models_match_the_migrations(empty_database_url, flask_db_here):
    flask_db_here("upgrade")
    # alembic autogenerate compares the models with the migrated schema; a difference fails
    flask_db_here("check")

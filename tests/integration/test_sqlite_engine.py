"""The SQLite setup (pragmas, BEGIN IMMEDIATE) is the app's engine's, not every engine's."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text

from loyalty import create_app
from loyalty.extensions import db
from tests import conftest as base


def observed(engine: Engine) -> dict[str, object]:
    """The pragmas a connection of `engine` has, and the statements one transaction sends."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT 1"))
            foreign_keys = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
            journal_mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return {
        "foreign_keys": foreign_keys,
        "journal_mode": journal_mode,
        "begins_immediate": statements[0] == "BEGIN IMMEDIATE",
    }


def test_the_apps_sqlite_engine_gets_the_pragmas_and_begin_immediate(tmp_path: Path):
    app = create_app(base.test_config(f"sqlite:///{tmp_path / 'app.db'}"))
    with app.app_context():
        seen = observed(db.engine)
        db.engine.dispose()
    assert seen == {"foreign_keys": 1, "journal_mode": "wal", "begins_immediate": True}


def test_another_engine_in_the_process_is_left_as_sqlalchemy_builds_it(tmp_path: Path):
    app = create_app(base.test_config(f"sqlite:///{tmp_path / 'app.db'}"))
    for url in ("sqlite://", f"sqlite:///{tmp_path / 'other.db'}"):
        other = create_engine(url)
        seen = observed(other)
        other.dispose()
        assert seen["foreign_keys"] == 0
        assert seen["journal_mode"] in {"memory", "delete"}
        assert not seen["begins_immediate"]
    with app.app_context():
        db.engine.dispose()

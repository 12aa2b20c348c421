"""The application factory and composition root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

from loyalty import api_docs, cli, jobs, request_checks, unit_of_work
from loyalty.config import from_environment
from loyalty.db import MAX_ID, configure_engine
from loyalty.errors import register_error_handlers
from loyalty.extensions import api, db, migrate

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment, with `config` overriding it (tests)."""
    root = Path(__file__).resolve().parent.parent
    app = Flask(
        __name__,
        instance_path=str(root / "instance"),
        static_folder=str(root / "static"),
        static_url_path="/static",
    )
    app.config.update(from_environment(Path(app.instance_path)))
    app.config.update(config or {})
    app.url_map.converters["int"] = IdConverter
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    request_checks.init_app(app)
    cli.init_app(app)
    unit_of_work.init_app(app)  # after every view is registered
    return app


class IdConverter(IntegerConverter):
    """`<int:…>` in routes: an id beyond what the database holds matches no route (404)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():  # Flask-SQLAlchemy made the app's engines in init_app
        for engine in db.engines.values():
            configure_engine(engine)
    migrate.init_app(app, db, directory=MIGRATIONS)
    api.init_app(app)
    app.register_blueprint(api_docs.assets)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    jobs.init_app(app)


def register_blueprints(app: Flask) -> None:
    """Wire every package in: the only place the shell knows the domain packages."""
    import demo
    from loyalty import admin_api, auth_api, health, pages
    from members import init_app as init_members
    from pos_adapters import init_app as init_pos
    from rewards import init_app as init_rewards

    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    api.register_blueprint(auth_api.blp)
    api.register_blueprint(admin_api.blp)
    init_members(app, api)
    init_rewards(app, api)
    init_pos(app, api)
    demo.init_app(app)

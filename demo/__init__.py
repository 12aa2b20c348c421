"""The demo program (`flask demo seed`): it uses every package, and nothing uses it."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from demo import seed

    app.cli.add_command(seed.demo_cli)

"""The pages in headless Chromium, against the app served by a real HTTP server.

The server runs in a background thread on the test database (SQLite or PostgreSQL, from
LOYALTY_TEST_DATABASE_URL). The browser is Debian's Chromium; none is downloaded.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from werkzeug.serving import make_server

from loyalty import create_app
from loyalty.extensions import db
from tests.conftest import test_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
TILL = {"viewport": {"width": 1280, "height": 900}}
FAST_CODE_STEP = 2


def serve(app: Flask) -> Iterator[str]:
    """Serve `app` on a free local port until the generator is closed."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The test app over HTTP; its base URL."""
    yield from serve(app)


@pytest.fixture
def fast_codes_server(app: Flask, database_url: str) -> Iterator[str]:
    """The app over HTTP with card codes rotating every two seconds, so they expire in a test."""
    fast = create_app(test_config(database_url, CARD_CODE_STEP=FAST_CODE_STEP))
    try:
        yield from serve(fast)
    finally:
        with fast.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert CHROMIUM.exists(), "install Debian's Chromium: apt-get install -y chromium"
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Open `url` in a fresh browser context (its own sessionStorage), a phone by default.

    `init_script` runs in every document before the page's own scripts. Every page is checked
    at the end for uncaught JavaScript errors.
    """
    contexts, errors = [], []

    def opener(url: str, init_script: str | None = None, **context_options) -> Page:
        context = browser.new_context(**{**PHONE, **context_options})
        context.set_default_timeout(10_000)
        if init_script:
            context.add_init_script(init_script)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        return page

    yield opener
    for context in contexts:
        context.close()
    assert errors == [], f"uncaught JavaScript errors: {errors}"


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where page screenshots go, for a person to look at the layout."""
    folder = Path(os.environ.get("LOYALTY_SCREENSHOTS", tempfile.gettempdir())) / "loyalty-pages"
    folder.mkdir(parents=True, exist_ok=True)
    return folder

"""The service's own OpenAPI document, fuzzed with schemathesis through the WSGI app.

Every operation gets generated requests (valid and invalid) as an admin, or as the caller the
operation is for (a terminal, a shopper). No answer may be a 5xx, and every answer must match
what the document says: status, media type, headers and body schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from loyalty import create_app
from loyalty.extensions import db
from tests import conftest as base
from tests import factories

# Not for an admin: the caller each of these operations is for.
CALLER = {
    ("POST", "/api/v1/transactions"): "BKK01",
    ("POST", "/api/v1/cards/resolve"): "BKK01",
    ("POST", "/api/v1/vouchers/{code}/use"): "BKK01",
    ("POST", "/api/v1/transactions/claim"): "shopper",
}
# Schema-valid requests that a rule outside the document refuses (exactly one of phone or
# email, a real phone number, a window's end after its start) are rightly a 4xx, so
# `positive_data_acceptance` is not among the checks.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]


class Switchboard:
    """A WSGI app that hands each request to the app in use: the document is read from an
    app without a database when this module loads, the requests go to the test database."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        return self.app(environ, start_response)


DOCUMENT_APP = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "openapi"})
SWITCHBOARD = Switchboard(DOCUMENT_APP)
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", SWITCHBOARD)


@pytest.fixture(scope="module")
def callers(database_url: str) -> Iterator[dict[str, dict[str, str]]]:
    """A program with a member who has points and a reward; the headers of each caller."""
    app = create_app(base.test_config(database_url))
    client = app.test_client()
    with app.app_context():
        program = factories.make_program(app)
        member = factories.enrol(client, program)
        shopper = factories.shopper_headers(member["id"])
    sale = factories.receipt("FUZZ-1", "2500.00", {"member_no": member["member_no"]})
    client.post("/api/v1/transactions", json=sale, headers=program.headers("BKK01"))
    reward = {"name": "Cookie", "points_cost": 1}
    client.post("/api/v1/rewards", json=reward, headers=program.headers("admin"))
    SWITCHBOARD.app = app
    yield {
        "admin": program.headers("admin"),
        "BKK01": program.headers("BKK01"),
        "shopper": shopper,
    }
    SWITCHBOARD.app = DOCUMENT_APP
    with app.app_context():
        base.empty_database()
        db.engine.dispose()


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_breaks_the_service_or_its_document(case, callers):
    who = CALLER.get((case.method.upper(), case.operation.path), "admin")
    case.call_and_validate(headers=callers[who], checks=CHECKS)

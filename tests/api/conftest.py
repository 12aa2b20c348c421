"""Helpers of the HTTP API tests: shopper tokens, card codes, receipts, one-time codes."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.test import TestResponse

from tests.factories import Program, shopper_headers

PROBLEM = "application/problem+json"


@pytest.fixture
def shopper(app: Flask) -> Callable[[int], dict[str, str]]:
    """The Authorization header of the shopper signed in as a member."""

    def headers(member_id: int) -> dict[str, str]:
        with app.app_context():
            return shopper_headers(member_id)

    return headers


@pytest.fixture
def card_code(client: FlaskClient, program: Program) -> Callable[[int], str]:
    """The text in a member's QR code right now, as a cashier reads it."""

    def code(member_id: int) -> str:
        r = client.get(f"/api/v1/members/{member_id}/card/code", headers=program.headers("admin"))
        assert r.status_code == 200, r.get_json()
        return r.get_json()["code"]

    return code


@pytest.fixture
def post_receipt(client: FlaskClient, program: Program) -> Callable[..., TestResponse]:
    """POST a receipt from a store's terminal (BKK01 unless told)."""

    def post(body: dict, store: str = "BKK01") -> TestResponse:
        return client.post("/api/v1/transactions", json=body, headers=program.headers(store))

    return post


@pytest.fixture
def sent_codes(runner: FlaskCliRunner) -> Callable[[str], list[str]]:
    """The one-time codes sent to a phone or email, newest first, read with `messages list`."""

    def codes(destination: str) -> list[str]:
        result = runner.invoke(args=["messages", "list", "--to", destination])
        assert result.exit_code == 0, result.output
        return re.findall(r"code is (\d{6})", result.output)

    return codes


def problem_of(response: TestResponse, status: int) -> dict:
    """The problem+json body of an error response, after checking its status and media type."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM, response.mimetype
    body = response.get_json(force=True)
    assert body["status"] == status
    assert {"type", "title", "status"} <= body.keys()
    return body

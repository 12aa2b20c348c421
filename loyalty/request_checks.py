"""Checks every request passes before its view: an API body is JSON and parses, and no text
is one a database column cannot hold (PostgreSQL text refuses the NUL character)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Flask, request

from loyalty.errors import DomainError, InvalidInput

NUL = "\x00"
STORED_HEADERS = ("Idempotency-Key",)
API_PREFIX = "/api/"


class InvalidJson(DomainError):
    status, slug, title = 400, "validation-error", "Validation failed"


class UnsupportedMediaType(DomainError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


def _refuse_other_media() -> None:
    """The API takes JSON only: another body would be read as no body at all."""
    if request.path.startswith(API_PREFIX) and request.content_length and not request.is_json:
        raise UnsupportedMediaType("Send the body as application/json.")


def _json_body() -> Any:
    """The parsed JSON body (None when the request is not JSON); InvalidJson when unreadable.

    The parser's own limits (nesting depth, digits in a number) count as unreadable too.
    """
    if not request.is_json:
        return None
    data = request.get_data(cache=True)
    if not data:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise InvalidJson("Invalid JSON body.", errors={"_schema": ["Invalid JSON body."]}) from exc


def _strings(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """(field path, text) for every key and string value in a parsed JSON document."""
    stack = [(path, node)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            yield where, value
        elif isinstance(value, dict | list):
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in pairs:
                here = f"{where}.{key}" if where else str(key)
                if isinstance(key, str):
                    yield here, key
                stack.append((here, item))


def _refuse_nul(source: Any) -> None:
    for field, text in _strings(source, ""):
        if NUL in text:
            raise InvalidInput(field or "_schema", "must not contain NUL characters")


def check_request() -> None:
    """Refuse a body that is not JSON, and NUL in any text we may store."""
    _refuse_other_media()
    body = _json_body()
    headers = {name: request.headers.get(name, "") for name in STORED_HEADERS}
    for source in (request.view_args or {}, request.args.to_dict(), headers):
        _refuse_nul(source)
    if request.get_data(cache=True).find(b"\\u0000") >= 0:
        _refuse_nul(body)


def init_app(app: Flask) -> None:
    app.before_request(check_request)

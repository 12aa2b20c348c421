"""Domain errors and their one mapping to RFC 9457 problem+json responses."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

PROBLEM_BASE = "https://loyalty.example/problems/"
log = logging.getLogger(__name__)


class DomainError(Exception):
    """A business rule said no. Subclasses name the condition and its HTTP status."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "Conflict"


class Gone(DomainError):
    status, slug, title = 410, "gone", "Gone"


class Unauthorized(DomainError):
    status, slug, title = 401, "unauthorized", "Missing or invalid credentials"


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Not allowed"


class RateLimited(DomainError):
    status, slug, title = 429, "rate-limited", "Too many requests"


class InvalidInput(DomainError):
    """Input that passed the schema but breaks a rule; names the field."""

    status, slug, title = 422, "validation-error", "Invalid input"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", errors={field: [message]})


class IdempotencyConflict(Conflict):
    slug, title = "idempotency-conflict", "Idempotency key reused with a different request"


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    slug: str = "error",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """An application/problem+json response (RFC 9457)."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    if headers:
        response.headers.update(headers)
    return response


def _flatten_validation(messages: Any) -> dict[str, list[str]]:
    """webargs nests errors by location ({"json": {...}}); the contract names fields only."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        elif isinstance(node, list) and all(isinstance(m, str) for m in node):
            flat.setdefault(prefix or "_schema", []).extend(node)
        elif isinstance(node, list):
            for item in node:
                walk(prefix, item)
        else:
            flat.setdefault(prefix or "_schema", []).append(str(node))

    for location, errors in (messages or {}).items():
        walk("" if location in ("json", "query", "form", "headers") else location, errors)
    return flat


def handle_http_exception(error: HTTPException) -> Response:
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    extra: dict[str, Any] = {}
    if messages:
        extra["errors"] = _flatten_validation(messages)
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in extra["errors"].items())
    else:
        detail = data.get("message") or error.description
    status = error.code or 500
    if status >= 500:
        detail = "An internal error occurred."
    title = "Validation failed" if messages else (error.name or "Error")
    response = problem(status, title, detail, slug=_slug(status, bool(messages)), **extra)
    for key, value in error.get_headers() if status == 405 else []:
        if key.lower() == "allow":
            response.headers[key] = value
    return response


def _slug(status: int, validation: bool) -> str:
    if validation:
        return "validation-error"
    return {
        400: "bad-request",
        401: "unauthorized",
        403: "forbidden",
        404: "not-found",
        405: "method-not-allowed",
        409: "conflict",
        413: "payload-too-large",
        415: "unsupported-media-type",
        422: "validation-error",
        429: "rate-limited",
    }.get(status, "internal-error" if status >= 500 else "error")


def handle_domain_error(error: DomainError) -> Response:
    return problem(error.status, error.title, error.detail, slug=error.slug, **error.extra)


def handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error", exc_info=error)
    return problem(
        500, "Internal server error", "An internal error occurred.", slug="internal-error"
    )


def handle_database_unavailable(error: Exception) -> Response:
    """The database went away under the request (restarted, the connection killed, the pool
    exhausted, a lock given up): nothing was committed, so the client may simply try again."""
    log.warning("database unavailable: %s", str(error).splitlines()[0] if str(error) else error)
    return problem(
        503,
        "Service unavailable",
        "The database did not answer; nothing was recorded. Try again shortly.",
        slug="unavailable",
        headers={"Retry-After": "1"},
    )


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DomainError, handle_domain_error)
    for unavailable in (
        sa_exc.OperationalError,
        sa_exc.InterfaceError,
        sa_exc.TimeoutError,
        sa_exc.PendingRollbackError,  # the connection died earlier in this unit
    ):
        app.register_error_handler(unavailable, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)

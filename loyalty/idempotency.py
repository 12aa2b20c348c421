"""HTTP Idempotency-Key: a replay gets the first answer; another body with the key is a 409."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from loyalty.auth import principal
from loyalty.errors import IdempotencyConflict, InvalidInput
from loyalty.extensions import db
from loyalty.models import IdempotencyRecord

HEADER = "Idempotency-Key"
F = TypeVar("F", bound=Callable[..., Any])


def _request_hash() -> str:
    digest = hashlib.sha256(request.method.encode() + request.path.encode())
    digest.update(request.get_data())
    return digest.hexdigest()


def _replay(record: IdempotencyRecord, request_hash: str) -> Response:
    if record.request_hash != request_hash:
        raise IdempotencyConflict("This Idempotency-Key was used with a different request.")
    response = Response(record.body, status=record.status, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _find(owner: str, key: str) -> IdempotencyRecord | None:
    stmt = select(IdempotencyRecord).where(
        IdempotencyRecord.principal == owner, IdempotencyRecord.key == key
    )
    return db.session.scalar(stmt)


def _store(owner: str, key: str, request_hash: str, response: Response) -> Response:
    record = IdempotencyRecord(
        principal=owner,
        key=key,
        request_hash=request_hash,
        status=response.status_code,
        body=response.get_data(as_text=True),
    )
    db.session.add(record)
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent request with the same key answered first
        db.session.rollback()
        first = _find(owner, key)
        assert first is not None
        return _replay(first, request_hash)
    return response


def idempotent(view: F) -> F:
    """Honour an Idempotency-Key header on a write; only successful answers are kept."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not 0 < len(key) <= 255:
            raise InvalidInput(HEADER, "must be 1 to 255 characters")
        owner, request_hash = principal().label, _request_hash()
        if (record := _find(owner, key)) is not None:
            return _replay(record, request_hash)
        response = view(*args, **kwargs)
        if not isinstance(response, Response):
            from flask import make_response

            response = make_response(response)
        if response.status_code >= 400:
            return response
        return _store(owner, key, request_hash, response)

    return wrapper  # type: ignore[return-value]

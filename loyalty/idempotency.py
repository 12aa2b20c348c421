"""HTTP Idempotency-Key: a replay gets the first answer; another body with the key is a 409.

The key is claimed in the same transaction as the view's own writes, so a key and its effect
commit together: a concurrent request with the key waits for that commit and then replays,
or answers 409 while the first has not answered yet. It never runs the view a second time.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, make_response, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from loyalty.auth import current_principal
from loyalty.errors import Conflict, IdempotencyConflict, InvalidInput
from loyalty.extensions import db
from loyalty.models import IdempotencyRecord

HEADER = "Idempotency-Key"
IN_PROGRESS = 0  # the status of a claimed key whose request has not answered yet
F = TypeVar("F", bound=Callable[..., Any])


class IdempotencyInProgress(Conflict):
    slug, title = "idempotency-in-progress", "A request with this Idempotency-Key is in progress"


def _request_hash() -> str:
    digest = hashlib.sha256(request.method.encode() + request.path.encode())
    digest.update(request.get_data())
    return digest.hexdigest()


def _replay(record: IdempotencyRecord, request_hash: str) -> Response:
    if record.request_hash != request_hash:
        raise IdempotencyConflict("This Idempotency-Key was used with a different request.")
    if record.status == IN_PROGRESS:
        raise IdempotencyInProgress("The first request with this key has not answered yet.")
    response = Response(record.body, status=record.status, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _find(owner: str, key: str) -> IdempotencyRecord | None:
    stmt = select(IdempotencyRecord).where(
        IdempotencyRecord.principal == owner, IdempotencyRecord.key == key
    )
    return db.session.scalar(stmt)


def _claim(owner: str, key: str, request_hash: str) -> str | None:
    """Hold the key in the current transaction; returns this request's token, or None when
    another request committed the key first (on PostgreSQL this waits for its commit)."""
    token = uuid.uuid4().hex
    db.session.add(
        IdempotencyRecord(
            principal=owner, key=key, request_hash=request_hash, status=IN_PROGRESS, body=token
        )
    )
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return None
    return token


def _held(owner: str, key: str, token: str) -> Any:
    return (
        IdempotencyRecord.principal == owner,
        IdempotencyRecord.key == key,
        IdempotencyRecord.status == IN_PROGRESS,
        IdempotencyRecord.body == token,
    )


def _release(owner: str, key: str, token: str) -> None:
    """Forget the claim of a request that failed, so the key can be retried."""
    db.session.rollback()
    db.session.execute(delete(IdempotencyRecord).where(*_held(owner, key, token)))
    db.session.commit()


def _answer(owner: str, key: str, request_hash: str, token: str, response: Response) -> Response:
    """Keep the answer on the claimed key; claim it again if the view rolled the claim back."""
    kept = db.session.execute(
        update(IdempotencyRecord)
        .where(*_held(owner, key, token))
        .values(status=response.status_code, body=response.get_data(as_text=True))
    ).rowcount
    if not kept:
        return _store(owner, key, request_hash, response)
    db.session.commit()
    return response


def _replay_first(owner: str, key: str, request_hash: str) -> Response:
    """Replay the request that took the key first, once it has committed."""
    first = _find(owner, key)
    if first is None:  # it failed and let the key go again
        raise IdempotencyInProgress("Another request with this key has just failed; retry.")
    return _replay(first, request_hash)


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
        return _replay_first(owner, key, request_hash)
    return response


def idempotent(view: F) -> F:
    """Honour an Idempotency-Key header on a write; only successful answers are kept."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key, caller = request.headers.get(HEADER), current_principal()
        if key is None or caller is None:  # without a caller the view answers 401
            return view(*args, **kwargs)
        if not 0 < len(key) <= 255:
            raise InvalidInput(HEADER, "must be 1 to 255 characters")
        owner, request_hash = caller.label, _request_hash()
        if (record := _find(owner, key)) is not None:
            return _replay(record, request_hash)
        if (token := _claim(owner, key, request_hash)) is None:
            return _replay_first(owner, key, request_hash)
        try:
            response = make_response(view(*args, **kwargs))
        except BaseException:
            _release(owner, key, token)
            raise
        if response.status_code >= 400:
            _release(owner, key, token)
            return response
        return _answer(owner, key, request_hash, token, response)

    return wrapper  # type: ignore[return-value]

"""HTTP Idempotency-Key: a replay gets the first answer; another body with the key is a 409.

The key is claimed in the request's unit of work (loyalty/unit_of_work.py), with the view's
own writes and the recorded answer, so a key and its effect commit together, and a failed
request's claim is rolled back with it: a concurrent request with the key waits for that
commit and then replays, or answers 409 while the first has not answered yet. It never runs
the view a second time.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, make_response, request
from sqlalchemy import select, update
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
    """Hold the key in the request's unit of work (a savepoint, so a lost race undoes only
    the claim); returns this request's token, or None when another request committed the key
    first (on PostgreSQL the insert waits for that commit)."""
    token = uuid.uuid4().hex
    try:
        with db.session.begin_nested():
            db.session.add(
                IdempotencyRecord(
                    principal=owner,
                    key=key,
                    request_hash=request_hash,
                    status=IN_PROGRESS,
                    body=token,
                )
            )
    except IntegrityError:
        return None
    return token


def _keep_answer(owner: str, key: str, token: str, response: Response) -> None:
    """Keep the answer on the claimed key, committed with the view's work."""
    db.session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.principal == owner,
            IdempotencyRecord.key == key,
            IdempotencyRecord.body == token,
        )
        .values(status=response.status_code, body=response.get_data(as_text=True))
    )


def _replay_first(owner: str, key: str, request_hash: str) -> Response:
    """Replay the request that took the key first, once it has committed."""
    first = _find(owner, key)
    if first is None:  # it failed and let the key go again
        raise IdempotencyInProgress("Another request with this key has just failed; retry.")
    return _replay(first, request_hash)


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
        response = make_response(view(*args, **kwargs))
        if response.status_code < 400:  # a failed request's claim goes with its rollback
            _keep_answer(owner, key, token, response)
        return response

    return wrapper  # type: ignore[return-value]

"""Who is calling: bearer credentials, the principal they prove, and role checks."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, current_app, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from loyalty.errors import Forbidden, NotFound, Unauthorized
from loyalty.extensions import db
from loyalty.models import StaffUser, Terminal

TERMINAL_PREFIX = "tk_"
STAFF_ROLES = ("cashier", "marketer", "admin")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a terminal, a staff user or a shopper (member)."""

    role: str  # terminal | cashier | marketer | admin | shopper
    id: int
    store_id: int | None = None

    @property
    def label(self) -> str:
        return f"{self.role}:{self.id}"

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _serializer(audience: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"loyalty-{audience}")


def sign_token(audience: str, payload: dict[str, Any]) -> str:
    return _serializer(audience).dumps(payload)


def _load_token(audience: str, token: str, max_age: int) -> dict[str, Any] | None:
    try:
        return _serializer(audience).loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None


@dataclass
class TerminalKeys:
    """Terminal keys verified in the last `seconds`: a till's every receipt does not read its
    terminal row. Another process refuses a revoked key within `seconds`; the process that
    revokes it, at once (`forget`)."""

    seconds: float
    limit: int = 10_000
    _held: dict[str, tuple[float, Principal]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, token: str) -> Principal | None:
        held = self._held.get(hash_secret(token))
        if held is None or held[0] < time.monotonic():
            return None
        return held[1]

    def put(self, token: str, found: Principal) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._held) >= self.limit:
                self._held.clear()
            self._held[hash_secret(token)] = (time.monotonic() + self.seconds, found)

    def forget(self, terminal_id: int) -> None:
        with self._lock:
            for key in [k for k, (_, p) in self._held.items() if p.id == terminal_id]:
                del self._held[key]


def terminal_keys(app: Flask) -> TerminalKeys:
    """The app's cache of verified terminal keys (LOYALTY_TERMINAL_KEY_CACHE_SECONDS)."""
    cache = app.extensions.get("loyalty.terminal_keys")
    if cache is None:
        seconds = app.config["TERMINAL_KEY_CACHE_SECONDS"]
        cache = app.extensions.setdefault("loyalty.terminal_keys", TerminalKeys(seconds))
    return cache


def _terminal_principal(token: str) -> Principal | None:
    cache = terminal_keys(current_app)
    if (found := cache.get(token)) is not None:
        return found
    if (found := _verified_terminal(token)) is not None:
        cache.put(token, found)
    return found


def _verified_terminal(token: str) -> Principal | None:
    try:
        _, terminal_id, secret = token.split("_", 2)
        terminal = db.session.get(Terminal, int(terminal_id))
    except ValueError:
        return None
    if terminal is None or terminal.revoked_at is not None:
        return None
    if not hmac.compare_digest(terminal.key_hash, hash_secret(secret)):
        return None
    return Principal("terminal", terminal.id, terminal.store_id)


def _staff_principal(token: str) -> Principal | None:
    data = _load_token("staff", token, current_app.config["STAFF_TOKEN_TTL"])
    if not data:
        return None
    user = db.session.get(StaffUser, data.get("u"))
    if user is None or not user.active:
        return None
    return Principal(user.role, user.id, user.store_id)


def register_shopper_check(app: Flask, check: Callable[[int], bool]) -> None:
    """A test a shopper token's member must pass on every request (say: still active)."""
    app.extensions["loyalty.shopper_check"] = check


def _shopper_principal(token: str) -> Principal | None:
    data = _load_token("shopper", token, current_app.config["SHOPPER_TOKEN_TTL"])
    if not data or "m" not in data:
        return None
    check = current_app.extensions.get("loyalty.shopper_check")
    if check is not None and not check(int(data["m"])):
        return None  # a merged or erased profile's tokens stop working at once
    return Principal("shopper", int(data["m"]))


def principal_from_token(token: str) -> Principal | None:
    if token.startswith(TERMINAL_PREFIX):
        return _terminal_principal(token)
    return _staff_principal(token) or _shopper_principal(token)


def current_principal() -> Principal | None:
    """The caller of this request, read once from the Authorization header."""
    if "loyalty.principal" not in request.environ:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        request.environ["loyalty.principal"] = (
            principal_from_token(token.strip()) if scheme.lower() == "bearer" and token else None
        )
    return request.environ["loyalty.principal"]


def require(*roles: str) -> Callable[[F], F]:
    """Allow only callers whose role is listed: 401 without credentials, 403 otherwise."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal is None:
                raise Unauthorized("Send a valid bearer token in the Authorization header.")
            if principal.role not in roles:
                raise Forbidden(f"The {principal.role} role may not do this.")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def principal() -> Principal:
    """The caller of a view already guarded by `require`."""
    found = current_principal()
    assert found is not None
    return found


def check_member_scope(member_id: int) -> None:
    """A shopper reaches only their own member; anyone else's is 'not found'."""
    caller = principal()
    if caller.role == "shopper" and caller.id != member_id:
        raise NotFound(f"No member {member_id}.")


def check_store_scope(store_id: int | None) -> None:
    """A terminal, or a cashier bound to a store, acts only for its own store."""
    caller = principal()
    bound = caller.role in ("terminal", "cashier") and caller.store_id is not None
    if bound and store_id != caller.store_id:
        raise NotFound("Not found in your store.")

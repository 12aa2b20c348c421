"""Stores, POS terminals and staff users: creating them and logging staff in."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from loyalty.auth import STAFF_ROLES, TERMINAL_PREFIX, hash_secret, sign_token
from loyalty.db import utcnow
from loyalty.errors import Conflict, InvalidInput, NotFound, Unauthorized
from loyalty.models import StaffUser, Store, Terminal


def create_store(session: Session, code: str, name: str) -> Store:
    """Add a store; a code already taken is a Conflict."""
    if session.scalar(select(Store).where(Store.code == code)):
        raise Conflict(f"store {code} exists")
    store = Store(code=code, name=name)
    session.add(store)
    session.flush()
    return store


def store_by_code(session: Session, code: str) -> Store:
    store = session.scalar(select(Store).where(Store.code == code))
    if store is None:
        raise NotFound(f"no store {code}")
    return store


def create_terminal(session: Session, store_code: str, name: str) -> tuple[Terminal, str]:
    """Add a terminal bound to a store; returns it with its API key, shown only now."""
    store = store_by_code(session, store_code)
    secret = secrets.token_urlsafe(32)
    terminal = Terminal(store_id=store.id, name=name, key_hash=hash_secret(secret))
    session.add(terminal)
    session.flush()
    key = f"{TERMINAL_PREFIX}{terminal.id}_{secret}"
    session.flush()
    return terminal, key


def add_device_terminal(session: Session, store_id: int, name: str) -> Terminal:
    """A terminal standing for a POS device whose receipts are pulled, not pushed: its key
    is never shown, so nothing signs in with it."""
    terminal = Terminal(
        store_id=store_id, name=name, key_hash=hash_secret(secrets.token_urlsafe(32))
    )
    session.add(terminal)
    session.flush()
    return terminal


def revoke_terminal(session: Session, terminal_id: int) -> Terminal:
    terminal = session.get(Terminal, terminal_id)
    if terminal is None:
        raise NotFound(f"no terminal {terminal_id}")
    terminal.revoked_at = terminal.revoked_at or utcnow()
    session.flush()
    return terminal


PASSWORD_HASH = "scrypt"


def create_user(
    session: Session,
    email: str,
    role: str,
    password: str,
    store_code: str | None = None,
    hash_method: str = PASSWORD_HASH,
) -> StaffUser:
    """Add a staff user with a hashed password (werkzeug's `hash_method`); the email must be new."""
    if role not in STAFF_ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(STAFF_ROLES)}")
    if len(password) < 8:
        raise InvalidInput("password", "must be at least 8 characters")
    email = email.strip().lower()
    if session.scalar(select(StaffUser).where(StaffUser.email == email)):
        raise Conflict(f"user {email} exists")
    store_id = store_by_code(session, store_code).id if store_code else None
    user = StaffUser(
        email=email,
        role=role,
        store_id=store_id,
        password_hash=generate_password_hash(password, method=hash_method),
    )
    session.add(user)
    session.flush()
    return user


def issue_staff_token(session: Session, email: str, password: str) -> tuple[str, StaffUser]:
    """A signed bearer token for a staff user; wrong credentials are Unauthorized."""
    user = session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        raise Unauthorized("Wrong email or password.")
    return sign_token("staff", {"u": user.id}), user

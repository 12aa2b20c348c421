"""Configuration read from the environment, in one place."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any


def _instance_secret(instance_path: Path) -> str:
    """A secret kept in the instance folder, so the embedded default survives restarts."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _rate_limit(name: str, default: tuple[int, int]) -> tuple[int, int]:
    """`LOYALTY_RATE_LIMIT_<NAME>=attempts/seconds`, or the default."""
    variable = f"LOYALTY_RATE_LIMIT_{name.upper()}"
    value = os.environ.get(variable)
    if not value:
        return default
    try:
        attempts, seconds = (int(part) for part in value.split("/"))
    except ValueError as exc:
        raise ValueError(f"{variable} must be attempts/seconds, such as 10/300") from exc
    return attempts, seconds


def rate_limits() -> dict[str, tuple[int, int]]:
    """The named rate limits (loyalty/ratelimit.py): name → (attempts, window in seconds)."""
    defaults = {
        "login": (10, 300),  # per staff email
        "otp_request": (5, 900),  # per phone or email
        "otp_verify": (20, 900),  # per phone or email
        "resolve": (_int("LOYALTY_RESOLVE_RATE_LIMIT", 120), 60),  # failures, per caller
        "claim": (10, 3600),  # per shopper
    }
    return {name: _rate_limit(name, default) for name, default in defaults.items()}


def _messages() -> dict[str, Any]:
    """Message senders and the campaign message policy (docs/MESSAGES.md)."""
    env = os.environ.get
    return {
        "SMTP_URL": env("LOYALTY_SMTP_URL") or None,
        "SMTP_FROM": env("LOYALTY_SMTP_FROM") or None,
        "SMTP_STARTTLS": env("LOYALTY_SMTP_STARTTLS", "0") == "1",
        "MESSAGE_WEBHOOK_URL": env("LOYALTY_MESSAGE_WEBHOOK_URL") or None,
        "MESSAGE_WEBHOOK_SECRET": env("LOYALTY_MESSAGE_WEBHOOK_SECRET") or None,
        "MESSAGE_SEND_TIMEOUT": _int("LOYALTY_MESSAGE_SEND_TIMEOUT", 10),
        "MESSAGE_SEND_BATCH": _int("LOYALTY_MESSAGE_SEND_BATCH", 100),
        "MESSAGE_CAP_COUNT": _int("LOYALTY_MESSAGE_CAP_COUNT", 3),
        "MESSAGE_CAP_DAYS": _int("LOYALTY_MESSAGE_CAP_DAYS", 7),
        "MESSAGE_QUIET_START": env("LOYALTY_MESSAGE_QUIET_START", "21:00"),
        "MESSAGE_QUIET_END": env("LOYALTY_MESSAGE_QUIET_END", "08:00"),
    }


def from_environment(instance_path: Path) -> dict[str, Any]:
    """Build the Flask config mapping from LOYALTY_* environment variables."""
    database_url = os.environ.get("LOYALTY_DATABASE_URL") or (
        f"sqlite:///{instance_path / 'loyalty.db'}"
    )
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": os.environ.get("LOYALTY_REDIS_URL") or None,
        "SECRET_KEY": os.environ.get("LOYALTY_SECRET_KEY") or _instance_secret(instance_path),
        "TIMEZONE": os.environ.get("LOYALTY_TIMEZONE", "Asia/Bangkok"),
        "CURRENCY": os.environ.get("LOYALTY_CURRENCY", "THB"),
        "STAFF_TOKEN_TTL": _int("LOYALTY_STAFF_TOKEN_TTL", 8 * 3600),
        "TERMINAL_KEY_CACHE_SECONDS": _int("LOYALTY_TERMINAL_KEY_CACHE_SECONDS", 5),
        "SHOPPER_TOKEN_TTL": _int("LOYALTY_SHOPPER_TOKEN_TTL", 30 * 24 * 3600),
        "OTP_TTL": _int("LOYALTY_OTP_TTL", 300),
        "CARD_CODE_STEP": _int("LOYALTY_CARD_CODE_STEP", 30),
        "CLAIM_DAYS": _int("LOYALTY_CLAIM_DAYS", 30),
        "RATE_LIMITS": rate_limits(),
        "OUTBOX_BATCH": _int("LOYALTY_OUTBOX_BATCH", 200),
        # The service's address as POS vendors reach it (their webhooks); default: the request's
        "PUBLIC_URL": os.environ.get("LOYALTY_PUBLIC_URL") or None,
        "POS_HTTP_ATTEMPTS": _int("LOYALTY_POS_HTTP_ATTEMPTS", 5),
        "POS_HTTP_BACKOFF": float(os.environ.get("LOYALTY_POS_HTTP_BACKOFF", "0.5")),
        "POS_HTTP_TIMEOUT": float(os.environ.get("LOYALTY_POS_HTTP_TIMEOUT", "20")),
        "POS_COMMIT_RECEIPTS": _int("LOYALTY_POS_COMMIT_RECEIPTS", 1000),
        **_messages(),
        "API_TITLE": "Loyalty platform",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/docs/assets/",
        "JSON_SORT_KEYS": False,
        "MAX_CONTENT_LENGTH": 1024 * 1024,
    }

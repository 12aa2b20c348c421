"""Secrets at rest: POS credentials and webhook secrets encrypted with Fernet under a key
derived (HKDF-SHA256) from the service's `SECRET_KEY`. Changing the secret key makes stored
credentials unreadable: the admin enters them again."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CONTEXT = b"loyalty pos credentials v1"


class SecretUnreadable(Exception):
    """A stored secret no longer decrypts (the secret key changed)."""


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CONTEXT).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret_key: str, value: Any) -> str:
    """`value` (JSON-able) encrypted and authenticated, as text."""
    return _fernet(secret_key).encrypt(json.dumps(value).encode()).decode()


def unseal(secret_key: str, token: str) -> Any:
    try:
        return json.loads(_fernet(secret_key).decrypt(token.encode()))
    except InvalidToken as exc:
        raise SecretUnreadable("stored credentials do not decrypt with this SECRET_KEY") from exc

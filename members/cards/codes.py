"""Card numbers with a check digit, and the codes a QR card carries.

A digital card shows a time-step code: an HMAC of the card number and the current step under
the card's own secret, valid for its step and the one before. A printed card carries a static
code signed with the program key: it identifies the member but never authorises a redemption.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

DIGITAL_PREFIX = "LD1"
STATIC_PREFIX = "LP1"
MAC_CHARS = 16


def luhn_check_digit(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def is_valid_card_no(card_no: str) -> bool:
    return card_no.isdigit() and len(card_no) >= 2 and luhn_check_digit(card_no[:-1]) == card_no[-1]


def make_card_no(serial: int, prefix: str = "8") -> str:
    """A 12-digit card number: prefix, zero-padded serial, Luhn check digit."""
    body = f"{prefix}{serial:010d}"
    return body + luhn_check_digit(body)


def _mac(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:MAC_CHARS]


def time_step(at: datetime, step_seconds: int) -> int:
    return int(at.timestamp()) // step_seconds


def digital_code(
    card_no: str, secret: bytes, at: datetime, step_seconds: int
) -> tuple[str, datetime]:
    """The rotating code for `at` and the moment it stops being the current one."""
    step = time_step(at, step_seconds)
    code = f"{DIGITAL_PREFIX}.{card_no}.{step}.{_mac(secret, f'{card_no}.{step}')}"
    return code, datetime.fromtimestamp((step + 1) * step_seconds, tz=UTC)


def static_code(card_no: str, program_key: bytes) -> str:
    return f"{STATIC_PREFIX}.{card_no}.{_mac(program_key, f'static.{card_no}')}"


@dataclass(frozen=True)
class ParsedCode:
    kind: str  # "digital" | "static"
    card_no: str
    step: int | None
    mac: str


def parse_code(code: str) -> ParsedCode | None:
    """Split a scanned code into its parts, or None when it is not one of ours."""
    parts = code.strip().split(".")
    if len(parts) == 4 and parts[0] == DIGITAL_PREFIX and parts[2].isdigit():
        return ParsedCode("digital", parts[1], int(parts[2]), parts[3])
    if len(parts) == 3 and parts[0] == STATIC_PREFIX:
        return ParsedCode("static", parts[1], None, parts[2])
    return None


def digital_code_state(parsed: ParsedCode, secret: bytes, now: datetime, step_seconds: int) -> str:
    """'valid', 'expired' (genuine but too old) or 'forged'; current and previous step pass."""
    assert parsed.step is not None
    expected = _mac(secret, f"{parsed.card_no}.{parsed.step}")
    if not hmac.compare_digest(expected, parsed.mac):
        return "forged"
    current = time_step(now, step_seconds)
    if parsed.step > current:
        return "forged"
    return "valid" if current - parsed.step <= 1 else "expired"


def static_code_valid(parsed: ParsedCode, program_key: bytes) -> bool:
    return hmac.compare_digest(_mac(program_key, f"static.{parsed.card_no}"), parsed.mac)

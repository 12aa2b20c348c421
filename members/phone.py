"""Phone numbers normalised to E.164; a Thai local number (08x…) is accepted."""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "TH"


class InvalidPhone(ValueError):
    """The text is not a valid phone number."""


def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """E.164 form of `raw`, or InvalidPhone."""
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

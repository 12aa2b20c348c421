"""Phone numbers are normalised to E.164; Thai local numbers are accepted."""

import pytest

from members.phone import InvalidPhone, normalise_phone


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("0812345678", "+66812345678"),
        ("081-234-5678", "+66812345678"),
        ("081 234 5678", "+66812345678"),
        ("(081) 234-5678", "+66812345678"),
        ("  0812345678  ", "+66812345678"),
        ("0912345678", "+66912345678"),
        ("0612345678", "+66612345678"),
        ("+66812345678", "+66812345678"),
        ("+66 81 234 5678", "+66812345678"),
        ("66812345678", "+66812345678"),
    ],
)
def test_a_thai_mobile_number_becomes_plus_66_without_the_leading_zero(raw, e164):
    assert normalise_phone(raw) == e164


def test_a_bangkok_landline_is_accepted():
    assert normalise_phone("02 123 4567") == "+6621234567"


def test_an_international_number_keeps_its_country():
    assert normalise_phone("+1 202 555 0123") == "+12025550123"
    assert normalise_phone("+65 6123 4567") == "+6561234567"


def test_the_default_region_can_be_changed():
    assert normalise_phone("9123 4567", region="SG") == "+6591234567"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "+66",
        "12345",
        "0812",  # too short
        "08123456789",  # one digit too many
        "091234567",  # a mobile prefix with a landline's length
        "0012345678",
        "+66 00 000 0000",
    ],
)
def test_an_invalid_number_is_refused(raw):
    with pytest.raises(InvalidPhone):
        normalise_phone(raw)


def test_invalid_phone_is_a_value_error_with_a_reason():
    with pytest.raises(ValueError, match="phone number"):
        normalise_phone("12345")

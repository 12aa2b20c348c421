"""Card numbers with a Luhn check digit, rotating digital codes and static printed codes."""

from datetime import UTC, datetime, timedelta

import pytest

from members.cards.codes import (
    digital_code,
    digital_code_state,
    is_valid_card_no,
    luhn_check_digit,
    make_card_no,
    parse_code,
    static_code,
    static_code_valid,
)

SECRET = bytes.fromhex("11" * 32)
OTHER_SECRET = bytes.fromhex("22" * 32)
PROGRAM_KEY = b"program-key"
STEP = 30
CARD_NO = make_card_no(42)
T0 = datetime(2026, 11, 23, 10, 15, 0, tzinfo=UTC)  # the start of a 30 s step


def state_at(code: str, now: datetime, secret: bytes = SECRET) -> str:
    parsed = parse_code(code)
    assert parsed is not None
    return digital_code_state(parsed, secret, now, STEP)


def test_the_luhn_check_digit_matches_the_reference_example():
    assert luhn_check_digit("7992739871") == "3"
    assert is_valid_card_no("79927398713")


def test_a_card_number_is_12_digits_with_a_valid_check_digit():
    for serial in (1, 42, 9_999_999_999):
        card_no = make_card_no(serial)
        assert len(card_no) == 12
        assert card_no.isdigit()
        assert card_no.startswith("8")
        assert is_valid_card_no(card_no)


def test_card_numbers_of_different_serials_differ():
    assert len({make_card_no(n) for n in range(1, 500)}) == 499


def test_any_single_mistyped_digit_is_caught():
    for position in range(len(CARD_NO)):
        for digit in "0123456789":
            if digit != CARD_NO[position]:
                typo = CARD_NO[:position] + digit + CARD_NO[position + 1 :]
                assert not is_valid_card_no(typo), typo


def test_swapping_two_adjacent_different_digits_is_caught():
    card_no = "81234567890" + luhn_check_digit("81234567890")
    swapped = card_no[1] + card_no[0] + card_no[2:]
    assert is_valid_card_no(card_no)
    assert not is_valid_card_no(swapped)


@pytest.mark.parametrize("text", ["", "7", "8000000004a2", "8000-0000-04", " 80000000042"])
def test_text_that_is_not_a_digit_string_is_not_a_card_number(text):
    assert not is_valid_card_no(text)


def test_a_digital_code_names_the_card_and_its_time_step():
    code, expires_at = digital_code(CARD_NO, SECRET, T0 + timedelta(seconds=7), STEP)
    parsed = parse_code(code)
    assert parsed is not None
    assert parsed.kind == "digital"
    assert parsed.card_no == CARD_NO
    assert parsed.step == int(T0.timestamp()) // STEP
    assert code.startswith(f"LD1.{CARD_NO}.")
    assert expires_at == T0 + timedelta(seconds=STEP)


def test_a_digital_code_is_the_same_throughout_its_step_and_changes_with_the_next():
    first, _ = digital_code(CARD_NO, SECRET, T0, STEP)
    same, _ = digital_code(CARD_NO, SECRET, T0 + timedelta(seconds=29), STEP)
    following, _ = digital_code(CARD_NO, SECRET, T0 + timedelta(seconds=30), STEP)
    assert first == same
    assert following != first


def test_a_digital_code_is_valid_in_its_own_step():
    code, _ = digital_code(CARD_NO, SECRET, T0, STEP)
    assert state_at(code, T0) == "valid"
    assert state_at(code, T0 + timedelta(seconds=29)) == "valid"


def test_a_digital_code_is_still_valid_during_the_next_step():
    code, _ = digital_code(CARD_NO, SECRET, T0, STEP)
    assert state_at(code, T0 + timedelta(seconds=30)) == "valid"
    assert state_at(code, T0 + timedelta(seconds=59)) == "valid"


def test_a_digital_code_expires_two_steps_later():
    code, _ = digital_code(CARD_NO, SECRET, T0, STEP)
    assert state_at(code, T0 + timedelta(seconds=60)) == "expired"
    assert state_at(code, T0 + timedelta(days=1)) == "expired"


def test_a_digital_code_with_a_changed_mac_is_forged():
    code, _ = digital_code(CARD_NO, SECRET, T0, STEP)
    head, mac = code.rsplit(".", 1)
    tampered = f"{head}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    assert state_at(tampered, T0) == "forged"


def test_a_digital_code_signed_with_another_cards_secret_is_forged():
    code, _ = digital_code(CARD_NO, OTHER_SECRET, T0, STEP)
    assert state_at(code, T0) == "forged"


def test_a_digital_code_moved_to_another_step_is_forged():
    code, _ = digital_code(CARD_NO, SECRET, T0, STEP)
    prefix, card_no, step, mac = code.split(".")
    replayed = f"{prefix}.{card_no}.{int(step) + 1}.{mac}"
    assert state_at(replayed, T0 + timedelta(seconds=30)) == "forged"


def test_a_digital_code_moved_to_another_card_is_forged():
    code, _ = digital_code(CARD_NO, SECRET, T0, STEP)
    other_card = make_card_no(43)
    moved = code.replace(CARD_NO, other_card)
    assert state_at(moved, T0) == "forged"


def test_a_genuine_code_for_a_future_step_is_refused_as_forged():
    code, _ = digital_code(CARD_NO, SECRET, T0 + timedelta(seconds=STEP), STEP)
    assert state_at(code, T0) == "forged"
    assert state_at(code, T0 + timedelta(seconds=STEP)) == "valid"


def test_a_static_code_is_signed_with_the_program_key():
    code = static_code(CARD_NO, PROGRAM_KEY)
    parsed = parse_code(code)
    assert parsed is not None
    assert parsed.kind == "static"
    assert parsed.card_no == CARD_NO
    assert parsed.step is None
    assert static_code_valid(parsed, PROGRAM_KEY)
    assert static_code(CARD_NO, PROGRAM_KEY) == code


def test_a_static_code_signed_with_another_key_or_for_another_card_is_not_valid():
    foreign = parse_code(static_code(CARD_NO, b"someone-else"))
    moved = parse_code(static_code(CARD_NO, PROGRAM_KEY).replace(CARD_NO, make_card_no(43)))
    assert foreign is not None
    assert moved is not None
    assert not static_code_valid(foreign, PROGRAM_KEY)
    assert not static_code_valid(moved, PROGRAM_KEY)


def test_a_scanned_code_with_surrounding_whitespace_is_still_read():
    code, _ = digital_code(CARD_NO, SECRET, T0, STEP)
    assert parse_code(f"  {code}\n") == parse_code(code)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "LD1",
        f"LD1.{CARD_NO}.notastep.ABCDEF",
        f"LD1.{CARD_NO}.123",
        f"LD2.{CARD_NO}.123.ABCDEF",
        f"LP1.{CARD_NO}",
        f"LP1.{CARD_NO}.A.B",
        "https://example.com/?q=LD1",
    ],
)
def test_text_that_is_not_one_of_our_codes_is_not_parsed(text):
    assert parse_code(text) is None

"""GB 32100-2015 credit codes and GB 11643 ID numbers: the check characters catch typos."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.identity.codes import (
    CREDIT_ALPHABET,
    CodeError,
    validate_credit_code,
    validate_id_number,
)
from tests.support.ids import credit_code, id_number

# Published codes of real organisations (check characters as printed on their licences).
REAL_CREDIT_CODES = ["91350100M000100Y43", "91110000802100433B", "91440300708461136T"]


@pytest.mark.parametrize("code", REAL_CREDIT_CODES)
def test_real_credit_codes_pass(code: str) -> None:
    assert validate_credit_code(code) == code


@given(
    serial=st.integers(min_value=0, max_value=31**9 - 1),
    position=st.integers(min_value=0, max_value=17),
    replacement=st.sampled_from(CREDIT_ALPHABET),
)
def test_any_single_substitution_is_caught(serial: int, position: int, replacement: str) -> None:
    code = credit_code(serial)
    assert validate_credit_code(code) == code
    if code[position] == replacement:
        return
    altered = code[:position] + replacement + code[position + 1 :]
    with pytest.raises(CodeError):
        validate_credit_code(altered)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91350100M000100Y4", "wrong_length"),
        ("91350100M000100Y433", "wrong_length"),
        ("91350100M000100YI3", "bad_characters"),
        ("91350100M000100Y4O", "bad_characters"),
        ("913A0100M000100Y43", "bad_division"),
        ("91350100M000100Y44", "wrong_check_character"),
    ],
)
def test_invalid_credit_codes_say_why(code: str, reason: str) -> None:
    with pytest.raises(CodeError) as info:
        validate_credit_code(code)
    assert info.value.reason == reason


def test_id_numbers() -> None:
    assert validate_id_number("11010519491231002X") == "11010519491231002X"
    good = id_number()
    assert validate_id_number(good.lower()) == good
    wrong = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(CodeError, match="check digit"):
        validate_id_number(wrong)
    with pytest.raises(CodeError) as info:
        validate_id_number(id_number(birth="19801341"))
    assert info.value.reason == "bad_birth_date"

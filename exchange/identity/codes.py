"""Check characters of Chinese identity codes.

- Unified social credit code (统一社会信用代码), GB 32100-2015: 18 characters
  over a 31-symbol alphabet (digits and capitals without I, O, S, V, Z); the
  last is a weighted mod-31 check character.
- Resident identity number (公民身份号码), GB 11643-1999: 17 digits and an
  ISO 7064 MOD 11-2 check character (0-9 or X).
"""

from __future__ import annotations

import re
from datetime import date

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


class CodeError(ValueError):
    """Why a code is not valid; ``reason`` is a stable machine word."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def normalised(code: str) -> str:
    """Upper case without white space: how a code is stored and compared (one entity, one account)."""
    return "".join(code.split()).upper()


def credit_check_character(first17: str) -> str:
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(code: str) -> str:
    """Return the normalised code or raise ``CodeError`` saying what is wrong."""
    value = normalised(code)
    if len(value) != 18:
        raise CodeError("wrong_length", f"a credit code has 18 characters, not {len(value)}")
    bad = sorted({c for c in value if c not in CREDIT_ALPHABET})
    if bad:
        raise CodeError("bad_characters", f"characters not allowed in a credit code: {''.join(bad)}")
    if not value[2:8].isdigit():
        raise CodeError("bad_division", "characters 3-8 must be the administrative division code")
    expected = credit_check_character(value[:17])
    if value[17] != expected:
        raise CodeError("wrong_check_character", "the check character does not match (GB 32100-2015)")
    return value


def id_check_character(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def validate_id_number(number: str) -> str:
    """Return the normalised 18-digit ID number or raise ``CodeError``."""
    value = normalised(number)
    if not re.fullmatch(r"\d{17}[\dX]", value):
        raise CodeError("bad_format", "an ID number has 17 digits and a check digit (0-9 or X)")
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError as exc:
        raise CodeError("bad_birth_date", "the birth date inside the ID number is not a date") from exc
    if value[17] != id_check_character(value[:17]):
        raise CodeError("wrong_check_character", "the check digit does not match (GB 11643)")
    return value

"""Valid Chinese identity codes for tests, built with the check-character rules."""

from __future__ import annotations

import itertools

from exchange.identity.codes import CREDIT_ALPHABET, credit_check_character, id_check_character

_counter = itertools.count(1)


def credit_code(serial: int | None = None) -> str:
    """A valid unified social credit code: 91 (enterprise), Taiyuan 140100, a serial organisation code."""
    n = next(_counter) if serial is None else serial
    org = ""
    for _ in range(9):
        n, r = divmod(n, len(CREDIT_ALPHABET))
        org = CREDIT_ALPHABET[r] + org
    first17 = "91140100" + org
    return first17 + credit_check_character(first17)


def id_number(birth: str = "19800101", serial: int = 123) -> str:
    first17 = f"140105{birth}{serial:03d}"
    return first17 + id_check_character(first17)

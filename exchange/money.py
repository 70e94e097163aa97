"""Exact money: integer fen inside, decimal yuan strings at the edge."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_FEN = Decimal(100)


class MoneyFormatError(ValueError):
    """Raised for an amount that is not a decimal yuan string with at most two places."""


def parse_yuan(text: str) -> int:
    """``"1250000.00"`` -> 125000000 fen. Rejects floats' artefacts and a third decimal."""
    if not isinstance(text, str):
        raise MoneyFormatError('money must be a decimal string such as "1250000.00"')
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise MoneyFormatError(f"{text!r} is not a decimal amount") from exc
    if not value.is_finite():
        raise MoneyFormatError(f"{text!r} is not a finite amount")
    fen = value * _FEN
    if fen != fen.to_integral_value():
        raise MoneyFormatError(f"{text!r} has more than two decimal places")
    return int(fen)


def format_yuan(fen: int) -> str:
    """125000000 -> ``"1250000.00"``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"

"""Exact money: integer fen inside, decimal yuan strings at the edge."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_FEN = Decimal(100)

MAX_FEN = 10**15
"""The largest amount the exchange accepts anywhere: 10 trillion yuan (10^15 fen).

Far above any price, deposit or payment it will see, and small enough that
amounts stay PostgreSQL BIGINTs (about 9.2 * 10^18) when thousands of them are
summed (a ledger balance, a settlement, a price times a quantity of a few
thousand). An amount above it is refused where it is parsed, never stored.
"""
_MAX_YUAN = Decimal(MAX_FEN) / _FEN


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
    if abs(value) > _MAX_YUAN:  # before the arithmetic below, which a 1e999999 would overflow
        shown = text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"
        raise MoneyFormatError(f"{shown!r} is beyond the largest amount accepted, {format_yuan(MAX_FEN)}")
    fen = value * _FEN
    if fen != fen.to_integral_value():
        raise MoneyFormatError(f"{text!r} has more than two decimal places")
    return int(fen)


def format_yuan(fen: int) -> str:
    """125000000 -> ``"1250000.00"``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"

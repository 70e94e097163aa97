"""Lossless plain-JSON forms of the core's data, for database columns and logs.

Fractions are written as strings "p/q" (or "p"), datetimes as ISO 8601 UTC,
the seed as base64, tuples as lists. Field order follows the dataclasses, so
the same object always gives the same JSON.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, TypeVar

import msgspec

from .types import JSON, AuctionState, Event, Outcome, Params

T = TypeVar("T")


def _encode(value: Any) -> Any:
    if isinstance(value, Fraction):
        return str(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def _decode(kind: type, value: Any) -> Any:
    if kind is Fraction and isinstance(value, str | int):
        return Fraction(value)
    raise NotImplementedError(f"cannot decode {kind!r}")


def to_json(value: object) -> JSON:
    # through bytes and back so that tuples become lists and nothing
    # non-JSON (bytes, datetime, Fraction) survives into the column
    return msgspec.json.decode(msgspec.json.encode(value, enc_hook=_encode))


def from_json(data: JSON, kind: type[T]) -> T:
    return msgspec.convert(data, kind, dec_hook=_decode)


def state_to_json(state: AuctionState) -> JSON:
    return to_json(state)


def state_from_json(data: JSON) -> AuctionState:
    return from_json(data, AuctionState)


def state_to_text(state: AuctionState) -> str:
    """The JSON text of ``state_to_json`` in one step, for a driver that takes JSON as text."""
    return msgspec.json.encode(state, enc_hook=_encode).decode()


def state_from_text(text: str | bytes) -> AuctionState:
    return msgspec.json.decode(text, type=AuctionState, dec_hook=_decode)


def outcome_to_json(outcome: Outcome) -> JSON:
    return to_json(outcome)


def outcome_from_json(data: JSON) -> Outcome:
    return from_json(data, Outcome)


def params_to_json(params: Params) -> JSON:
    return to_json(params)


def params_from_json(data: JSON) -> Params:
    return from_json(data, Params)


def event_to_json(event: Event) -> JSON:
    return to_json(event)

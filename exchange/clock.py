"""The one place the exchange reads the wall clock.

All instants are aware UTC datetimes; pages convert to Asia/Shanghai.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_fixed: ContextVar[datetime | None] = ContextVar("exchange_clock_fixed", default=None)


def utcnow() -> datetime:
    return _fixed.get() or datetime.now(UTC)


@contextmanager
def fixed(at: datetime) -> Iterator[None]:
    """Read ``at`` as the time inside this block, in this task and the tasks it starts.

    For scripts that must run the same instants through two implementations and
    compare what they stored (``tests/integration/test_bid_stores.py``); the exchange itself
    never fixes its clock.
    """
    token = _fixed.set(as_utc(at))
    try:
        yield
    finally:
        _fixed.reset(token)


def as_utc(value: datetime) -> datetime:
    """Naive values come from SQLite, which stores UTC without an offset."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def isoformat(value: datetime) -> str:
    """ISO 8601 with offset and microseconds: stable across databases for hashing."""
    return as_utc(value).isoformat(timespec="microseconds")

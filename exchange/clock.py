"""The one place the exchange reads the wall clock.

All instants are aware UTC datetimes; pages convert to Asia/Shanghai.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive values come from SQLite, which stores UTC without an offset."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def isoformat(value: datetime) -> str:
    """ISO 8601 with offset and microseconds: stable across databases for hashing."""
    return as_utc(value).isoformat(timespec="microseconds")

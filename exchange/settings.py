"""Typed settings read once from ``EXCHANGE_*`` environment variables.

Secrets come only from the environment. In the embedded default (no secret
configured) a random per-process key is generated so nothing guessable is
ever used to sign tokens; tokens then do not survive a restart, which is the
honest trade-off for a laptop run.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

Profile = Literal["statutory", "sandbox"]


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"EXCHANGE_{name}")
    return value if value not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    return int(raw) if raw is not None else default


def _default_database_url() -> str:
    var = Path(_env("VAR_DIR", "var") or "var").resolve()
    return f"sqlite+aiosqlite:///{var / 'exchange.db'}"


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    """SQLAlchemy async URL; ``postgresql+asyncpg://`` in production, SQLite file by default."""
    echo: bool = False
    """Log every SQL statement (debugging only)."""
    pool_size: int = 10
    """Connections per process (PostgreSQL): the ORM's pool keeps this many (and as many in
    overflow), the bid path's asyncpg pool opens up to this many."""
    null_pool: bool = False
    """Open a connection per checkout; tests use it so no pool crosses event loops."""

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


@dataclass(frozen=True)
class RedisSettings:
    url: str | None
    """``redis://`` URL; ``None`` means in-memory channels and rate limits."""
    prefix: str = "exchange"
    """Prefix of every Redis key, so several exchanges (or test runs) can share one server."""


@dataclass(frozen=True)
class SecuritySettings:
    secret_key: str
    """HMAC key that signs access tokens."""
    bank_secret: str
    """HMAC-SHA256 key the bank signs deposit notices with."""
    token_ttl_seconds: int = 1800
    """Lifetime of a bidder's access token (an auction's last minutes should not log it out)."""
    staff_token_ttl_seconds: int = 600
    """Lifetime of a staff token: shorter, since staff act on every listing."""
    secret_is_ephemeral: bool = False
    """True when no secret was configured and a random one was generated."""

    def token_ttl(self, role: str) -> int:
        return self.token_ttl_seconds if role == "bidder" else self.staff_token_ttl_seconds


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings
    redis: RedisSettings
    security: SecuritySettings
    profile: Profile = "statutory"
    """``statutory`` enforces legal minimum periods; ``sandbox`` allows one-second periods."""
    timezone: str = "Asia/Shanghai"
    """Zone in which pages show times and working days are counted; storage is UTC."""
    var_dir: Path = field(default_factory=lambda: Path("var"))
    """Where the embedded default keeps its SQLite file and documents."""
    migrate_on_start: bool = True
    """``exchange serve`` upgrades the schema before it listens."""
    bid_rate_per_second: int = 10
    """Bids a bidder may place per second before 429 ``rate_limited``."""
    issue_documents: bool = True
    """Render and store the announcement and result PDFs in the background (off: tests that do not look)."""


def load_settings() -> Settings:
    """Read the environment now (tests call this with their own environment)."""
    profile = _env("PROFILE", "statutory")
    if profile not in ("statutory", "sandbox"):
        raise ValueError(f"EXCHANGE_PROFILE must be 'statutory' or 'sandbox', not {profile!r}")
    configured_secret = _env("SECRET_KEY")
    return Settings(
        database=DatabaseSettings(
            url=_env("DATABASE_URL") or _default_database_url(),
            echo=_env("DATABASE_ECHO", "0") == "1",
            pool_size=_env_int("DATABASE_POOL_SIZE", 10),
            null_pool=_env("DATABASE_NULL_POOL", "0") == "1",
        ),
        redis=RedisSettings(url=_env("REDIS_URL"), prefix=_env("REDIS_PREFIX", "exchange") or "exchange"),
        security=SecuritySettings(
            secret_key=configured_secret or secrets.token_urlsafe(48),
            bank_secret=_env("BANK_SECRET") or secrets.token_urlsafe(48),
            token_ttl_seconds=_env_int("TOKEN_TTL_SECONDS", 1800),
            staff_token_ttl_seconds=_env_int("STAFF_TOKEN_TTL_SECONDS", 600),
            secret_is_ephemeral=configured_secret is None,
        ),
        profile=profile,  # type: ignore[arg-type]
        timezone=_env("TIMEZONE", "Asia/Shanghai") or "Asia/Shanghai",
        var_dir=Path(_env("VAR_DIR", "var") or "var"),
        migrate_on_start=_env("MIGRATE_ON_START", "1") == "1",
        bid_rate_per_second=_env_int("BID_RATE_PER_SECOND", 10),
        issue_documents=_env("ISSUE_DOCUMENTS", "1") == "1",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()

"""Database engine, sessions and the declarative base shared by every package.

PostgreSQL (asyncpg) is the system of record in production and tests; SQLite
(aiosqlite) is the embedded default. SQLite gets WAL, a busy timeout and
``BEGIN IMMEDIATE`` for every transaction but a read-only snapshot: a deferred
transaction that later writes fails with "database is locked" instead of
waiting its turn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from exchange.clock import as_utc
from exchange.settings import DatabaseSettings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# JSONB on PostgreSQL; plain JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")
# 64-bit ids on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use exchange.clock")
        aware = as_utc(value)
        return aware.replace(tzinfo=None) if dialect.name == "sqlite" else aware

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


READ_SNAPSHOT = "exchange_read_snapshot"
"""Execution option of a connection that only reads, in one snapshot (``exchange.audit.chain.read_snapshot``)."""


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # a read snapshot never writes: holding the write lock for as long as it reads would
        # stall every writer, and in WAL mode a deferred transaction reads one snapshot anyway
        read_only = conn.get_execution_options().get(READ_SNAPSHOT, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    kwargs: dict[str, Any] = {"echo": settings.echo}
    if settings.is_sqlite or settings.null_pool:
        kwargs["poolclass"] = NullPool
    else:
        # No pool_pre_ping: it is a round trip on every checkout (5-10 % of a bid's server CPU
        # in the bid benchmark). A connection the server dropped fails its request once and
        # SQLAlchemy then invalidates the pool; pool_recycle retires connections a proxy or
        # firewall may have cut silently.
        kwargs.update(pool_size=settings.pool_size, max_overflow=settings.pool_size, pool_recycle=1800)
    engine = create_async_engine(settings.url, **kwargs)
    if settings.is_sqlite:
        _configure_sqlite(engine)
    return engine


async def create_driver_pool(
    settings: DatabaseSettings, init: Callable[[asyncpg.Connection], Awaitable[None]]
) -> asyncpg.Pool | None:
    """asyncpg's own pool for the statements of the usual bid (``auctions.store_pg``); PostgreSQL only.

    ``init`` runs on every new connection (the bid path prepares its statement there).
    Connections are opened on demand (``min_size=0``): the test suite starts an app per test.
    """
    if settings.is_sqlite:
        return None
    dsn = make_url(settings.url).set(drivername="postgresql").render_as_string(hide_password=False)
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=settings.pool_size,
        max_inactive_connection_lifetime=300,
        init=init,
        reset=_keep_session,
        # the bid path quotes literals for EXECUTE the standard way (auctions.store_pg.literal)
        server_settings={"standard_conforming_strings": "on"},
    )
    return pool


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """asyncpg's default reset is a round trip per release (``RESET ALL``, ``UNLISTEN *``, ...)
    for session state the bid path never sets; an open transaction is still rolled back."""


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for work outside a request (timers, CLI): commit on success, else roll back."""
    async with sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"

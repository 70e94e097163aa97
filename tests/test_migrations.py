"""Migrations upgrade an empty database on both PostgreSQL and SQLite, and match the models."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import asyncpg
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from exchange.migrate import upgrade
from exchange.schema import metadata
from tests.conftest import ADMIN_URL, _pg_url


def _tables(url: str) -> set[str]:
    async def run() -> set[str]:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        await engine.dispose()
        return names

    return asyncio.run(run())


def test_sqlite_from_empty(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    upgrade(url)  # a second run is a no-op
    assert set(metadata.tables) <= _tables(url)


def test_postgresql_from_empty() -> None:
    name = f"exchange_migrate_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        url = _pg_url(name)
        upgrade(url)
        assert set(metadata.tables) <= _tables(url)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

"""Migrations upgrade an empty database on both PostgreSQL and SQLite, and match the models."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from exchange.migrate import upgrade
from exchange.schema import metadata
from tests.conftest import ADMIN_URL, _pg_url
from tests.support.ids import credit_code
from tests.support.server import EXCHANGE, base_env


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


# ---- one legal entity, one bidder (revision 0010) ----------------------------------------


def _exchange(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXCHANGE), *args], env=env, capture_output=True, text=True, timeout=120)


@contextmanager
def _database(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'dupes.db'}"
        return
    name = f"exchange_dupes_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _execute(url: str, sql: str) -> None:
    async def run() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(run())


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_entity_with_several_accounts_stops_the_upgrade_until_resolved(kind: str, tmp_path: Path) -> None:
    code = credit_code()
    lowered = code.lower()  # the old code kept what it was given, up to 18 characters
    with _database(kind, tmp_path) as url:
        upgrade(url, "0008")
        now = "2026-12-01 08:00:00"
        for user_id, name, value in (
            (1, "jiaocheng", code),
            (2, "jiaocheng_2", lowered),
            (3, "other", credit_code()),
        ):
            _execute(
                url,
                "INSERT INTO users (id, username, password_hash, role, kind, display_name, credit_code, "
                f"active, failed_logins, created_at) VALUES ({user_id}, '{name}', '-', 'bidder', "
                f"'enterprise', '{name} 公司', '{value}', true, 0, '{now}')",
            )
        env = base_env(EXCHANGE_DATABASE_URL=url)
        refused = _exchange(env, "db", "upgrade")
        assert refused.returncode == 2, refused.stderr
        assert "account 1 'jiaocheng'" in refused.stderr and "account 2 'jiaocheng_2'" in refused.stderr
        assert "exchange users detach-entity" in refused.stderr and "Traceback" not in refused.stderr

        listed = _exchange(env, "users", "duplicates")
        assert listed.returncode == 1 and f"credit_code {code}" in listed.stdout  # stored normalised
        detached = _exchange(env, "users", "detach-entity", "2", "--reason", "同一企业重复注册")
        assert detached.returncode == 0, detached.stderr

        assert _exchange(env, "db", "upgrade").returncode == 0
        assert _exchange(env, "users", "duplicates").returncode == 0
        with pytest.raises(IntegrityError):  # from now on the database itself refuses a second account
            _execute(
                url,
                "INSERT INTO users (id, username, password_hash, role, kind, display_name, credit_code, "
                f"active, token_version, created_at) VALUES (4, 'again', '-', 'bidder', 'enterprise', "
                f"'x', '{code}', true, 0, '{now}')",
            )


# ---- the migrated schema is the models' schema -------------------------------------------------


def _differences(url: str) -> list[Any]:
    """What Alembic's autogenerate would change to make the migrated schema match the models."""

    def compare(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        with warnings.catch_warnings():  # SQLite cannot reflect expression indexes: checked below
            warnings.filterwarnings("ignore", message=".*expression-based index.*")
            return list(compare_metadata(context, metadata))

    async def run() -> list[Any]:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            found = await conn.run_sync(compare)
        await engine.dispose()
        return found

    return asyncio.run(run())


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_migrations_build_exactly_the_models(kind: str, tmp_path: Path) -> None:
    """The bid store's raw SQL names columns the models declare: a migration that drifts from
    them (a column, a type, an index, a constraint) fails here, not in a bid."""
    with _database(kind, tmp_path) as url:
        upgrade(url)
        assert _differences(url) == []
        if kind == "sqlite":
            _execute(
                url,
                "INSERT INTO users (username, password_hash, role, kind, display_name, active, "
                "token_version, created_at) VALUES ('Ma', '-', 'operator', 'staff', 'x', true, 0, '2026-12-01')",
            )
            with pytest.raises(IntegrityError):  # the case-blind username index survived the table rebuilds
                _execute(
                    url,
                    "INSERT INTO users (username, password_hash, role, kind, display_name, active, "
                    "token_version, created_at) VALUES ('MA', '-', 'operator', 'staff', 'x', true, 0, '2026-12-01')",
                )

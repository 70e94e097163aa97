"""Test fixtures: a fresh PostgreSQL database per run, real Redis, the app in process.

Nothing here is mocked. ``EXCHANGE_TEST_PG`` (an admin URL, default the local
``test`` database) and ``EXCHANGE_TEST_REDIS`` point at the services.
Pure tests (mechanisms, calendars) request none of these fixtures.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from exchange.app import create_app
from exchange.migrate import upgrade
from exchange.settings import DatabaseSettings, PasswordSettings, RedisSettings, SecuritySettings, Settings
from listings import workdays
from tests.support.calendar import invented_years, store_invented_years
from tests.support.stuck import watchdog

ADMIN_URL = os.environ.get("EXCHANGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("EXCHANGE_TEST_REDIS", "redis://127.0.0.1:6379/0")
RUN_ID = f"{os.getpid()}_{secrets.token_hex(3)}"
TEST_DB = f"exchange_test_{RUN_ID}"
SECRET = "test-secret-key-" + secrets.token_hex(16)
BANK_SECRET = "test-bank-secret-" + secrets.token_hex(8)
SIGNING_KEY = (
    "SEnI7Ldp5ywqWNW1T-fI7X3f1Xv9EjWbSl1yGkVVh6k"  # a fixed Ed25519 key (raw, base64url): tests only
)
CHEAP_PASSWORDS = PasswordSettings(time_cost=1, memory_kib=8192)
"""Cheaper Argon2id for the suite (still Argon2id); server processes get the same through ``env``."""


def _pg_url(database: str, driver: str = "postgresql+asyncpg") -> str:
    base = ADMIN_URL.split("://", 1)[1].rsplit("/", 1)[0]
    return f"{driver}://{base}/{database}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    async def create() -> None:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(f'CREATE DATABASE "{TEST_DB}"')
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(create())
    url = _pg_url(TEST_DB)
    upgrade(url)
    yield url
    asyncio.run(drop())


@pytest.fixture(scope="session")
def redis_prefix() -> str:
    return f"exchange-test-{RUN_ID}"


def make_settings(pg_url: str, redis_prefix: str, **overrides: object) -> Settings:
    settings = Settings(
        database=DatabaseSettings(url=pg_url, null_pool=True),
        redis=RedisSettings(url=REDIS_URL, prefix=redis_prefix),
        security=SecuritySettings(secret_key=SECRET, bank_secret=BANK_SECRET),
        passwords=CHEAP_PASSWORDS,
        profile="statutory",
        issue_documents=False,  # rendering PDFs in the background only where a test looks at them
        var_dir=Path(tempfile.gettempdir()) / f"exchange-{RUN_ID}",
    )
    return replace(settings, **overrides)  # type: ignore[arg-type]


DATABASES = ("postgresql", "sqlite")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "databases(*names): run the test's app on each database: postgresql (with Redis, as "
        "production) and sqlite (the embedded default, no Redis)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("databases")
    if marker is not None and "database" in metafunc.fixturenames:
        metafunc.parametrize("database", marker.args or DATABASES, indirect=True)


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """The database of the test's app: PostgreSQL unless the test is marked ``databases``."""
    return str(getattr(request, "param", "postgresql"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the invented calendar years, copied for every test that runs
    on the embedded default."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    asyncio.run(store_invented_years(DatabaseSettings(url=f"sqlite+aiosqlite:///{path}")))
    return path


@pytest.fixture
def settings(
    pg_url: str, redis_prefix: str, database: str, tmp_path: Path, sqlite_template: Path
) -> Settings:
    # a prefix per test: counters kept in Redis (login throttling, rate limits) start from zero
    settings = make_settings(pg_url, f"{redis_prefix}-{secrets.token_hex(3)}")
    if database == "sqlite":
        file = tmp_path / "exchange.db"
        shutil.copyfile(sqlite_template, file)
        settings = replace(
            settings,
            database=DatabaseSettings(url=f"sqlite+aiosqlite:///{file}"),
            redis=RedisSettings(url=None),
        )
    return settings


async def truncate_all(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        if tables:
            names = ", ".join(f'"{t["tablename"]}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[str]:
    """A clean database for this test (all tables emptied, identities restarted), holding only
    the invented calendar years after the package's table (``tests/support/calendar.py``)."""
    await truncate_all(pg_url)
    await store_invented_years(DatabaseSettings(url=pg_url, null_pool=True))
    yield pg_url


@pytest.fixture
def test_calendar() -> Iterator[None]:
    """This process counts working days with the invented years after the package's table
    (``tests/support/calendar.py``; not official), for pure tests that need them."""
    workdays.install(invented_years())
    yield
    workdays.install(())


@pytest.fixture
async def app(db: str, settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture(autouse=True)
def _watched_client_close(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test client, however a test makes it, closes under the watchdog (tests/support/stuck.py):
    a client stuck closing (an aiosqlite close that outlives its cancellation) would otherwise hang
    its worker for good, as it did in test_malformed_input's own client."""
    close = AsyncTestClient.__aexit__

    async def watched(self: AsyncTestClient[Any], *exc: Any) -> None:
        with watchdog(request.node.nodeid):
            await close(self, *exc)

    monkeypatch.setattr(AsyncTestClient, "__aexit__", watched)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@pytest.fixture
def env(db: str, redis_prefix: str, settings: Settings) -> dict[str, str]:
    """The environment of an ``exchange serve`` process on the test's database (and Redis, with
    PostgreSQL; the embedded SQLite default runs without)."""
    from tests.support.server import base_env

    variables = base_env(
        EXCHANGE_DATABASE_URL=settings.database.url,
        EXCHANGE_REDIS_PREFIX=f"{redis_prefix}-{secrets.token_hex(3)}",
        EXCHANGE_SECRET_KEY=SECRET,
        EXCHANGE_BANK_SECRET=BANK_SECRET,
        EXCHANGE_SIGNING_KEY=SIGNING_KEY,
        EXCHANGE_PROFILE="sandbox",
        EXCHANGE_ARGON2_TIME_COST="1",
        EXCHANGE_ARGON2_MEMORY_KIB="8192",
    )
    if settings.redis.url is not None:
        variables["EXCHANGE_REDIS_URL"] = settings.redis.url
    return variables


@pytest.fixture
def servers() -> Iterator[list[Any]]:
    """Server processes a test starts; all killed at its end."""
    started: list[Any] = []
    yield started
    for server in started:
        server.kill()

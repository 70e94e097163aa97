"""Alembic environment: runs migrations on the async engine of either database."""

from __future__ import annotations

import asyncio
import warnings

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from exchange.schema import metadata

config = context.config

# SQLite's batch mode rebuilds a table and warns that it cannot carry an expression index
# over; the revisions that rebuild ``users`` create ``ix_users_username_lower`` again.
warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # each revision commits on its own: one that refuses to run (0010 while a legal
        # entity has several accounts) leaves the ones before it applied
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _online() -> None:
    engine = create_async_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_online())

"""Token versions, normalised entity codes, the login throttle replaces the lock, recorded close heads.

- ``users.token_version``: bumped whenever an account is disabled, re-enabled, changes
  role or is detached from its legal entity; a token carries the version it was issued
  at, so every older token stops working at once.
- ``users.detached_code``: the credit code or ID number an administrator detached from a
  duplicate bidder account (``exchange users detach-entity``), kept for the record.
- ``users.failed_logins`` and ``locked_until`` go: a hard lock let anyone lock anyone
  out; failed logins are now throttled per address and per name (``exchange.identity.throttle``).
- Credit codes and ID numbers are normalised (upper case, no white space), so that
  the next revision can make them unique.
- ``auctions.close_head``: the listing's audit-chain hash at the entry that recorded the
  outcome, stored outside the chain so that ``audit verify`` can detect a rewritten one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _keep_username_index() -> None:
    """SQLite's batch mode rebuilds the table and cannot carry the expression index over."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE UNIQUE INDEX IF NOT EXISTS ix_users_username_lower ON users (lower(username))")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("token_version", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("detached_code", sa.String(32), nullable=True))
        batch.drop_column("failed_logins")
        batch.drop_column("locked_until")
    _keep_username_index()
    for column in ("credit_code", "id_number"):
        op.execute(
            f"UPDATE users SET {column} = UPPER(REPLACE(REPLACE(REPLACE(REPLACE({column}, ' ', ''), "  # noqa: S608
            f"CHAR(9), ''), CHAR(10), ''), CHAR(13), '')) WHERE {column} IS NOT NULL"
            if op.get_bind().dialect.name == "sqlite"
            else f"UPDATE users SET {column} = UPPER(REGEXP_REPLACE({column}, '\\s', '', 'g')) "  # noqa: S608
            f"WHERE {column} IS NOT NULL"
        )
    with op.batch_alter_table("auctions") as batch:
        batch.add_column(sa.Column("close_head", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auctions") as batch:
        batch.drop_column("close_head")
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch.drop_column("detached_code")
        batch.drop_column("token_version")
    _keep_username_index()

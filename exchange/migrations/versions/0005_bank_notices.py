"""Bank notices, idempotent by txn_id.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bank_notices",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("txn_id", sa.String(64), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_bank_notices"),
        sa.UniqueConstraint("txn_id", name="uq_bank_notices_txn_id"),
    )


def downgrade() -> None:
    op.drop_table("bank_notices")

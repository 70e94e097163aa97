"""Issue 20's transparency log: its leaves (``transparency_entries``) and its signed tree heads
(``transparency_tree_heads``), ``exchange.transparency.models``.

A leaf's ``(kind, subject)`` is unique, so two instances never log one thing twice; its index is
its primary key, so they never give two leaves one place in the tree. A head is signed at every
interval, grown or not, and kept by ``(tree_size, timestamp)``; ``transparency_covered`` lists the
registry movements each ``registry_day`` leaf took in.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "transparency_entries",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
        sa.Column("logged_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("leaf_index", name="pk_transparency_entries"),
        sa.UniqueConstraint("kind", "subject", name="uq_transparency_entries_kind_subject"),
    )
    op.create_table(
        "transparency_tree_heads",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("timestamp", TS, nullable=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        sa.Column("signature", JSON, nullable=False),
        sa.PrimaryKeyConstraint("tree_size", "timestamp", name="pk_transparency_tree_heads"),
    )
    op.create_table(
        "transparency_covered",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("item", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "item", name="pk_transparency_covered"),
    )


def downgrade() -> None:
    op.drop_table("transparency_covered")
    op.drop_table("transparency_tree_heads")
    op.drop_table("transparency_entries")

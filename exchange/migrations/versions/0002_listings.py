"""Listings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "listings",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("asset_class", sa.String(32), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("region", sa.String(100), nullable=True),
        sa.Column("start_price", sa.BigInteger(), nullable=False),
        sa.Column("increment", sa.BigInteger(), nullable=False),
        sa.Column("deposit", sa.BigInteger(), nullable=False),
        sa.Column("reserve_price", sa.BigInteger(), nullable=True),
        sa.Column("price_cap", sa.BigInteger(), nullable=True),
        sa.Column("method_params", JSON, nullable=False),
        sa.Column("announce_at", TS, nullable=False),
        sa.Column("registration_opens_at", TS, nullable=False),
        sa.Column("registration_closes_at", TS, nullable=False),
        sa.Column("bidding_opens_at", TS, nullable=False),
        sa.Column("bidding_closes_at", TS, nullable=False),
        sa.Column("extension_seconds", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("suspended_from", sa.String(16), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("seed", sa.String(64), nullable=True),
        sa.Column("seed_commitment", sa.String(64), nullable=True),
        sa.Column("created_by", BIGID, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("published_at", TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'announced', 'registration', 'bidding', 'closed', 'failed', "
            "'cancelled', 'suspended')",
            name="ck_listings_status",
        ),
        sa.CheckConstraint("start_price >= 0 AND increment > 0 AND deposit >= 0", name="ck_listings_money"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name="fk_listings_created_by_users"),
        sa.PrimaryKeyConstraint("id", name="pk_listings"),
    )
    op.create_index("ix_listings_catalogue", "listings", ["status", "asset_class"])


def downgrade() -> None:
    op.drop_index("ix_listings_catalogue", table_name="listings")
    op.drop_table("listings")

"""Auctions, their gapless event log and bids.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "auctions",
        sa.Column("listing_id", BIGID, nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.Column("ends_at", TS, nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("bid_count", sa.Integer(), nullable=False),
        sa.Column("outcome", JSON, nullable=True),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["listing_id"], ["listings.id"], name="fk_auctions_listing_id_listings"),
        sa.PrimaryKeyConstraint("listing_id", name="pk_auctions"),
    )
    op.create_index("ix_auctions_open_ends_at", "auctions", ["status", "ends_at"])
    op.create_table(
        "auction_events",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("listing_id", BIGID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["auctions.listing_id"], name="fk_auction_events_listing_id_auctions"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_auction_events"),
        sa.UniqueConstraint("listing_id", "seq", name="uq_auction_events_listing_id_seq"),
    )
    op.create_table(
        "bids",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("listing_id", BIGID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("bidder_id", BIGID, nullable=False),
        sa.Column("bid_number", sa.String(8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=True),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("accepted_at", TS, nullable=False),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["listing_id"], ["auctions.listing_id"], name="fk_bids_listing_id_auctions"),
        sa.ForeignKeyConstraint(["bidder_id"], ["users.id"], name="fk_bids_bidder_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_bids"),
        sa.UniqueConstraint("listing_id", "seq", name="uq_bids_listing_id_seq"),
        sa.UniqueConstraint(
            "listing_id", "bidder_id", "idempotency_key", name="uq_bids_listing_id_bidder_id_idempotency_key"
        ),
    )


def downgrade() -> None:
    op.drop_table("bids")
    op.drop_table("auction_events")
    op.drop_table("auctions")

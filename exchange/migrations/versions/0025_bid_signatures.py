"""Bids signed by their bidders (issue 20): the bidders' keys, the listing's policy, the bid's signature.

- ``bidder_keys``: a bidder's public keys (ES256 or Ed25519, SPKI in base64), named by ``kid``
  (unique in the exchange), each for one listing (``listing_id``: a key shared by listings would
  link a losing bidder's bid numbers across them), revoked but never deleted
  (``exchange.identity.keys``).
- ``listings.bid_signatures``: ``none`` (the default, every listing before this one),
  ``optional`` or ``required`` (``auctions.bid_signatures``).
- ``bids.signature``: the signature block a bid was accepted with and the ``last_seq`` it
  signed, NULL for an unsigned bid.

Nullable or defaulted columns only: no table rebuild on SQLite.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bidder_keys",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("user_id", BIGID, nullable=False),
        sa.Column("listing_id", BIGID, nullable=False),
        sa.Column("kid", sa.String(32), nullable=False),
        sa.Column("algorithm", sa.String(8), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("label", sa.String(100), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.CheckConstraint("algorithm IN ('ES256', 'Ed25519')", name="ck_bidder_keys_algorithm"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_bidder_keys_user_id_users"),
        sa.ForeignKeyConstraint(["listing_id"], ["listings.id"], name="fk_bidder_keys_listing_id_listings"),
        sa.PrimaryKeyConstraint("id", name="pk_bidder_keys"),
        sa.UniqueConstraint("kid", name="uq_bidder_keys_kid"),
    )
    op.create_index("ix_bidder_keys_user_id", "bidder_keys", ["user_id", "listing_id"])
    op.add_column(
        "listings", sa.Column("bid_signatures", sa.String(8), nullable=False, server_default="none")
    )
    op.add_column("bids", sa.Column("signature", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bids") as batch:
        batch.drop_column("signature")
    with op.batch_alter_table("listings") as batch:
        batch.drop_column("bid_signatures")
    op.drop_index("ix_bidder_keys_user_id", table_name="bidder_keys")
    op.drop_table("bidder_keys")

"""Bidder applications and their documents.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("listing_id", BIGID, nullable=False),
        sa.Column("bidder_id", BIGID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("deposit_account", sa.String(32), nullable=False),
        sa.Column("deposit_due", sa.BigInteger(), nullable=False),
        sa.Column("bid_number", sa.String(8), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", BIGID, nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("paid_in_full_at", TS, nullable=True),
        sa.Column("qualified_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'qualified', 'closed')",
            name="ck_applications_status",
        ),
        sa.ForeignKeyConstraint(["listing_id"], ["listings.id"], name="fk_applications_listing_id_listings"),
        sa.ForeignKeyConstraint(["bidder_id"], ["users.id"], name="fk_applications_bidder_id_users"),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], name="fk_applications_decided_by_users"),
        sa.PrimaryKeyConstraint("id", name="pk_applications"),
        sa.UniqueConstraint("listing_id", "bidder_id", name="uq_applications_listing_id_bidder_id"),
        sa.UniqueConstraint("deposit_account", name="uq_applications_deposit_account"),
        sa.UniqueConstraint("listing_id", "bid_number", name="uq_applications_listing_id_bid_number"),
    )
    op.create_index("ix_applications_listing_id", "applications", ["listing_id"])
    op.create_index("ix_applications_bidder_id", "applications", ["bidder_id"])
    op.create_table(
        "application_documents",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("application_id", BIGID, nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name="fk_application_documents_application_id_applications",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_application_documents"),
    )
    op.create_index("ix_application_documents_application_id", "application_documents", ["application_id"])


def downgrade() -> None:
    op.drop_table("application_documents")
    op.drop_table("applications")

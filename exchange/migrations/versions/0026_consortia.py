"""Joint bidding (联合竞买, issue 20 item 5): the members of a consortium's application.

One row per party, the lead among them, with its credit code, name, share in basis points and
whether it confirmed (``listings.consortia``). A new table: nothing existing is rebuilt.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consortium_members",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("application_id", BIGID, nullable=False),
        sa.Column("listing_id", BIGID, nullable=False),
        sa.Column("credit_code", sa.String(18), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("share_bp", sa.Integer(), nullable=False),
        sa.Column("lead", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("user_id", BIGID, nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('invited', 'confirmed', 'refused', 'lapsed')", name="ck_consortium_members_status"
        ),
        sa.CheckConstraint("share_bp > 0 AND share_bp < 10000", name="ck_consortium_members_share_bp"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name="fk_consortium_members_application_id_applications",
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["listings.id"], name="fk_consortium_members_listing_id_listings"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_consortium_members_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_consortium_members"),
        sa.UniqueConstraint(
            "application_id", "credit_code", name="uq_consortium_members_application_id_credit_code"
        ),
    )
    op.create_index("ix_consortium_members_application_id", "consortium_members", ["application_id"])
    op.create_index("ix_consortium_members_listing_id", "consortium_members", ["listing_id"])
    op.create_index("ix_consortium_members_credit_code", "consortium_members", ["credit_code"])


def downgrade() -> None:
    op.drop_table("consortium_members")

"""公示 and objections (异议) on results: the objections and their attachments.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "objections",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("listing_id", BIGID, nullable=False),
        sa.Column("filed_by", BIGID, nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", BIGID, nullable=True),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("resolution_reason", sa.Text(), nullable=True),
        sa.Column("resolved_by", BIGID, nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('filed', 'dismissed', 'upheld', 'stands', 'annulled')", name="ck_objections_status"
        ),
        sa.ForeignKeyConstraint(["listing_id"], ["listings.id"], name="fk_objections_listing_id_listings"),
        sa.ForeignKeyConstraint(["filed_by"], ["users.id"], name="fk_objections_filed_by_users"),
        sa.ForeignKeyConstraint(["answered_by"], ["users.id"], name="fk_objections_answered_by_users"),
        sa.ForeignKeyConstraint(["resolved_by"], ["users.id"], name="fk_objections_resolved_by_users"),
        sa.PrimaryKeyConstraint("id", name="pk_objections"),
    )
    op.create_index("ix_objections_listing_id_status", "objections", ["listing_id", "status"])
    op.create_index("ix_objections_filed_by", "objections", ["filed_by"])
    op.create_table(
        "objection_attachments",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("objection_id", BIGID, nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["objection_id"], ["objections.id"], name="fk_objection_attachments_objection_id_objections"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_objection_attachments"),
    )
    op.create_index("ix_objection_attachments_objection_id", "objection_attachments", ["objection_id"])


def downgrade() -> None:
    op.drop_table("objection_attachments")
    op.drop_table("objections")

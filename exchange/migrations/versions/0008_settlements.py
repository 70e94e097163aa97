"""Settlements at the close: one per listing, a line per winner, payment installments.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "settlements",
        sa.Column("listing_id", BIGID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("summary", JSON, nullable=True),
        sa.Column("relisted_listing_id", BIGID, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending_payment', 'paid', 'default', 'released')", name="ck_settlements_status"
        ),
        sa.CheckConstraint("outcome IN ('sold', 'failed', 'cancelled')", name="ck_settlements_outcome"),
        sa.ForeignKeyConstraint(["listing_id"], ["listings.id"], name="fk_settlements_listing_id_listings"),
        sa.ForeignKeyConstraint(
            ["relisted_listing_id"], ["listings.id"], name="fk_settlements_relisted_listing_id_listings"
        ),
        sa.PrimaryKeyConstraint("listing_id", name="pk_settlements"),
    )
    op.create_table(
        "settlement_lines",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("listing_id", BIGID, nullable=False),
        sa.Column("application_id", BIGID, nullable=False),
        sa.Column("bidder_id", BIGID, nullable=False),
        sa.Column("bid_number", sa.String(8), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=True),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("deposit_applied", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("amount_due", sa.BigInteger(), nullable=False),
        sa.Column("payment_account", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("paid_at", TS, nullable=True),
        sa.Column("defaulted_at", TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending_payment', 'paid', 'default')", name="ck_settlement_lines_status"
        ),
        sa.CheckConstraint(
            "price >= 0 AND fee >= 0 AND deposit_applied >= 0 AND deposit_applied <= price "
            "AND amount_due = price + fee - deposit_applied",
            name="ck_settlement_lines_money",
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["settlements.listing_id"], name="fk_settlement_lines_listing_id_settlements"
        ),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name="fk_settlement_lines_application_id_applications"
        ),
        sa.ForeignKeyConstraint(["bidder_id"], ["users.id"], name="fk_settlement_lines_bidder_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_settlement_lines"),
        sa.UniqueConstraint(
            "listing_id", "application_id", name="uq_settlement_lines_listing_id_application_id"
        ),
        sa.UniqueConstraint("payment_account", name="uq_settlement_lines_payment_account"),
    )
    op.create_index("ix_settlement_lines_listing_id", "settlement_lines", ["listing_id"])
    op.create_index("ix_settlement_lines_bidder_id", "settlement_lines", ["bidder_id"])
    op.create_table(
        "settlement_installments",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("line_id", BIGID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'paid', 'void')", name="ck_settlement_installments_status"),
        sa.CheckConstraint("amount > 0", name="ck_settlement_installments_amount"),
        sa.ForeignKeyConstraint(
            ["line_id"], ["settlement_lines.id"], name="fk_settlement_installments_line_id_settlement_lines"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_settlement_installments"),
        sa.UniqueConstraint("line_id", "seq", name="uq_settlement_installments_line_id_seq"),
    )
    op.create_index("ix_settlement_installments_line_id", "settlement_installments", ["line_id"])
    op.create_index(
        "ix_settlement_installments_status_due", "settlement_installments", ["status", "due_date"]
    )


def downgrade() -> None:
    op.drop_table("settlement_installments")
    op.drop_table("settlement_lines")
    op.drop_table("settlements")

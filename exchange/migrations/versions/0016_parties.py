"""Parties and terms on listings: the seller (出让人 / 转让方), the 文号, payment terms and the 公示 period.

Listings stored before this have no seller and no 文号 (the columns are
nullable), a 公示 of 0 working days, and no payment terms of their own
(``payment_terms`` NULL: the code reads the class default).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

_COLUMNS = (
    "seller_name",
    "seller_credit_code",
    "seller_address",
    "seller_contact",
    "announcement_number",
    "publicity_working_days",
    "payment_terms",
)


def upgrade() -> None:
    op.add_column("listings", sa.Column("seller_name", sa.String(128), nullable=True))
    op.add_column("listings", sa.Column("seller_credit_code", sa.String(18), nullable=True))
    op.add_column("listings", sa.Column("seller_address", sa.String(256), nullable=True))
    op.add_column("listings", sa.Column("seller_contact", sa.String(128), nullable=True))
    op.add_column("listings", sa.Column("announcement_number", sa.String(64), nullable=True))
    op.add_column(
        "listings", sa.Column("publicity_working_days", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("listings", sa.Column("payment_terms", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("listings") as batch:  # SQLite rebuilds the table
        for column in reversed(_COLUMNS):
            batch.drop_column(column)

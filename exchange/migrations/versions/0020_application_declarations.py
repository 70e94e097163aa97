"""The bidder's confirmation of the 竞买申请书 and 竞买承诺书 (issue 17): when the bidder confirmed
them and which version of their text it read.

Both are nullable: applications made before, and API clients that send no declarations, have none.
Adding a nullable column needs no table rebuild on SQLite.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("applications", sa.Column("declared_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("applications", sa.Column("declaration_version", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("declaration_version")
        batch.drop_column("declared_at")

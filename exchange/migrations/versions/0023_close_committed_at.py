"""When an auction's close was committed (issue 19): ``auctions.close_committed_at``.

``closed_at`` stays the moment the outcome was decided (a timed close's deadline); the new column
is the commit time of the transaction that closed the auction, so a late close shows in the data.
Nullable: auctions closed before this migration have none, open ones none yet. Adding a nullable
column needs no table rebuild on SQLite.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("auctions", sa.Column("close_committed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auctions") as batch:
        batch.drop_column("close_committed_at")

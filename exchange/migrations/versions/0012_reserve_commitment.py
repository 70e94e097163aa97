"""The reserve frozen when bidding opens and committed by hash.

Three columns of ``listings`` (``listings.reserve``): the salt (secret until
the result), the published commitment SHA-256("<reserve fen | none>:<salt>")
and when it was made. Listings that opened bidding before this revision have
no commitment; their reserve is frozen all the same (``is_frozen``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("listings") as batch:
        batch.add_column(sa.Column("reserve_salt", sa.String(64), nullable=True))
        batch.add_column(sa.Column("reserve_commitment", sa.String(64), nullable=True))
        batch.add_column(sa.Column("reserve_committed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("listings") as batch:
        batch.drop_column("reserve_committed_at")
        batch.drop_column("reserve_commitment")
        batch.drop_column("reserve_salt")

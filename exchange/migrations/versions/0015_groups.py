"""Groups of affiliated bidders: the controlling company's credit code an enterprise declares.

``users.group_code`` is nullable: an account that declares none is a group of its own.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("group_code", sa.String(18), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:  # SQLite rebuilds the table
        batch.drop_column("group_code")

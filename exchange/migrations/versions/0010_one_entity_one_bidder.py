"""One legal entity, one bidder account: credit codes and ID numbers become unique.

Refuses to run while two accounts share a code: which of them is the entity's
own is an administrator's decision, not a migration's. The error names every
shared code and its accounts; ``exchange users duplicates`` lists them again and
``exchange users detach-entity USER_ID --reason ...`` disables a surplus account
and detaches the code from it. Then ``exchange db upgrade`` continues here.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exchange.migrate import MigrationRefused

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DUPLICATES = """
SELECT u.{column} AS code, u.id, u.username, u.active
FROM users u
WHERE u.{column} IN (SELECT {column} FROM users WHERE {column} IS NOT NULL GROUP BY {column} HAVING COUNT(*) > 1)
ORDER BY u.{column}, u.id
"""


def _keep_username_index() -> None:
    """SQLite's batch mode rebuilds the table and cannot carry the expression index over."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE UNIQUE INDEX IF NOT EXISTS ix_users_username_lower ON users (lower(username))")


def upgrade() -> None:
    connection = op.get_bind()
    lines = []
    for column in ("credit_code", "id_number"):
        rows = connection.execute(sa.text(DUPLICATES.format(column=column))).all()
        lines += [
            f"  {column} {row.code}: account {row.id} '{row.username}'"
            + ("" if row.active else " (disabled)")
            for row in rows
        ]
    if lines:
        raise MigrationRefused(
            "one legal entity has several bidder accounts; an administrator must resolve this first:\n"
            + "\n".join(lines)
            + "\nlist them with `exchange users duplicates`, keep one account per entity and detach "
            "the others with `exchange users detach-entity USER_ID --reason TEXT`, then run "
            "`exchange db upgrade` again"
        )
    with op.batch_alter_table("users") as batch:
        batch.create_unique_constraint("uq_users_credit_code", ["credit_code"])
        batch.create_unique_constraint("uq_users_id_number", ["id_number"])
    _keep_username_index()


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_id_number", type_="unique")
        batch.drop_constraint("uq_users_credit_code", type_="unique")
    _keep_username_index()

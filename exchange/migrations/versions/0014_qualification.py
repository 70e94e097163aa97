"""Post-qualification: a listing's qualification mode, and a settlement waiting for its winner's review.

``listings.qualification`` is ``pre`` (资格前审) or ``post`` (资格后审); every listing before
this revision was qualified before bidding, hence the default. A settlement may now be in
``review``: under post-qualification a sale waits there until its winner is reviewed.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.sql.elements import conv

from exchange.migrate import MigrationRefused

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

STATUSES = ("pending_payment", "paid", "default", "released")
WITH_REVIEW = ("review", *STATUSES)


def _status_check() -> str:
    """The settlements' status constraint as the database names it (0008 let the convention name it)."""
    checks = sa.inspect(op.get_bind()).get_check_constraints("settlements")
    (name,) = [c["name"] for c in checks if c["name"] and c["name"].endswith("_status")]
    return str(name)


def _replace_status_check(statuses: tuple[str, ...]) -> None:
    name = _status_check()
    allowed = ", ".join(f"'{s}'" for s in statuses)
    with op.batch_alter_table("settlements") as batch:  # SQLite rebuilds the table
        batch.drop_constraint(conv(name), type_="check")
        batch.create_check_constraint(conv(name), f"status IN ({allowed})")


def upgrade() -> None:
    op.add_column("listings", sa.Column("qualification", sa.String(8), server_default="pre", nullable=False))
    _replace_status_check(WITH_REVIEW)


def downgrade() -> None:
    waiting = op.get_bind().execute(sa.text("SELECT listing_id FROM settlements WHERE status = 'review'"))
    listings = [str(row.listing_id) for row in waiting]
    if listings:
        raise MigrationRefused(
            "winners are still under review (资格后审) in listings "
            + ", ".join(listings)
            + "; an operator reviews them first"
        )
    _replace_status_check(STATUSES)
    with op.batch_alter_table("listings") as batch:
        batch.drop_column("qualification")

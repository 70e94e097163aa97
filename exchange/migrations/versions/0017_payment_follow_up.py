"""Payment follow-up: 公示 and confirmation, contract signing, late fees, reminders, rescission,
in-app notices and tracked collection (issue 16).

- ``settlements``: ``publicity_starts_at``, ``publicity_ends_at``, ``confirmed_at``, ``contract_due_on``,
  ``contract_signed_on``, ``annulled_reason``; statuses ``publicity``, ``on_hold``,
  ``awaiting_contract``, ``rescinded``, ``annulled`` (``default`` stays readable for old rows).
- ``settlement_lines``: ``rescission_proposed_at``, ``rescinded_at``, ``forfeited``, ``late_fees``,
  ``terms``; statuses ``rescinded`` and ``annulled``.
- ``settlement_installments``: ``interest`` (included in ``amount``).
- New tables ``payment_reminders``, ``notices``, ``collection_notices``.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import conv

from exchange.migrate import MigrationRefused

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)

OLD_SETTLEMENT = ("review", "pending_payment", "paid", "default", "released")
NEW_SETTLEMENT = (
    "review",
    "publicity",
    "on_hold",
    "awaiting_contract",
    "pending_payment",
    "paid",
    "rescinded",
    "default",
    "annulled",
    "released",
)
OLD_LINE = ("pending_payment", "paid", "default")
NEW_LINE = ("pending_payment", "paid", "rescinded", "default", "annulled")


def _replace_status_check(table: str, statuses: tuple[str, ...]) -> None:
    checks = sa.inspect(op.get_bind()).get_check_constraints(table)
    (name,) = [c["name"] for c in checks if c["name"] and c["name"].endswith("_status")]
    allowed = ", ".join(f"'{s}'" for s in statuses)
    with op.batch_alter_table(table) as batch:  # SQLite rebuilds the table
        batch.drop_constraint(conv(name), type_="check")
        batch.create_check_constraint(conv(name), f"status IN ({allowed})")


def upgrade() -> None:
    with op.batch_alter_table("settlements") as batch:
        batch.add_column(sa.Column("publicity_starts_at", TS, nullable=True))
        batch.add_column(sa.Column("publicity_ends_at", TS, nullable=True))
        batch.add_column(sa.Column("confirmed_at", TS, nullable=True))
        batch.add_column(sa.Column("contract_due_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("contract_signed_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("annulled_reason", sa.Text(), nullable=True))
        batch.alter_column(
            "status", type_=sa.String(24), existing_type=sa.String(16), existing_nullable=False
        )
    _replace_status_check("settlements", NEW_SETTLEMENT)
    # A sale settled before the 公示 existed was confirmed at its close: its confirmation (and, once
    # paid, its certificate) is due, as it was then. One under review opens its 公示 when reviewed.
    op.execute(
        "UPDATE settlements SET confirmed_at = created_at, publicity_starts_at = created_at, "
        "publicity_ends_at = created_at WHERE outcome = 'sold' AND status <> 'review'"
    )
    with op.batch_alter_table("settlement_lines") as batch:
        batch.add_column(sa.Column("rescission_proposed_at", TS, nullable=True))
        batch.add_column(sa.Column("rescinded_at", TS, nullable=True))
        batch.add_column(sa.Column("forfeited", sa.BigInteger(), server_default="0", nullable=False))
        batch.add_column(sa.Column("late_fees", sa.BigInteger(), server_default="0", nullable=False))
        batch.add_column(sa.Column("terms", JSON, nullable=True))
    _replace_status_check("settlement_lines", NEW_LINE)
    with op.batch_alter_table("settlement_installments") as batch:
        batch.add_column(sa.Column("interest", sa.BigInteger(), server_default="0", nullable=False))
    op.create_table(
        "payment_reminders",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("listing_id", BIGID, nullable=False),
        sa.Column("application_id", BIGID, nullable=False),
        sa.Column("line_id", BIGID, nullable=False),
        sa.Column("installment_seq", sa.Integer(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("overdue_amount", sa.BigInteger(), nullable=False),
        sa.Column("late_fee_accrued", sa.BigInteger(), nullable=False),
        sa.Column("days_overdue", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("kind IN ('reminder', 'rescission_proposed')", name="ck_payment_reminders_kind"),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["listings.id"], name="fk_payment_reminders_listing_id_listings"
        ),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name="fk_payment_reminders_application_id_applications"
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["settlement_lines.id"], name="fk_payment_reminders_line_id_settlement_lines"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_payment_reminders"),
        sa.UniqueConstraint(
            "line_id",
            "installment_seq",
            "issued_on",
            name="uq_payment_reminders_line_id_installment_seq_issued_on",
        ),
    )
    op.create_index("ix_payment_reminders_listing_id", "payment_reminders", ["listing_id"])
    op.create_index("ix_payment_reminders_line_id", "payment_reminders", ["line_id"])
    op.create_table(
        "notices",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("user_id", BIGID, nullable=False),
        sa.Column("listing_id", BIGID, nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("read_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_notices_user_id_users"),
        sa.ForeignKeyConstraint(["listing_id"], ["listings.id"], name="fk_notices_listing_id_listings"),
        sa.PrimaryKeyConstraint("id", name="pk_notices"),
    )
    op.create_index("ix_notices_user_id", "notices", ["user_id"])
    op.create_table(
        "collection_notices",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("listing_id", BIGID, nullable=False),
        sa.Column("application_id", BIGID, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("authority", sa.String(128), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("raw", JSON, nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_collection_notices_amount"),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["listings.id"], name="fk_collection_notices_listing_id_listings"
        ),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name="fk_collection_notices_application_id_applications"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_collection_notices"),
        sa.UniqueConstraint("reference", name="uq_collection_notices_reference"),
    )
    op.create_index("ix_collection_notices_listing_id", "collection_notices", ["listing_id"])


def downgrade() -> None:
    bind = op.get_bind()
    new = bind.execute(
        sa.text(
            "SELECT listing_id FROM settlements WHERE status IN "
            "('publicity', 'on_hold', 'awaiting_contract', 'rescinded', 'annulled')"
        )
    )
    listings = [str(row.listing_id) for row in new]
    if listings:
        raise MigrationRefused(
            "settlements of listings " + ", ".join(listings) + " are in statuses revision 0016 does not know"
        )
    op.drop_index("ix_collection_notices_listing_id", table_name="collection_notices")
    op.drop_table("collection_notices")
    op.drop_index("ix_notices_user_id", table_name="notices")
    op.drop_table("notices")
    op.drop_index("ix_payment_reminders_line_id", table_name="payment_reminders")
    op.drop_index("ix_payment_reminders_listing_id", table_name="payment_reminders")
    op.drop_table("payment_reminders")
    with op.batch_alter_table("settlement_installments") as batch:
        batch.drop_column("interest")
    _replace_status_check("settlement_lines", OLD_LINE)
    with op.batch_alter_table("settlement_lines") as batch:
        for column in ("terms", "late_fees", "forfeited", "rescinded_at", "rescission_proposed_at"):
            batch.drop_column(column)
    _replace_status_check("settlements", OLD_SETTLEMENT)
    with op.batch_alter_table("settlements") as batch:
        batch.alter_column(
            "status", type_=sa.String(16), existing_type=sa.String(24), existing_nullable=False
        )
        for column in (
            "annulled_reason",
            "contract_signed_on",
            "contract_due_on",
            "confirmed_at",
            "publicity_ends_at",
            "publicity_starts_at",
        ):
            batch.drop_column(column)

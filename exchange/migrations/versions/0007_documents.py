"""Documents: issued PDFs with their SHA-256, one per idempotency key.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)
KINDS = ("listing_announcement", "result_announcement", "confirmation", "bid_record", "refund_notice")
FROZEN = (
    "id",
    "listing_id",
    "kind",
    "key",
    "sha256",
    "size",
    "pdf",
    "title",
    "metadata",
    "audit_head",
    "created_at",
)


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("listing_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
        sa.Column("audit_head", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in KINDS) + ")", name="ck_documents_kind"),
        sa.CheckConstraint("size > 0", name="ck_documents_size"),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
        sa.UniqueConstraint("key", name="uq_documents_key"),
        sa.UniqueConstraint("sha256", name="uq_documents_sha256"),
    )
    op.create_index("ix_documents_listing_id", "documents", ["listing_id"])
    _freeze_documents()


def _freeze_documents() -> None:
    """An issued document never changes or disappears; only ``public`` (and ``owner_id``) may be set later."""
    if op.get_bind().dialect.name == "postgresql":
        changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in FROZEN)
        op.execute(
            "CREATE FUNCTION documents_frozen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'documents are never deleted'; END IF; "
            f"IF {changed} THEN RAISE EXCEPTION 'an issued document never changes'; END IF; "
            "RETURN NEW; END $$"
        )
        op.execute(
            "CREATE TRIGGER documents_frozen BEFORE UPDATE OR DELETE ON documents "
            "FOR EACH ROW EXECUTE FUNCTION documents_frozen()"
        )
    else:
        op.execute(
            "CREATE TRIGGER documents_no_delete BEFORE DELETE ON documents "
            "BEGIN SELECT RAISE(ABORT, 'documents are never deleted'); END"
        )
        op.execute(
            "CREATE TRIGGER documents_no_change BEFORE UPDATE OF "
            + ", ".join(FROZEN)
            + " ON documents BEGIN SELECT RAISE(ABORT, 'an issued document never changes'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS documents_frozen ON documents")
        op.execute("DROP FUNCTION IF EXISTS documents_frozen()")
    op.drop_index("ix_documents_listing_id", table_name="documents")
    op.drop_table("documents")

"""Documents of issue 16: 催缴通知书, 异议处理决定书 and 交易鉴证书 join the allowed kinds, and every
document gets a number people read (``number``, 文件编号: ``2026-00042-QR-317``).

The kind check of ``documents`` is widened. SQLite cannot alter a check constraint: the table is
rebuilt (batch mode), and its triggers, which a rebuild drops, are created again. ``number`` is
unique and frozen like the content; documents issued before it printed their key as their
number, so that is what they get.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

OLD = ("listing_announcement", "result_announcement", "confirmation", "bid_record", "refund_notice")
NEW = (*OLD, "payment_reminder", "objection_decision", "transaction_certificate")
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
NUMBERED = (*FROZEN, "number")


def _check(kinds: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _freeze_pg(columns: tuple[str, ...]) -> None:
    changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in columns)
    op.execute(
        "CREATE OR REPLACE FUNCTION documents_frozen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'documents are never deleted'; END IF; "
        f"IF {changed} THEN RAISE EXCEPTION 'an issued document never changes'; END IF; "
        "RETURN NEW; END $$"
    )


def _freeze_sqlite(columns: tuple[str, ...]) -> None:
    op.execute(
        "CREATE TRIGGER documents_no_delete BEFORE DELETE ON documents "
        "BEGIN SELECT RAISE(ABORT, 'documents are never deleted'); END"
    )
    op.execute(
        "CREATE TRIGGER documents_no_change BEFORE UPDATE OF "
        + ", ".join(columns)
        + " ON documents BEGIN SELECT RAISE(ABORT, 'an issued document never changes'); END"
    )


def _thaw_sqlite() -> None:
    op.execute("DROP TRIGGER IF EXISTS documents_no_delete")
    op.execute("DROP TRIGGER IF EXISTS documents_no_change")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("ck_documents_kind", "documents", type_="check")
        op.create_check_constraint("ck_documents_kind", "documents", _check(NEW))
        op.add_column("documents", sa.Column("number", sa.String(200), nullable=True))
        op.execute("UPDATE documents SET number = key")
        op.alter_column("documents", "number", nullable=False)
        op.create_unique_constraint("uq_documents_number", "documents", ["number"])
        _freeze_pg(NUMBERED)
        return
    _thaw_sqlite()
    with op.batch_alter_table("documents", recreate="always") as batch:
        batch.drop_constraint("ck_documents_kind", type_="check")
        batch.create_check_constraint("ck_documents_kind", _check(NEW))
        batch.add_column(sa.Column("number", sa.String(200), nullable=True))
    op.execute("UPDATE documents SET number = key")
    with op.batch_alter_table("documents", recreate="always") as batch:
        batch.alter_column("number", existing_type=sa.String(200), nullable=False)
        batch.create_unique_constraint("uq_documents_number", ["number"])
    _freeze_sqlite(NUMBERED)


def downgrade() -> None:
    # Documents are never deleted: with a document of a new kind stored, the narrower check fails
    # and the downgrade stops, as it should.
    if op.get_bind().dialect.name == "postgresql":
        _freeze_pg(FROZEN)
        op.drop_constraint("uq_documents_number", "documents", type_="unique")
        op.drop_column("documents", "number")
        op.drop_constraint("ck_documents_kind", "documents", type_="check")
        op.create_check_constraint("ck_documents_kind", "documents", _check(OLD))
        return
    _thaw_sqlite()
    with op.batch_alter_table("documents", recreate="always") as batch:
        batch.drop_constraint("uq_documents_number", type_="unique")
        batch.drop_column("number")
        batch.drop_constraint("ck_documents_kind", type_="check")
        batch.create_check_constraint("ck_documents_kind", _check(OLD))
    _freeze_sqlite(FROZEN)

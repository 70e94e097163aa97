"""Documents of issue 18: the registry's 交割单 (``delivery_record``) and 交易凭证
(``registry_certificate``) join the allowed kinds.

The green account statement is not stored: it changes with every movement, so it is rendered on
demand. ``listing_id`` is nullable already (a negotiated transfer has no listing). SQLite cannot
alter a check constraint: the table is rebuilt (batch mode) and its triggers, which a rebuild
drops, are created again, as in 0019.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

OLD = (
    "listing_announcement",
    "result_announcement",
    "confirmation",
    "bid_record",
    "refund_notice",
    "payment_reminder",
    "objection_decision",
    "transaction_certificate",
)
NEW = (*OLD, "delivery_record", "registry_certificate")
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
    "number",
)


def _check(kinds: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _freeze_sqlite() -> None:
    op.execute(
        "CREATE TRIGGER documents_no_delete BEFORE DELETE ON documents "
        "BEGIN SELECT RAISE(ABORT, 'documents are never deleted'); END"
    )
    op.execute(
        "CREATE TRIGGER documents_no_change BEFORE UPDATE OF "
        + ", ".join(FROZEN)
        + " ON documents BEGIN SELECT RAISE(ABORT, 'an issued document never changes'); END"
    )


def _widen(kinds: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        # the trigger function checks columns, not kinds: it stays as 0019 left it
        op.drop_constraint("ck_documents_kind", "documents", type_="check")
        op.create_check_constraint("ck_documents_kind", "documents", _check(kinds))
        return
    op.execute("DROP TRIGGER IF EXISTS documents_no_delete")
    op.execute("DROP TRIGGER IF EXISTS documents_no_change")
    with op.batch_alter_table("documents", recreate="always") as batch:
        batch.drop_constraint("ck_documents_kind", type_="check")
        batch.create_check_constraint("ck_documents_kind", _check(kinds))
    _freeze_sqlite()


def upgrade() -> None:
    _widen(NEW)


def downgrade() -> None:
    # Documents are never deleted: with a registry document stored, the narrower check fails and
    # the downgrade stops, as it should.
    _widen(OLD)

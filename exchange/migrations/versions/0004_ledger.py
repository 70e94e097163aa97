"""The double-entry ledger and refund instructions.

What the database itself enforces (the code enforces all of it too):

PostgreSQL
  - ``ledger_entries.amount <> 0`` (CHECK) and one unique ``reference`` per transaction.
  - Accounts, transactions and entries are append-only: a BEFORE UPDATE OR
    DELETE trigger refuses any change (TRUNCATE, used by the tests, is not a
    row operation and is not refused).
  - Every transaction balances: a deferred constraint trigger
    (``DEFERRABLE INITIALLY DEFERRED``) on both ``ledger_entries`` and
    ``ledger_transactions`` checks at COMMIT that the transaction has at
    least two entries summing to zero, so raw SQL cannot commit an
    unbalanced or empty transaction, nor add a leg to an old one.
  - A refund instruction is never deleted; it changes only from ``pending``
    to ``paid`` (once), and only its payment fields and payee may change.

SQLite (the embedded default)
  - The same CHECKs, unique references and append-only / refund triggers.
  - SQLite has no deferred triggers: a row trigger fires at each INSERT,
    before the other legs exist, so the balance of a transaction cannot be
    checked by the database. It is enforced by ``settlement.double_entry.post``,
    and ``unbalanced_transactions()`` verifies it after the fact. What the
    database does refuse is an entry for any transaction but the newest
    one, so a committed (balanced) transaction cannot be unbalanced later by
    appending a leg; writers are serialised by ``BEGIN IMMEDIATE``, so the
    newest transaction is the one being written.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)

APPEND_ONLY = ("ledger_accounts", "ledger_transactions", "ledger_entries")


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("code", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("owner_id", BIGID, nullable=True),
        sa.Column("application_id", BIGID, nullable=True),
        sa.Column("listing_id", BIGID, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "kind IN ('bank_clearing', 'suspense', 'refunds_payable', 'fee_revenue', 'deposit', "
            "'seller_payable', 'receivable')",
            name="ck_ledger_accounts_kind",
        ),
        sa.CheckConstraint(
            "kind <> 'deposit' OR application_id IS NOT NULL", name="ck_ledger_accounts_deposit_application"
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name="fk_ledger_accounts_owner_id_users"),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name="fk_ledger_accounts_application_id_applications"
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["listings.id"], name="fk_ledger_accounts_listing_id_listings"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_accounts"),
        sa.UniqueConstraint("code", name="uq_ledger_accounts_code"),
    )
    op.create_index("ix_ledger_accounts_owner_id", "ledger_accounts", ["owner_id"])
    op.create_index("ix_ledger_accounts_application_id", "ledger_accounts", ["application_id"])
    op.create_index("ix_ledger_accounts_listing_id", "ledger_accounts", ["listing_id"])

    op.create_table(
        "ledger_transactions",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("listing_id", BIGID, nullable=True),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["listings.id"], name="fk_ledger_transactions_listing_id_listings"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_transactions"),
        sa.UniqueConstraint("reference", name="uq_ledger_transactions_reference"),
    )
    op.create_index("ix_ledger_transactions_listing_id", "ledger_transactions", ["listing_id"])

    op.create_table(
        "ledger_entries",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("transaction_id", BIGID, nullable=False),
        sa.Column("account_id", BIGID, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount <> 0", name="ck_ledger_entries_nonzero"),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name="fk_ledger_entries_transaction_id_ledger_transactions",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name="fk_ledger_entries_account_id_ledger_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
    )
    op.create_index("ix_ledger_entries_transaction_id", "ledger_entries", ["transaction_id"])
    op.create_index("ix_ledger_entries_account_id", "ledger_entries", ["account_id"])

    op.create_table(
        "refund_instructions",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("application_id", BIGID, nullable=True),
        sa.Column("source_reference", sa.String(200), nullable=True),
        sa.Column("payee_account", sa.String(200), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("paid_at", TS, nullable=True),
        sa.Column("paid_reference", sa.String(200), nullable=True),
        sa.Column("transaction_id", BIGID, nullable=False),
        sa.Column("paid_transaction_id", BIGID, nullable=True),
        sa.CheckConstraint("amount > 0", name="ck_refund_instructions_amount"),
        sa.CheckConstraint("status IN ('pending', 'paid')", name="ck_refund_instructions_status"),
        sa.CheckConstraint(
            "(status = 'pending' AND paid_at IS NULL AND paid_reference IS NULL "
            "AND paid_transaction_id IS NULL) OR (status = 'paid' AND paid_at IS NOT NULL "
            "AND paid_reference IS NOT NULL AND paid_transaction_id IS NOT NULL)",
            name="ck_refund_instructions_payment",
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name="fk_refund_instructions_application_id_applications",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name="fk_refund_instructions_transaction_id_ledger_transactions",
        ),
        sa.ForeignKeyConstraint(
            ["paid_transaction_id"],
            ["ledger_transactions.id"],
            name="fk_refund_instructions_paid_transaction_id_ledger_transactions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_refund_instructions"),
        sa.UniqueConstraint("transaction_id", name="uq_refund_instructions_transaction_id"),
        sa.UniqueConstraint("paid_reference", name="uq_refund_instructions_paid_reference"),
    )
    op.create_index("ix_refund_instructions_application_id", "refund_instructions", ["application_id"])
    op.create_index("ix_refund_instructions_status_due", "refund_instructions", ["status", "due_date"])

    if op.get_bind().dialect.name == "postgresql":
        _postgresql_rules()
    else:
        _sqlite_rules()


def _postgresql_rules() -> None:
    op.execute(
        "CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
        )
    # Fired at COMMIT once per inserted row (entries and transactions alike).
    op.execute(
        """
        CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            txn bigint;
            legs bigint;
            total numeric;
        BEGIN
            IF TG_TABLE_NAME = 'ledger_entries' THEN
                txn := NEW.transaction_id;
            ELSE
                txn := NEW.id;
            END IF;
            SELECT count(*), coalesce(sum(amount), 0) INTO legs, total
                FROM ledger_entries WHERE transaction_id = txn;
            IF legs < 2 OR total <> 0 THEN
                RAISE EXCEPTION 'ledger transaction % is unbalanced: % entries summing to %',
                    txn, legs, total USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END $$
        """
    )
    for table in ("ledger_entries", "ledger_transactions"):
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {table}_balanced AFTER INSERT ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced()"
        )
    op.execute(
        """
        CREATE FUNCTION refund_instructions_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'refund instructions are never deleted';
            END IF;
            IF OLD.status <> 'pending' THEN
                RAISE EXCEPTION 'refund instruction % is already paid', OLD.id;
            END IF;
            IF NEW.id <> OLD.id OR NEW.amount <> OLD.amount OR NEW.due_date <> OLD.due_date
                OR NEW.transaction_id <> OLD.transaction_id OR NEW.created_at <> OLD.created_at
                OR NEW.application_id IS DISTINCT FROM OLD.application_id
                OR NEW.source_reference IS DISTINCT FROM OLD.source_reference THEN
                RAISE EXCEPTION 'only the payment of refund instruction % may be recorded', OLD.id;
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER refund_instructions_guard BEFORE UPDATE OR DELETE ON refund_instructions "
        "FOR EACH ROW EXECUTE FUNCTION refund_instructions_guard()"
    )


def _sqlite_rules() -> None:
    for table in APPEND_ONLY:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
    op.execute(
        "CREATE TRIGGER ledger_entries_newest_transaction BEFORE INSERT ON ledger_entries "
        "WHEN NEW.transaction_id IS NOT (SELECT max(id) FROM ledger_transactions) "
        "BEGIN SELECT RAISE(ABORT, 'ledger entries belong to the transaction being written'); END"
    )
    op.execute(
        "CREATE TRIGGER refund_instructions_no_delete BEFORE DELETE ON refund_instructions "
        "BEGIN SELECT RAISE(ABORT, 'refund instructions are never deleted'); END"
    )
    op.execute(
        "CREATE TRIGGER refund_instructions_paid_final BEFORE UPDATE ON refund_instructions "
        "WHEN OLD.status <> 'pending' "
        "BEGIN SELECT RAISE(ABORT, 'refund instruction is already paid'); END"
    )
    op.execute(
        "CREATE TRIGGER refund_instructions_fixed BEFORE UPDATE ON refund_instructions "
        "WHEN NEW.id IS NOT OLD.id OR NEW.amount IS NOT OLD.amount OR NEW.due_date IS NOT OLD.due_date "
        "OR NEW.transaction_id IS NOT OLD.transaction_id OR NEW.created_at IS NOT OLD.created_at "
        "OR NEW.application_id IS NOT OLD.application_id "
        "OR NEW.source_reference IS NOT OLD.source_reference "
        "BEGIN SELECT RAISE(ABORT, 'only the payment of a refund instruction may be recorded'); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS refund_instructions_guard ON refund_instructions")
        for table in ("ledger_entries", "ledger_transactions"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_balanced ON {table}")
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.drop_table("refund_instructions")
    op.drop_table("ledger_entries")
    op.drop_table("ledger_transactions")
    op.drop_table("ledger_accounts")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS refund_instructions_guard()")
        op.execute("DROP FUNCTION IF EXISTS ledger_check_balanced()")
        op.execute("DROP FUNCTION IF EXISTS ledger_append_only()")

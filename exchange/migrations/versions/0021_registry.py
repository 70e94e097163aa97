"""The rights registry (issue 18): holders, instruments, the quantity ledger, offers, agreements,
deliveries, pledges, obligations and surrenders; and the role ``registrar``.

The quantity ledger gets what migration 0004 gave the money ledger:

PostgreSQL
  - ``registry_entries.amount <> 0`` (CHECK) and one unique ``reference`` per transaction.
  - Accounts, transactions and entries are append-only (a BEFORE UPDATE OR DELETE trigger).
  - Every transaction balances: a deferred constraint trigger checks at COMMIT that it has at
    least two entries summing to zero, all on accounts of the transaction's instrument.

SQLite
  - The same CHECKs, unique references and append-only triggers; an entry may only be written
    for the newest transaction (writers are serialised by ``BEGIN IMMEDIATE``), so a committed
    transaction cannot be unbalanced later. Balance is enforced by ``settlement.double_entry``.

``users.role`` admits ``registrar``: the authority's staff who issue, allocate, verify and
approve. SQLite cannot alter a check constraint: ``users`` is rebuilt (it has no triggers; its
expression index on ``lower(username)`` is created again, as in 0010).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)

APPEND_ONLY = ("registry_accounts", "registry_transactions", "registry_entries")
TABLES = (
    "registry_holders",
    "registry_instruments",
    "registry_accounts",
    "registry_transactions",
    "registry_entries",
    "registry_offers",
    "registry_agreements",
    "registry_agreement_objections",
    "registry_deliveries",
    "registry_pledges",
    "registry_obligations",
    "registry_surrenders",
)
OLD_ROLES = ("bidder", "operator", "auditor", "admin")
NEW_ROLES = (*OLD_ROLES, "registrar")


def _roles(roles: tuple[str, ...]) -> str:
    return "role IN (" + ", ".join(f"'{r}'" for r in roles) + ")"


def upgrade() -> None:
    op.create_table(
        "registry_holders",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("credit_code", sa.String(18), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("basin", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("verified_at", TS, nullable=True),
        sa.Column("verified_by", BIGID, nullable=True),
        sa.CheckConstraint(
            "(verified_at IS NULL) = (verified_by IS NULL)", name="ck_registry_holders_verified"
        ),
        sa.ForeignKeyConstraint(["verified_by"], ["users.id"], name="fk_registry_holders_verified_by_users"),
        sa.PrimaryKeyConstraint("id", name="pk_registry_holders"),
        sa.UniqueConstraint("credit_code", name="uq_registry_holders_credit_code"),
    )

    op.create_table(
        "registry_instruments",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("right_type", sa.String(16), nullable=False),
        sa.Column("sub_type", sa.String(32), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("basin", sa.String(64), nullable=True),
        sa.Column("water_source", sa.String(64), nullable=True),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("permit_reference", sa.String(64), nullable=True),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("issued_by", BIGID, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("origin IN ('paid', 'free')", name="ck_registry_instruments_origin"),
        sa.CheckConstraint("right_type IN ('emission', 'water')", name="ck_registry_instruments_right_type"),
        sa.CheckConstraint("valid_until > valid_from", name="ck_registry_instruments_validity"),
        sa.ForeignKeyConstraint(["issued_by"], ["users.id"], name="fk_registry_instruments_issued_by_users"),
        sa.PrimaryKeyConstraint("id", name="pk_registry_instruments"),
    )

    op.create_table(
        "registry_accounts",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("code", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("instrument_id", BIGID, nullable=False),
        sa.Column("holder_id", BIGID, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "kind NOT IN ('holding', 'pledged') OR holder_id IS NOT NULL", name="ck_registry_accounts_holder"
        ),
        sa.CheckConstraint(
            "kind IN ('issuance', 'reserve', 'holding', 'order_hold', 'pledged', 'frozen', 'transit', 'surrendered', 'retired', 'expired')",
            name="ck_registry_accounts_kind",
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["registry_holders.id"], name="fk_registry_accounts_holder_id_registry_holders"
        ),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["registry_instruments.id"],
            name="fk_registry_accounts_instrument_id_registry_instruments",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_registry_accounts"),
        sa.UniqueConstraint("code", name="uq_registry_accounts_code"),
    )
    op.create_index("ix_registry_accounts_holder_id", "registry_accounts", ["holder_id"])
    op.create_index("ix_registry_accounts_instrument_id", "registry_accounts", ["instrument_id"])

    op.create_table(
        "registry_transactions",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("instrument_id", BIGID, nullable=False),
        sa.Column("listing_id", BIGID, nullable=True),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["registry_instruments.id"],
            name="fk_registry_transactions_instrument_id_registry_instruments",
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["listings.id"], name="fk_registry_transactions_listing_id_listings"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_registry_transactions"),
        sa.UniqueConstraint("reference", name="uq_registry_transactions_reference"),
    )
    op.create_index("ix_registry_transactions_instrument_id", "registry_transactions", ["instrument_id"])
    op.create_index("ix_registry_transactions_listing_id", "registry_transactions", ["listing_id"])

    op.create_table(
        "registry_entries",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("transaction_id", BIGID, nullable=False),
        sa.Column("account_id", BIGID, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount <> 0", name="ck_registry_entries_nonzero"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["registry_accounts.id"], name="fk_registry_entries_account_id_registry_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["registry_transactions.id"],
            name="fk_registry_entries_transaction_id_registry_transactions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_registry_entries"),
    )
    op.create_index("ix_registry_entries_account_id", "registry_entries", ["account_id"])
    op.create_index("ix_registry_entries_transaction_id", "registry_entries", ["transaction_id"])

    op.create_table(
        "registry_offers",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("holder_id", BIGID, nullable=True),
        sa.Column("instrument_id", BIGID, nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("listing_id", BIGID, nullable=True),
        sa.Column("hold_account_id", BIGID, nullable=True),
        sa.Column("created_by", BIGID, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_by", BIGID, nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint("quantity > 0", name="ck_registry_offers_quantity"),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'sold', 'released')",
            name="ck_registry_offers_status",
        ),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name="fk_registry_offers_created_by_users"),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], name="fk_registry_offers_decided_by_users"),
        sa.ForeignKeyConstraint(
            ["hold_account_id"],
            ["registry_accounts.id"],
            name="fk_registry_offers_hold_account_id_registry_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["registry_holders.id"], name="fk_registry_offers_holder_id_registry_holders"
        ),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["registry_instruments.id"],
            name="fk_registry_offers_instrument_id_registry_instruments",
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["listings.id"], name="fk_registry_offers_listing_id_listings"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_registry_offers"),
        sa.UniqueConstraint("listing_id", name="uq_registry_offers_listing_id"),
    )
    op.create_index("ix_registry_offers_holder_id", "registry_offers", ["holder_id"])
    op.create_index("ix_registry_offers_instrument_id", "registry_offers", ["instrument_id"])

    op.create_table(
        "registry_agreements",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("seller_id", BIGID, nullable=False),
        sa.Column("buyer_id", BIGID, nullable=False),
        sa.Column("instrument_id", BIGID, nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("hold_account_id", BIGID, nullable=True),
        sa.Column("payment_account", sa.String(64), nullable=False),
        sa.Column("publicity_ends_at", TS, nullable=False),
        sa.Column("created_by", BIGID, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("confirmed_at", TS, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('publicity', 'confirmed', 'delivered', 'cancelled')",
            name="ck_registry_agreements_status",
        ),
        sa.CheckConstraint("quantity > 0 AND price > 0", name="ck_registry_agreements_terms"),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["registry_holders.id"], name="fk_registry_agreements_buyer_id_registry_holders"
        ),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name="fk_registry_agreements_created_by_users"),
        sa.ForeignKeyConstraint(
            ["hold_account_id"],
            ["registry_accounts.id"],
            name="fk_registry_agreements_hold_account_id_registry_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["registry_instruments.id"],
            name="fk_registry_agreements_instrument_id_registry_instruments",
        ),
        sa.ForeignKeyConstraint(
            ["seller_id"], ["registry_holders.id"], name="fk_registry_agreements_seller_id_registry_holders"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_registry_agreements"),
        sa.UniqueConstraint("payment_account", name="uq_registry_agreements_payment_account"),
    )
    op.create_index("ix_registry_agreements_buyer_id", "registry_agreements", ["buyer_id"])
    op.create_index("ix_registry_agreements_seller_id", "registry_agreements", ["seller_id"])

    op.create_table(
        "registry_agreement_objections",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("agreement_id", BIGID, nullable=False),
        sa.Column("filed_by", BIGID, nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", BIGID, nullable=True),
        sa.Column("filed_at", TS, nullable=False),
        sa.Column("answered_at", TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'dismissed', 'upheld')", name="ck_registry_agreement_objections_status"
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["registry_agreements.id"],
            name="fk_registry_agreement_objections_agreement",
        ),
        sa.ForeignKeyConstraint(
            ["answered_by"], ["users.id"], name="fk_registry_agreement_objections_answered_by_users"
        ),
        sa.ForeignKeyConstraint(
            ["filed_by"], ["users.id"], name="fk_registry_agreement_objections_filed_by_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_registry_agreement_objections"),
    )
    op.create_index(
        "ix_registry_agreement_objections_agreement_id", "registry_agreement_objections", ["agreement_id"]
    )

    op.create_table(
        "registry_deliveries",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("reference", sa.String(100), nullable=False),
        sa.Column("listing_id", BIGID, nullable=True),
        sa.Column("application_id", BIGID, nullable=True),
        sa.Column("agreement_id", BIGID, nullable=True),
        sa.Column("seller_id", BIGID, nullable=True),
        sa.Column("buyer_id", BIGID, nullable=False),
        sa.Column("instrument_id", BIGID, nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("permit_change", sa.String(16), nullable=True),
        sa.Column("registry_transaction_id", BIGID, nullable=True),
        sa.Column("ledger_transaction_id", BIGID, nullable=True),
        sa.Column("approved_by", BIGID, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.CheckConstraint(
            "permit_change IS NULL OR permit_change IN ('pending', 'confirmed')",
            name="ck_registry_deliveries_permit",
        ),
        sa.CheckConstraint(
            "(listing_id IS NULL) <> (agreement_id IS NULL)", name="ck_registry_deliveries_source"
        ),
        sa.CheckConstraint(
            "status <> 'delivered' OR "
            "(registry_transaction_id IS NOT NULL AND ledger_transaction_id IS NOT NULL)",
            name="ck_registry_deliveries_dvp",
        ),
        sa.CheckConstraint(
            "status IN ('awaiting_approval', 'delivered', 'refused')", name="ck_registry_deliveries_status"
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["registry_agreements.id"],
            name="fk_registry_deliveries_agreement_id_registry_agreements",
        ),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name="fk_registry_deliveries_application_id_applications"
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["users.id"], name="fk_registry_deliveries_approved_by_users"
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["registry_holders.id"], name="fk_registry_deliveries_buyer_id_registry_holders"
        ),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["registry_instruments.id"],
            name="fk_registry_deliveries_instrument_id_registry_instruments",
        ),
        sa.ForeignKeyConstraint(
            ["ledger_transaction_id"],
            ["ledger_transactions.id"],
            name="fk_registry_deliveries_ledger_transaction",
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["listings.id"], name="fk_registry_deliveries_listing_id_listings"
        ),
        sa.ForeignKeyConstraint(
            ["registry_transaction_id"],
            ["registry_transactions.id"],
            name="fk_registry_deliveries_registry_transaction",
        ),
        sa.ForeignKeyConstraint(
            ["seller_id"], ["registry_holders.id"], name="fk_registry_deliveries_seller_id_registry_holders"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_registry_deliveries"),
        sa.UniqueConstraint("reference", name="uq_registry_deliveries_reference"),
    )
    op.create_index("ix_registry_deliveries_buyer_id", "registry_deliveries", ["buyer_id"])
    op.create_index("ix_registry_deliveries_listing_id", "registry_deliveries", ["listing_id"])

    op.create_table(
        "registry_pledges",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("holder_id", BIGID, nullable=False),
        sa.Column("instrument_id", BIGID, nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("pledgee_name", sa.String(128), nullable=False),
        sa.Column("pledgee_code", sa.String(18), nullable=False),
        sa.Column("contract_reference", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("account_id", BIGID, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.CheckConstraint("quantity > 0", name="ck_registry_pledges_quantity"),
        sa.CheckConstraint("status IN ('active', 'released', 'enforced')", name="ck_registry_pledges_status"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["registry_accounts.id"], name="fk_registry_pledges_account_id_registry_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["registry_holders.id"], name="fk_registry_pledges_holder_id_registry_holders"
        ),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["registry_instruments.id"],
            name="fk_registry_pledges_instrument_id_registry_instruments",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_registry_pledges"),
    )
    op.create_index("ix_registry_pledges_holder_id", "registry_pledges", ["holder_id"])

    op.create_table(
        "registry_obligations",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("holder_id", BIGID, nullable=False),
        sa.Column("right_type", sa.String(16), nullable=False),
        sa.Column("sub_type", sa.String(32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("verified_quantity", sa.BigInteger(), nullable=False),
        sa.Column("entered_by", BIGID, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("verified_quantity >= 0", name="ck_registry_obligations_quantity"),
        sa.CheckConstraint("right_type IN ('emission', 'water')", name="ck_registry_obligations_right_type"),
        sa.ForeignKeyConstraint(
            ["entered_by"], ["users.id"], name="fk_registry_obligations_entered_by_users"
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["registry_holders.id"], name="fk_registry_obligations_holder_id_registry_holders"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_registry_obligations"),
        sa.UniqueConstraint(
            "holder_id",
            "right_type",
            "sub_type",
            "year",
            name="uq_registry_obligations_holder_id_right_type_sub_type_year",
        ),
    )
    op.create_index("ix_registry_obligations_year", "registry_obligations", ["year"])

    op.create_table(
        "registry_surrenders",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("obligation_id", BIGID, nullable=False),
        sa.Column("instrument_id", BIGID, nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", BIGID, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_registry_surrenders_quantity"),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["registry_instruments.id"],
            name="fk_registry_surrenders_instrument_id_registry_instruments",
        ),
        sa.ForeignKeyConstraint(
            ["obligation_id"],
            ["registry_obligations.id"],
            name="fk_registry_surrenders_obligation_id_registry_obligations",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["registry_transactions.id"],
            name="fk_registry_surrenders_transaction_id_registry_transactions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_registry_surrenders"),
    )
    op.create_index("ix_registry_surrenders_obligation_id", "registry_surrenders", ["obligation_id"])

    if op.get_bind().dialect.name == "postgresql":
        _postgresql_rules()
    else:
        _sqlite_rules()
    _users_roles(NEW_ROLES)


def _users_roles(roles: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("ck_users_role", "users", type_="check")
        op.create_check_constraint("ck_users_role", "users", _roles(roles))
        return
    with op.batch_alter_table("users", recreate="always") as batch:
        batch.drop_constraint("ck_users_role", type_="check")
        batch.create_check_constraint("ck_users_role", _roles(roles))
    # batch mode cannot carry the expression index over
    op.execute("CREATE UNIQUE INDEX IF NOT EXISTS ix_users_username_lower ON users (lower(username))")


def _postgresql_rules() -> None:
    op.execute(
        "CREATE FUNCTION registry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION registry_append_only()"
        )
    # Fired at COMMIT once per inserted row (entries and transactions alike).
    op.execute(
        """
        CREATE FUNCTION registry_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            txn bigint;
            legs bigint;
            total numeric;
            strangers bigint;
        BEGIN
            IF TG_TABLE_NAME = 'registry_entries' THEN
                txn := NEW.transaction_id;
            ELSE
                txn := NEW.id;
            END IF;
            SELECT count(*), coalesce(sum(e.amount), 0),
                   count(*) FILTER (WHERE a.instrument_id <> t.instrument_id)
                INTO legs, total, strangers
                FROM registry_entries e
                JOIN registry_accounts a ON a.id = e.account_id
                JOIN registry_transactions t ON t.id = e.transaction_id
                WHERE e.transaction_id = txn;
            IF legs < 2 OR total <> 0 OR strangers > 0 THEN
                RAISE EXCEPTION 'registry transaction % is unbalanced: % entries summing to %, % of another instrument',
                    txn, legs, total, strangers USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END $$
        """
    )
    for table in ("registry_entries", "registry_transactions"):
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {table}_balanced AFTER INSERT ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION registry_check_balanced()"
        )


def _sqlite_rules() -> None:
    for table in APPEND_ONLY:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
    op.execute(
        "CREATE TRIGGER registry_entries_newest_transaction BEFORE INSERT ON registry_entries "
        "WHEN NEW.transaction_id IS NOT (SELECT max(id) FROM registry_transactions) "
        "BEGIN SELECT RAISE(ABORT, 'registry entries belong to the transaction being written'); END"
    )
    op.execute(
        "CREATE TRIGGER registry_entries_one_instrument BEFORE INSERT ON registry_entries "
        "WHEN (SELECT instrument_id FROM registry_accounts WHERE id = NEW.account_id) IS NOT "
        "(SELECT instrument_id FROM registry_transactions WHERE id = NEW.transaction_id) "
        "BEGIN SELECT RAISE(ABORT, 'registry entries name accounts of their transaction''s instrument'); END"
    )


def downgrade() -> None:
    # A registrar account stops the downgrade (the narrower check fails), as it should.
    _users_roles(OLD_ROLES)
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        for table in ("registry_entries", "registry_transactions"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_balanced ON {table}")
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    for table in reversed(TABLES):
        op.drop_table(table)
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS registry_check_balanced()")
        op.execute("DROP FUNCTION IF EXISTS registry_append_only()")

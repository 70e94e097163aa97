"""The double-entry ledger against real PostgreSQL (and once on SQLite): postings, idempotency,
refunds, due dates, and what the database itself refuses."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from exchange.clock import utcnow
from exchange.db import create_engine, session_factory, unit_of_work
from exchange.identity.models import User
from exchange.migrate import upgrade
from exchange.settings import DatabaseSettings
from listings.applications_models import Application
from listings.models import Listing
from listings.workdays import SHANGHAI
from settlement import ledger
from settlement.models import LedgerEntry, LedgerTransaction, RefundInstruction

Sessions = async_sessionmaker[AsyncSession]

YUAN = 100
DEPOSIT = 200_000 * YUAN


@dataclass(frozen=True)
class Seeded:
    """One listing in registration and its applications (one bidder each)."""

    listing_id: int
    applications: list[tuple[int, int]]  # (application_id, bidder_id)


async def seed_applications(sessions: Sessions, count: int) -> Seeded:
    """Rows the ledger's foreign keys need, written directly (the API is tested elsewhere)."""
    now = utcnow()

    def user(name: str, role: str, kind: str, display: str) -> User:
        return User(
            username=name,
            password_hash="-",
            role=role,
            kind=kind,
            display_name=display,
            active=True,
            created_at=now,
        )

    async with unit_of_work(sessions) as session:
        operator = user("ledger-operator", "operator", "staff", "操作员")
        bidders = [
            user(f"ledger-bidder-{i}", "bidder", "enterprise", f"竞买人{i}有限公司") for i in range(count)
        ]
        session.add_all([operator, *bidders])
        await session.flush()
        listing = Listing(
            asset_class="land_use_right",
            method="english",
            title="账务测试地块",
            description="",
            attributes={},
            start_price=1_000_000 * YUAN,
            increment=10_000 * YUAN,
            deposit=DEPOSIT,
            method_params={},
            announce_at=now,
            registration_opens_at=now,
            registration_closes_at=now + timedelta(days=10),
            bidding_opens_at=now + timedelta(days=11),
            bidding_closes_at=now + timedelta(days=12),
            extension_seconds=300,
            status="registration",
            created_by=operator.id,
            created_at=now,
            updated_at=now,
        )
        session.add(listing)
        await session.flush()
        applications = [
            Application(
                listing_id=listing.id,
                bidder_id=b.id,
                status="approved",
                deposit_account=f"62{i:017d}",
                deposit_due=DEPOSIT,
                created_at=now,
            )
            for i, b in enumerate(bidders)
        ]
        session.add_all(applications)
        await session.flush()
        return Seeded(listing.id, [(a.id, a.bidder_id) for a in applications])


@pytest.fixture
async def sessions(db: str) -> AsyncIterator[Sessions]:
    """Sessions on the clean test database, on this test's event loop."""
    engine = create_engine(DatabaseSettings(url=db))
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def seeded(sessions: Sessions) -> Seeded:
    return await seed_applications(sessions, 3)


async def deposit(
    session: AsyncSession, seeded: Seeded, index: int, amount: int, reference: str
) -> ledger.Booked:
    application_id, bidder_id = seeded.applications[index]
    return await ledger.book_deposit(
        session,
        application_id=application_id,
        owner_id=bidder_id,
        listing_id=seeded.listing_id,
        amount=amount,
        reference=reference,
    )


async def count(session: AsyncSession, model: type) -> int:
    return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


def _raw_url(db: str) -> str:
    return db.replace("postgresql+asyncpg", "postgresql")


# --- postings -------------------------------------------------------------------------------


async def test_deposits_add_up_and_a_repeated_notice_books_once(sessions: Sessions, seeded: Seeded) -> None:
    application_id, bidder_id = seeded.applications[0]
    async with unit_of_work(sessions) as session:
        first = await deposit(session, seeded, 0, 150_000 * YUAN, "bank:T1")
        second = await deposit(session, seeded, 0, 50_000 * YUAN, "bank:T2")
        again = await deposit(session, seeded, 0, 150_000 * YUAN, "bank:T1")
    assert first.created and second.created and not again.created
    assert again.transaction.id == first.transaction.id
    async with sessions() as session:
        assert await ledger.held_deposit(session, application_id) == DEPOSIT
        assert await ledger.balance(session, f"deposit:{application_id}") == -DEPOSIT
        assert await ledger.balance(session, "bank_clearing") == DEPOSIT
        assert await ledger.trial_balance(session) == 0
        assert await count(session, LedgerTransaction) == 2
        assert await count(session, LedgerEntry) == 4
        account = await ledger.find_account(session, f"deposit:{application_id}")
        assert account is not None and account.kind == "deposit"
        assert (account.owner_id, account.application_id, account.listing_id) == (
            bidder_id,
            application_id,
            seeded.listing_id,
        )
        assert [e.amount for e in await ledger.entries_of(session, account)] == [
            -150_000 * YUAN,
            -50_000 * YUAN,
        ]
        owned = await ledger.balances_for_owner(session, bidder_id)
        assert [(a.code, b) for a, b in owned] == [(f"deposit:{application_id}", -DEPOSIT)]
        assert await ledger.balances_for_owner(session, seeded.applications[1][1]) == []
        txns = await ledger.transactions_of(session, [second.transaction.id, first.transaction.id])
        assert [t.reference for t in txns] == ["bank:T1", "bank:T2"]
        assert txns[0].kind == "deposit_received" and txns[0].listing_id == seeded.listing_id


async def test_a_reference_with_other_content_is_refused_and_the_transaction_survives(
    sessions: Sessions, seeded: Seeded
) -> None:
    async with unit_of_work(sessions) as session:
        await deposit(session, seeded, 0, 100 * YUAN, "bank:T1")
        with pytest.raises(ledger.DuplicateReference) as caught:
            await deposit(session, seeded, 0, 101 * YUAN, "bank:T1")
        assert caught.value.code == "duplicate_reference" and caught.value.status == 409
        with pytest.raises(ledger.DuplicateReference):  # same amount, another application's account
            await deposit(session, seeded, 1, 100 * YUAN, "bank:T1")
        bank = await ledger.bank_clearing(session)
        suspense = await ledger.account(session, "suspense", "suspense")
        with pytest.raises(ledger.DuplicateReference):  # post() itself, past the pre-check
            await ledger.post(session, kind="x", reference="bank:T1", legs=[(bank, 1), (suspense, -1)])
        # The SAVEPOINT kept the caller's transaction usable: this commits with the first deposit.
        await deposit(session, seeded, 1, 7 * YUAN, "bank:T2")
    async with sessions() as session:
        assert await count(session, LedgerTransaction) == 2
        assert await ledger.held_deposit(session, seeded.applications[0][0]) == 100 * YUAN
        assert await ledger.held_deposit(session, seeded.applications[1][0]) == 7 * YUAN
        assert await ledger.trial_balance(session) == 0


@pytest.mark.parametrize(
    "amounts",
    [[100, -99], [100], [], [100, 0, -100], [50, 50, -99]],
    ids=["sum-not-zero", "one-leg", "no-legs", "zero-leg", "three-legs-off"],
)
async def test_post_refuses_unbalanced_legs(sessions: Sessions, seeded: Seeded, amounts: list[int]) -> None:
    async with unit_of_work(sessions) as session:
        accounts = [
            await ledger.account(session, f"receivable:{i}", "receivable") for i in range(len(amounts))
        ]
        with pytest.raises(ledger.UnbalancedTransaction):
            await ledger.post(
                session, kind="test", reference="r1", legs=list(zip(accounts, amounts, strict=True))
            )
        with pytest.raises(ValueError):  # it is a ValueError, too
            await ledger.post_once(
                session, kind="test", reference="r1", legs=list(zip(accounts, amounts, strict=True))
            )
    async with sessions() as session:
        assert await count(session, LedgerTransaction) == 0


async def test_post_refuses_non_integer_amounts(sessions: Sessions, seeded: Seeded) -> None:
    async with sessions() as session:
        a = await ledger.account(session, "receivable:a", "receivable")
        b = await ledger.account(session, "receivable:b", "receivable")
        with pytest.raises(ledger.UnbalancedTransaction):
            await ledger.post(session, kind="t", reference="r", legs=[(a, 1.5), (b, -1.5)])  # type: ignore[list-item]
        with pytest.raises(ValueError):
            await deposit(session, seeded, 0, 0, "bank:zero")


async def test_account_is_get_or_create_and_checks_what_it_finds(sessions: Sessions, seeded: Seeded) -> None:
    application_id, bidder_id = seeded.applications[0]
    other_bidder = seeded.applications[1][1]
    async with unit_of_work(sessions) as session:
        made = await ledger.account(
            session, "deposit:x", "deposit", owner_id=bidder_id, application_id=application_id
        )
        same = await ledger.account(session, "deposit:x", "deposit")
        assert same.id == made.id
        with pytest.raises(ledger.AccountMismatch):
            await ledger.account(session, "deposit:x", "suspense")
        with pytest.raises(ledger.AccountMismatch):
            await ledger.account(session, "deposit:x", "deposit", owner_id=other_bidder)
        with pytest.raises(ledger.AccountMismatch):
            await ledger.account(session, "mystery", "petty_cash")


async def test_account_creation_races_end_in_one_account(sessions: Sessions, seeded: Seeded) -> None:
    async def create() -> int:
        async with unit_of_work(sessions) as session:
            found = await ledger.account(session, "fee_revenue", "fee_revenue")
            await asyncio.sleep(0.05)  # hold the transaction open while the others insert
            return found.id

    ids = await asyncio.gather(*(create() for _ in range(5)))
    assert len(set(ids)) == 1


async def test_concurrent_identical_notices_book_once(sessions: Sessions, seeded: Seeded) -> None:
    async def notify() -> bool:
        async with unit_of_work(sessions) as session:
            booked = await deposit(session, seeded, 0, 42 * YUAN, "bank:SAME")
            await asyncio.sleep(0.05)
            return booked.created

    created = await asyncio.gather(*(notify() for _ in range(6)))
    assert sorted(created) == [False] * 5 + [True]
    async with sessions() as session:
        assert await ledger.held_deposit(session, seeded.applications[0][0]) == 42 * YUAN


# --- releases and refunds -------------------------------------------------------------------


async def test_release_moves_all_that_is_held_once(sessions: Sessions, seeded: Seeded) -> None:
    application_id, _ = seeded.applications[0]
    async with unit_of_work(sessions) as session:
        assert (
            await ledger.release_deposit(session, application_id=application_id, reason="x", actor="t")
            is None
        )
        await deposit(session, seeded, 0, 120_000 * YUAN, "bank:A")
        await deposit(session, seeded, 0, 80_000 * YUAN, "bank:B")
        refund = await ledger.release_deposit(
            session, application_id=application_id, reason="application rejected", actor="user:1"
        )
        again = await ledger.release_deposit(
            session, application_id=application_id, reason="again", actor="t"
        )
    assert refund is not None and again is None
    assert refund.amount == DEPOSIT and refund.application_id == application_id and refund.status == "pending"
    async with unit_of_work(sessions) as session:
        assert await ledger.held_deposit(session, application_id) == 0
        assert await ledger.balance(session, "refunds_payable") == -DEPOSIT
        release = await session.get(LedgerTransaction, refund.transaction_id)
        assert release is not None
        assert (release.kind, release.reference, release.memo, release.actor) == (
            "deposit_released",
            f"release:{application_id}:1",
            "application rejected",
            "user:1",
        )
        assert release.listing_id == seeded.listing_id
        # Money arriving after the release is held again, and released as the second release.
        await deposit(session, seeded, 0, 5 * YUAN, "bank:LATE")
        late = await ledger.release_deposit(
            session, application_id=application_id, reason="closed", actor="t"
        )
        assert late is not None and late.amount == 5 * YUAN
        late_txn = await session.get(LedgerTransaction, late.transaction_id)
        assert late_txn is not None and late_txn.reference == f"release:{application_id}:2"
    async with sessions() as session:
        assert await ledger.trial_balance(session) == 0
        assert [r.amount for r in await ledger.refunds(session, "pending")] == [DEPOSIT, 5 * YUAN]


async def test_concurrent_releases_refund_once(sessions: Sessions, seeded: Seeded) -> None:
    application_id, _ = seeded.applications[0]
    async with unit_of_work(sessions) as session:
        await deposit(session, seeded, 0, DEPOSIT, "bank:A")

    async def release() -> int | None:
        async with unit_of_work(sessions) as session:
            refund = await ledger.release_deposit(
                session, application_id=application_id, reason="x", actor="t"
            )
            await asyncio.sleep(0.05)
            return None if refund is None else refund.amount

    results = await asyncio.gather(*(release() for _ in range(5)))
    assert sorted(results, key=lambda r: r or 0) == [None] * 4 + [DEPOSIT]


async def test_suspense_money_is_booked_and_refunded(sessions: Sessions, seeded: Seeded) -> None:
    async with unit_of_work(sessions) as session:
        booked = await ledger.book_suspense(
            session,
            amount=5 * YUAN,
            reference="bank:UNKNOWN",
            memo="unknown_account",
            payee_account="6222 0001",
        )
        again = await ledger.book_suspense(
            session, amount=5 * YUAN, reference="bank:UNKNOWN", memo="unknown_account"
        )
    assert booked.created and not again.created
    assert booked.refund is not None and again.refund is not None and again.refund.id == booked.refund.id
    assert booked.refund.source_reference == "bank:UNKNOWN" and booked.refund.application_id is None
    assert booked.refund.payee_account == "6222 0001"
    async with sessions() as session:
        assert await ledger.balance(session, "bank_clearing") == 5 * YUAN
        assert await ledger.balance(session, "suspense") == 0
        assert await ledger.balance(session, "refunds_payable") == -5 * YUAN
        kinds = (
            await session.execute(select(LedgerTransaction.kind).order_by(LedgerTransaction.id))
        ).scalars()
        assert list(kinds) == ["suspense_received", "suspense_refund"]
        assert await count(session, RefundInstruction) == 1


async def test_paying_a_refund(sessions: Sessions, seeded: Seeded) -> None:
    async with unit_of_work(sessions) as session:
        await deposit(session, seeded, 0, DEPOSIT, "bank:A")
        await deposit(session, seeded, 1, DEPOSIT, "bank:B")
        first = await ledger.release_deposit(
            session, application_id=seeded.applications[0][0], reason="x", actor="t"
        )
        second = await ledger.release_deposit(
            session, application_id=seeded.applications[1][0], reason="x", actor="t"
        )
        assert first is not None and second is not None
    async with unit_of_work(sessions) as session:
        paid = await ledger.mark_refund_paid(session, first.id, paid_reference="OUT-1", actor="bank")
        assert paid.status == "paid" and paid.paid_reference == "OUT-1" and paid.paid_at is not None
        assert paid.paid_transaction_id is not None
    async with unit_of_work(sessions) as session:
        repeat = await ledger.mark_refund_paid(session, first.id, paid_reference="OUT-1", actor="bank")
        assert repeat.paid_transaction_id == paid.paid_transaction_id
        with pytest.raises(ledger.RefundAlreadyPaid) as already:
            await ledger.mark_refund_paid(session, first.id, paid_reference="OUT-2", actor="bank")
        assert already.value.code == "refund_already_paid"
        with pytest.raises(ledger.PaidReferenceInUse):
            await ledger.mark_refund_paid(session, second.id, paid_reference="OUT-1", actor="bank")
        with pytest.raises(ledger.RefundNotFound):
            await ledger.mark_refund_paid(session, 999_999, paid_reference="OUT-9", actor="bank")
    async with sessions() as session:
        assert await ledger.balance(session, "bank_clearing") == DEPOSIT
        assert await ledger.balance(session, "refunds_payable") == -DEPOSIT
        assert await count(session, LedgerTransaction) == 5
        payout = await ledger.transaction_by_reference(session, "payout:OUT-1")
        assert payout is not None and payout.kind == "refund_paid" and payout.listing_id == seeded.listing_id
        assert await ledger.trial_balance(session) == 0


async def test_refund_csv_for_the_bank(sessions: Sessions, seeded: Seeded) -> None:
    now = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)  # a Monday without holidays
    async with unit_of_work(sessions) as session:
        await deposit(session, seeded, 0, 12_345 + DEPOSIT, "bank:A")
        released = await ledger.release_deposit(
            session, application_id=seeded.applications[0][0], reason="x", actor="t", now=now
        )
        await ledger.book_suspense(
            session,
            amount=5,
            reference="bank:X",
            memo="unknown_account",
            payee_account="=HYPERLINK(1)",
            now=now,
        )
        assert released is not None
    async with sessions() as session:
        pending = await ledger.refund_csv(session)
        assert (
            await ledger.refund_csv(session, "paid")
            == "refund_id,payee_name,payee_account,amount,due_date,reference\r\n"
        )
        with pytest.raises(ValueError):
            await ledger.refund_csv(session, "lost")  # type: ignore[arg-type]
    rows = list(csv.reader(io.StringIO(pending)))
    assert rows == [
        ["refund_id", "payee_name", "payee_account", "amount", "due_date", "reference"],
        [
            str(released.id),
            "竞买人0有限公司",
            "",
            "200123.45",
            "2026-03-09",
            f"release:{seeded.applications[0][0]}:1",
        ],
        [str(released.id + 1), "", "'=HYPERLINK(1)", "0.05", "2026-03-09", "bank:X"],
    ]
    pending.encode("utf-8")  # plain UTF-8 text, no surrogates


# --- due dates on the Chinese calendar ---------------------------------------------------------


@pytest.mark.parametrize(
    ("released_at", "due"),
    [
        # Friday before National Day 2025: Sun 28 Sep is a working day, 1-8 Oct are not.
        (datetime(2025, 9, 26, 10, 0, tzinfo=SHANGHAI), date(2025, 10, 10)),
        # Friday before the 2026 Spring Festival: Sat 14 Feb works, 15-23 Feb do not.
        (datetime(2026, 2, 13, 16, 0, tzinfo=SHANGHAI), date(2026, 2, 27)),
        # Sunday 28 Sep 2025 is a working day, so is Saturday 11 Oct (the fifth).
        (datetime(2025, 9, 28, 1, 0, tzinfo=SHANGHAI), date(2025, 10, 11)),
        # An ordinary week: Monday -> next Monday.
        (datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI), date(2026, 3, 9)),
    ],
)
async def test_refunds_are_due_five_working_days_after_the_release(
    sessions: Sessions, seeded: Seeded, released_at: datetime, due: date
) -> None:
    assert ledger.refund_due(released_at) == due
    async with unit_of_work(sessions) as session:
        await deposit(session, seeded, 0, DEPOSIT, "bank:A")
        refund = await ledger.release_deposit(
            session, application_id=seeded.applications[0][0], reason="x", actor="t", now=released_at
        )
        suspense = await ledger.book_suspense(
            session, amount=1, reference="bank:S", memo="m", now=released_at
        )
    assert refund is not None and refund.due_date == due
    assert suspense.refund is not None and suspense.refund.due_date == due


def test_the_due_date_reads_the_instant_in_shanghai() -> None:
    thursday_evening_utc = datetime.fromisoformat("2026-03-05T16:30:00+00:00")  # Friday 00:30 in Shanghai
    assert ledger.refund_due(thursday_evening_utc) == date(2026, 3, 13)
    assert ledger.refund_due(datetime.fromisoformat("2026-03-05T15:59:59+00:00")) == date(2026, 3, 12)
    with pytest.raises(ValueError):
        ledger.refund_due(datetime(2026, 3, 5, 10, 0))  # naive on purpose


# --- what the database refuses (PostgreSQL) ----------------------------------------------------


async def _bank_and_deposit_accounts(sessions: Sessions, seeded: Seeded) -> tuple[int, int, int]:
    """Book one deposit; return the ids of bank_clearing, the deposit account and the transaction."""
    async with unit_of_work(sessions) as session:
        booked = await deposit(session, seeded, 0, DEPOSIT, "bank:A")
        bank = await ledger.bank_clearing(session)
        account = await ledger.find_account(session, f"deposit:{seeded.applications[0][0]}")
        assert account is not None
        return bank.id, account.id, booked.transaction.id


async def test_the_database_refuses_unbalanced_transactions_at_commit(
    sessions: Sessions, seeded: Seeded, db: str
) -> None:
    bank, account, booked = await _bank_and_deposit_accounts(sessions, seeded)
    insert_txn = (
        "INSERT INTO ledger_transactions (kind, reference, memo, created_at, actor) "
        "VALUES ('raw', $1, '', now(), 'sql') RETURNING id"
    )
    insert_entry = "INSERT INTO ledger_entries (transaction_id, account_id, amount) VALUES ($1, $2, $3)"
    conn = await asyncpg.connect(_raw_url(db))
    try:
        for legs in ([(bank, 100)], [(bank, 100), (account, -99)], []):
            with pytest.raises(asyncpg.CheckViolationError, match="unbalanced"):
                async with conn.transaction():  # the check runs at COMMIT, after every statement succeeded
                    txn = await conn.fetchval(insert_txn, f"raw:{len(legs)}")
                    for account_id, amount in legs:
                        await conn.execute(insert_entry, txn, account_id, amount)
        with pytest.raises(asyncpg.CheckViolationError, match="unbalanced"):
            async with conn.transaction():  # a leg added to an old, balanced transaction
                await conn.execute(insert_entry, booked, bank, 1)
        with pytest.raises(asyncpg.CheckViolationError, match="nonzero"):
            async with conn.transaction():
                txn = await conn.fetchval(insert_txn, "raw:zero")
                await conn.execute(insert_entry, txn, bank, 0)
        async with conn.transaction():  # balanced raw SQL is fine, even with three legs
            txn = await conn.fetchval(insert_txn, "raw:ok")
            for account_id, amount in [(bank, 100), (account, -60), (account, -40)]:
                await conn.execute(insert_entry, txn, account_id, amount)
    finally:
        await conn.close()
    async with sessions() as session:
        assert await ledger.trial_balance(session) == 0
        assert await ledger.unbalanced_transactions(session) == []
        assert await count(session, LedgerTransaction) == 2


async def test_the_database_refuses_unbalanced_orm_writes(sessions: Sessions, seeded: Seeded) -> None:
    bank, _, _ = await _bank_and_deposit_accounts(sessions, seeded)
    async with sessions() as session:
        txn = LedgerTransaction(kind="raw", reference="orm", memo="", created_at=utcnow(), actor="t")
        session.add(txn)
        await session.flush()
        session.add(LedgerEntry(transaction_id=txn.id, account_id=bank, amount=5))
        await session.flush()
        with pytest.raises(IntegrityError, match="unbalanced"):
            await session.commit()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_entries SET amount = amount * 2",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transactions SET memo = 'edited'",
        "DELETE FROM ledger_transactions",
        "UPDATE ledger_accounts SET code = 'x' || code",
        "DELETE FROM ledger_accounts",
    ],
)
async def test_the_database_refuses_changes_to_the_ledger(
    sessions: Sessions, seeded: Seeded, sql: str
) -> None:
    await _bank_and_deposit_accounts(sessions, seeded)
    async with sessions() as session:
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text(sql))


async def test_the_database_guards_refund_instructions(sessions: Sessions, seeded: Seeded) -> None:
    async with unit_of_work(sessions) as session:
        booked = await ledger.book_suspense(session, amount=5, reference="bank:X", memo="m")
        other = await ledger.book_suspense(session, amount=7, reference="bank:Y", memo="m")
        assert booked.refund is not None and other.refund is not None
        await ledger.mark_refund_paid(session, booked.refund.id, paid_reference="OUT-1", actor="t")
    paid_id, pending_id = booked.refund.id, other.refund.id
    refused = [
        ("DELETE FROM refund_instructions WHERE id = :id", pending_id, "never deleted"),
        ("UPDATE refund_instructions SET paid_reference = 'OUT-2' WHERE id = :id", paid_id, "already paid"),
        ("UPDATE refund_instructions SET amount = 1 WHERE id = :id", pending_id, "only the payment"),
        (
            "UPDATE refund_instructions SET due_date = due_date + 30 WHERE id = :id",
            pending_id,
            "only the payment",
        ),
        (
            "UPDATE refund_instructions SET status = 'paid' WHERE id = :id",
            pending_id,
            "ck_refund_instructions",
        ),
    ]
    for sql, refund_id, message in refused:
        async with sessions() as session:
            with pytest.raises(DBAPIError, match=message):
                await session.execute(text(sql), {"id": refund_id})
    async with unit_of_work(sessions) as session:  # correcting the payee of a pending refund is allowed
        await session.execute(
            text("UPDATE refund_instructions SET payee_account = 'ACME 6222' WHERE id = :id"),
            {"id": pending_id},
        )


# --- SQLite, the embedded default ------------------------------------------------------------


async def test_the_ledger_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(DatabaseSettings(url=url))
    sessions = session_factory(engine)
    try:
        seeded = await seed_applications(sessions, 2)
        application_id = seeded.applications[0][0]
        async with unit_of_work(sessions) as session:
            await deposit(session, seeded, 0, 150_000 * YUAN, "bank:1")
            await deposit(session, seeded, 0, 50_000 * YUAN, "bank:2")
            assert not (await deposit(session, seeded, 0, 50_000 * YUAN, "bank:2")).created
            with pytest.raises(ledger.DuplicateReference):
                await deposit(session, seeded, 1, 1, "bank:2")
            suspense = await ledger.book_suspense(
                session, amount=5, reference="bank:3", memo="unknown_account"
            )
            refund = await ledger.release_deposit(
                session, application_id=application_id, reason="x", actor="t"
            )
            assert refund is not None and refund.amount == DEPOSIT
            assert (
                await ledger.release_deposit(session, application_id=application_id, reason="x", actor="t")
                is None
            )
            assert suspense.refund is not None
            await ledger.mark_refund_paid(session, suspense.refund.id, paid_reference="OUT-1", actor="t")
        async with sessions() as session:
            assert await ledger.trial_balance(session) == 0
            assert await ledger.unbalanced_transactions(session) == []
            assert await ledger.balance(session, "bank_clearing") == DEPOSIT
            assert await ledger.balance(session, "refunds_payable") == -DEPOSIT
            assert "200000.00" in await ledger.refund_csv(session)
            for sql, message in [
                ("UPDATE ledger_entries SET amount = 1", "append-only"),
                ("DELETE FROM ledger_transactions", "append-only"),
                ("UPDATE ledger_accounts SET code = 'x'", "append-only"),
                (
                    "INSERT INTO ledger_entries (transaction_id, account_id, amount) VALUES (1, 1, 5)",
                    "being written",
                ),
                (
                    "INSERT INTO ledger_entries (transaction_id, account_id, amount) "
                    "SELECT max(id), 1, 0 FROM ledger_transactions",
                    "nonzero",
                ),
                ("DELETE FROM refund_instructions", "never deleted"),
                (
                    f"UPDATE refund_instructions SET paid_reference = 'X' WHERE id = {suspense.refund.id}",
                    "already paid",
                ),
                (f"UPDATE refund_instructions SET amount = 1 WHERE id = {refund.id}", "only the payment"),
            ]:
                with pytest.raises(DBAPIError, match=message):
                    await session.execute(text(sql))
                await session.rollback()
    finally:
        await engine.dispose()

"""The rights registry's quantity ledger on both databases: issuance, allocation, moves,
idempotent references, refusals, pledges, surrender and compliance, expiry, and what the
database itself refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from exchange.audit.chain import head_of, verify_stream
from exchange.db import unit_of_work
from exchange.errors import Conflict, Forbidden, NotFound, Unprocessable
from exchange.settings import Settings
from settlement.double_entry import DuplicateReference
from settlement.registry import book, compliance, expiry, issuance, pledges
from settlement.registry.eligibility import TradeRefused
from settlement.registry.models import (
    Agreement,
    Delivery,
    Offer,
    RegistryAccount,
    RegistryEntry,
    RegistryTransaction,
)
from tests.support.api import PASSWORD, Client, staff, token_for
from tests.support.ids import credit_code
from tests.support.registry import (
    Sessions,
    holder,
    issue_to,
    principal,
    registrar,
    registrar_token,
    sessions_of,
    user,
)
from tests.support.registry import issuance as lot

pytestmark = pytest.mark.databases()

ENDS = date(2030, 1, 1)
"""The validity end of the lots that expire in the tests: after today, so they can be issued."""


@pytest.fixture
async def sessions(db: str, settings: Settings) -> AsyncIterator[Sessions]:
    async with sessions_of(settings) as made:
        yield made


async def balances(sessions: Sessions, *codes: str) -> list[int]:
    async with sessions() as session:
        return [await book.balance(session, await _id(session, c)) for c in codes]


async def _id(session: AsyncSession, code: str) -> int:
    found = (
        await session.execute(select(RegistryAccount.id).where(RegistryAccount.code == code))
    ).scalar_one()
    return int(found)


async def invariants(sessions: Sessions) -> None:
    async with sessions() as session:
        assert set((await book.trial_balance(session)).values()) <= {0}
        assert await book.negative_balances(session) == []
        assert await book.unbalanced_transactions(session) == []
        report = await verify_stream(session, book.STREAM)
        assert report.ok, report


async def test_issuance_posts_the_cap_into_the_reserve_and_allocates(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as session:
        who = await registrar(session)
        a = await holder(session)
        reserved = await issue_to(session, who, None, 5000)
        allocated = await issue_to(session, who, a, 700)
        await issuance.allocate(
            session,
            instrument_id=reserved.id,
            holder_id=a.id,
            quantity=1200,
            reference="decision-7",
            actor="test",
        )
    r, g = reserved.id, allocated.id
    assert await balances(sessions, f"issuance:{r}", f"reserve:{r}", f"holding:{a.id}:{r}") == [
        -5000,
        3800,
        1200,
    ]
    assert await balances(sessions, f"issuance:{g}", f"reserve:{g}", f"holding:{a.id}:{g}") == [-700, 0, 700]
    async with sessions() as session:
        rows = {
            (row.account.kind, row.instrument.id): row.balance
            for row in await book.holdings_of(session, a.id)
        }
        assert rows == {("holding", r): 1200, ("holding", g): 700}
        assert reserved.unit == "kg/a" and reserved.issued_by == who.user_id
        assert await head_of(session, book.STREAM) != "0" * 64
    await invariants(sessions)


async def test_an_issuance_and_an_allocation_repeat_book_once(sessions: Sessions) -> None:
    data = lot(900)
    async with unit_of_work(sessions) as session:
        who = await registrar(session)
        first, txn = await issuance.issue(session, data, who)
        again, txn2 = await issuance.issue(session, data, who)
        assert (again.id, txn2.id) == (first.id, txn.id)
        a = await holder(session)
        one = await issuance.allocate(
            session, instrument_id=first.id, holder_id=a.id, quantity=900, reference="x", actor="test"
        )
        # the reserve is empty now, yet the repeat is answered with the booked allocation
        two = await issuance.allocate(
            session, instrument_id=first.id, holder_id=a.id, quantity=900, reference="x", actor="test"
        )
        assert one.id == two.id
        with pytest.raises(DuplicateReference):
            await issuance.issue(session, lot(901, reference=data.reference), who)
    async with sessions() as session:
        count = (await session.execute(select(RegistryTransaction.id))).scalars().all()
        assert len(count) == 2
    await invariants(sessions)


async def test_issuance_is_validated_and_only_the_registrar_issues(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as session:
        who = await registrar(session)
        operator = await user(session, "operator")
        with pytest.raises(Forbidden):
            await issuance.issue(session, lot(), principal(operator))
        with pytest.raises(Unprocessable) as caught:
            await issuance.issue(
                session,
                lot(
                    0,
                    right_type="water",
                    sub_type="SO2",
                    basin=None,
                    valid_until=date(2025, 1, 1),
                    legal_basis=" ",
                    region_code="14",
                ),
                who,
            )
        assert caught.value.code == "registry_issuance_invalid"
        fields = {e["field"] for e in caught.value.errors}
        assert fields == {
            "sub_type",
            "region_code",
            "basin",
            "water_source",
            "valid_until",
            "legal_basis",
            "quantity",
        }
        with pytest.raises(Conflict) as missing:
            await issuance.issue(session, lot(10, holder_code=credit_code()), who)
        assert missing.value.code == "registry_no_account"


async def test_accounts_are_one_per_credit_code_and_never_staff(sessions: Sessions) -> None:
    code = credit_code()
    async with unit_of_work(sessions) as session:
        a = await holder(session, code=code, name="甲公司")
        assert (await holder(session, code=code.lower(), name="甲公司")).id == a.id
        with pytest.raises(Conflict) as clash:
            await holder(session, code=code, name="乙公司")
        assert clash.value.code == "registry_holder_conflict"
        staff_code = credit_code()
        await user(session, "registrar", code=staff_code)
        with pytest.raises(Conflict) as staff:
            await holder(session, code=staff_code)
        assert staff.value.code == "registry_staff_account"
        with pytest.raises(Unprocessable):
            await holder(session, code="91140100XXXXXXXXX0")
        bidder = await user(session, "bidder", code=code)
        assert (await issuance.holder_of_user(session, bidder.id)).id == a.id  # type: ignore[union-attr]


async def test_moves_refuse_what_the_source_does_not_hold(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as session:
        who = await registrar(session)
        a = await holder(session)
        b = await holder(session)
        lot_a = await issue_to(session, who, a, 100)
        other = await issue_to(session, who, b, 100)
        source = await book.account(session, "holding", lot_a.id, holder_id=a.id)
        target = await book.account(session, "holding", lot_a.id, holder_id=b.id)
        await book.move(
            session, source=source, target=target, quantity=60, kind="transfer", reference="t1", actor="t"
        )
        with pytest.raises(book.InsufficientQuantity) as short:
            await book.move(
                session, source=source, target=target, quantity=41, kind="transfer", reference="t2", actor="t"
            )
        assert short.value.code == "registry_insufficient" and short.value.status == 409
        # a repeat of t1 books nothing, though the source could not afford it again
        again = await book.move(
            session, source=source, target=target, quantity=60, kind="transfer", reference="t1", actor="t"
        )
        assert again.reference == "t1"
        with pytest.raises(DuplicateReference):
            await book.move(
                session, source=source, target=target, quantity=10, kind="transfer", reference="t1", actor="t"
            )
        stranger = await book.account(session, "holding", other.id, holder_id=b.id)
        with pytest.raises(book.InstrumentMismatch):
            await book.post(session, kind="x", reference="t3", legs=[(stranger, 5), (source, -5)], actor="t")
        sink = await book.account(session, "surrendered", lot_a.id)
        await book.move(
            session, source=source, target=sink, quantity=1, kind="surrender", reference="s", actor="t"
        )
        with pytest.raises(book.SinkSends):
            await book.post(session, kind="x", reference="t4", legs=[(source, 1), (sink, -1)], actor="t")
    assert await balances(sessions, f"holding:{a.id}:{lot_a.id}", f"holding:{b.id}:{lot_a.id}") == [39, 60]
    await invariants(sessions)


async def test_the_database_refuses_changes_to_the_ledger(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as session:
        who = await registrar(session)
        await issue_to(session, who, await holder(session), 100)
    for sql in (
        "UPDATE registry_entries SET amount = amount + 1",
        "DELETE FROM registry_entries",
        "UPDATE registry_accounts SET kind = 'reserve'",
        "DELETE FROM registry_transactions",
    ):
        async with sessions() as session:
            with pytest.raises((DBAPIError, IntegrityError)):
                await session.execute(text(sql))
                await session.commit()
    async with sessions() as session:
        assert (await session.execute(text("SELECT count(*) FROM registry_entries"))).scalar_one() == 4
    await invariants(sessions)


async def test_the_database_refuses_an_unbalanced_or_mixed_transaction(
    sessions: Sessions, database: str
) -> None:
    async with unit_of_work(sessions) as session:
        who = await registrar(session)
        a = await holder(session)
        one = await issue_to(session, who, a, 100)
        two = await issue_to(session, who, a, 100)
        first = await book.account(session, "holding", one.id, holder_id=a.id)
        second = await book.account(session, "holding", two.id, holder_id=a.id)
        reserve = await book.account(session, "reserve", one.id)
    async with sessions() as session:
        with pytest.raises((DBAPIError, IntegrityError)):
            txn = RegistryTransaction(
                kind="x", reference="raw", instrument_id=one.id, memo="", created_at=one.created_at, actor="t"
            )
            session.add(txn)
            await session.flush()
            # a leg on another instrument's account: balanced in total, not per instrument
            session.add_all(
                [
                    RegistryEntry(transaction_id=txn.id, account_id=reserve.id, amount=5),
                    RegistryEntry(transaction_id=txn.id, account_id=second.id, amount=-5),
                ]
            )
            await session.flush()
            await session.commit()
    if database == "postgresql":  # SQLite cannot check a balance at commit (migration 0004)
        async with sessions() as session:
            with pytest.raises(DBAPIError):
                txn = RegistryTransaction(
                    kind="x",
                    reference="raw2",
                    instrument_id=one.id,
                    memo="",
                    created_at=one.created_at,
                    actor="t",
                )
                session.add(txn)
                await session.flush()
                session.add(RegistryEntry(transaction_id=txn.id, account_id=first.id, amount=5))
                await session.flush()
                await session.commit()
    await invariants(sessions)


async def test_the_database_refuses_a_delivery_without_both_legs(sessions: Sessions) -> None:
    """Delivery versus payment in the schema: ``delivered`` needs the quantity leg and the money leg."""
    async with unit_of_work(sessions) as session:
        who = await registrar(session)
        seller, buyer = await holder(session), await holder(session)
        instrument = await issue_to(session, who, seller, 100)
        hold = await book.account(session, "holding", instrument.id, holder_id=seller.id)
        agreement = Agreement(
            seller_id=seller.id,
            buyer_id=buyer.id,
            instrument_id=instrument.id,
            quantity=10,
            price=1000,
            status="publicity",
            hold_account_id=hold.id,
            payment_account="DVP-CHECK-1",
            publicity_ends_at=instrument.created_at,
            created_by=who.user_id,
            created_at=instrument.created_at,
        )
        session.add(agreement)
        await session.flush()
        waiting = Delivery(
            reference=f"agreement:{agreement.id}",
            agreement_id=agreement.id,
            seller_id=seller.id,
            buyer_id=buyer.id,
            instrument_id=instrument.id,
            quantity=10,
            price=1000,
            status="awaiting_approval",  # no legs yet: allowed
            created_at=instrument.created_at,
        )
        session.add(waiting)
        await session.flush()
        delivery_id = waiting.id
        issued = (
            await session.execute(
                select(RegistryTransaction.id)
                .where(RegistryTransaction.instrument_id == instrument.id)
                .limit(1)
            )
        ).scalar_one()
    for legs in ({}, {"registry_transaction_id": issued}):
        async with sessions() as session:
            with pytest.raises((DBAPIError, IntegrityError)):
                row = await session.get(Delivery, delivery_id)
                assert row is not None
                row.status, row.delivered_at = "delivered", instrument.created_at
                for name, value in legs.items():
                    setattr(row, name, value)
                await session.flush()
                await session.commit()
    async with sessions() as session:
        row = await session.get(Delivery, delivery_id)
        assert row is not None and row.status == "awaiting_approval"


async def test_pledges_lock_paid_lots_of_compliant_holders(sessions: Sessions) -> None:
    pledgee = credit_code()
    async with unit_of_work(sessions) as session:
        who = await registrar(session)
        a = await holder(session)
        creditor = await holder(session, code=pledgee)  # enforcement goes to the pledgee only
        paid = await issue_to(session, who, a, 1000)
        free = await issue_to(session, who, a, 1000, origin="free")
        terms = {
            "pledgee_name": "某银行",
            "pledgee_code": pledgee,
            "contract_reference": "ZY-1",
            "actor": "t",
        }
        with pytest.raises(pledges.PledgeRefused) as refused:
            await pledges.pledge(session, holder_id=a.id, instrument_id=free.id, quantity=1, **terms)
        assert refused.value.code == "registry_pledge_refused"
        first = await pledges.pledge(session, holder_id=a.id, instrument_id=paid.id, quantity=300, **terms)
        second = await pledges.pledge(session, holder_id=a.id, instrument_id=paid.id, quantity=200, **terms)
        with pytest.raises(book.InsufficientQuantity):
            await pledges.pledge(session, holder_id=a.id, instrument_id=paid.id, quantity=501, **terms)
    assert await balances(sessions, f"holding:{a.id}:{paid.id}", f"pledged:{first.id}") == [500, 300]
    async with unit_of_work(sessions) as session:
        await pledges.release_pledge(session, first.id, "t")
        with pytest.raises(Conflict) as twice:
            await pledges.release_pledge(session, first.id, "t")
        assert twice.value.code == "registry_pledge_state"
        enforced = await pledges.enforce_pledge(session, second.id, creditor.id, "t")
        assert enforced.status == "enforced"
    assert await balances(
        sessions, f"holding:{a.id}:{paid.id}", f"pledged:{first.id}", f"holding:{creditor.id}:{paid.id}"
    ) == [800, 0, 200]
    async with unit_of_work(sessions) as session:
        who = await registrar(session)
        await compliance.enter_verified(
            session, holder_id=a.id, right_type="emission", sub_type="COD", year=2026, quantity=50, actor=who
        )
        with pytest.raises(pledges.PledgeRefused):
            await pledges.pledge(session, holder_id=a.id, instrument_id=paid.id, quantity=1, **terms)
    await invariants(sessions)


async def test_free_lots_may_be_pledged_up_to_what_was_bought(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as session:
        who = await registrar(session)
        seller = await holder(session)
        buyer = await holder(session)
        free = await issue_to(session, who, seller, 1000, origin="free")
        transit = await book.account(session, "transit", free.id)
        source = await book.account(session, "holding", free.id, holder_id=seller.id)
        target = await book.account(session, "holding", free.id, holder_id=buyer.id)
        await book.move(
            session, source=source, target=transit, quantity=400, kind="delivery", reference="d1a", actor="t"
        )
        await book.move(
            session, source=transit, target=target, quantity=400, kind="delivery", reference="d1b", actor="t"
        )
        terms = {
            "pledgee_name": "某银行",
            "pledgee_code": credit_code(),
            "contract_reference": "ZY-2",
            "actor": "t",
        }
        done = await pledges.pledge(session, holder_id=buyer.id, instrument_id=free.id, quantity=400, **terms)
        assert done.status == "active"
        with pytest.raises(pledges.PledgeRefused):
            await pledges.pledge(session, holder_id=seller.id, instrument_id=free.id, quantity=1, **terms)
    await invariants(sessions)


async def test_surrender_is_final_and_shortfalls_stay_open(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as session:
        who = await registrar(session)
        a = await holder(session)
        cod = await issue_to(session, who, a, 1000)
        so2 = await issue_to(session, who, a, 1000, sub_type="SO2", basin=None)
        owed = await compliance.enter_verified(
            session, holder_id=a.id, right_type="emission", sub_type="COD", year=2026, quantity=800, actor=who
        )
        same = await compliance.enter_verified(
            session, holder_id=a.id, right_type="emission", sub_type="COD", year=2026, quantity=800, actor=who
        )
        assert same.id == owed.id
        with pytest.raises(Conflict) as other:
            await compliance.enter_verified(
                session,
                holder_id=a.id,
                right_type="emission",
                sub_type="COD",
                year=2026,
                quantity=801,
                actor=who,
            )
        assert other.value.code == "registry_obligation_conflict"
        with pytest.raises(Conflict) as mismatch:
            await compliance.surrender(
                session, obligation_id=owed.id, instrument_id=so2.id, quantity=1, actor="t"
            )
        assert mismatch.value.code == "registry_instrument_mismatch"
        await compliance.surrender(
            session, obligation_id=owed.id, instrument_id=cod.id, quantity=500, actor="t"
        )
        [row] = await compliance.compliance_of(session, a.id)
        assert (row.surrendered, row.shortfall, row.compliant) == (500, 300, False)
        with pytest.raises(book.InsufficientQuantity):
            await compliance.surrender(
                session, obligation_id=owed.id, instrument_id=cod.id, quantity=501, actor="t"
            )
        await compliance.surrender(
            session, obligation_id=owed.id, instrument_id=cod.id, quantity=300, actor="t"
        )
        [row] = await compliance.compliance_of(session, a.id)
        assert (row.surrendered, row.shortfall, row.compliant) == (800, 0, True)
        with pytest.raises(NotFound):
            await compliance.surrender(
                session, obligation_id=999, instrument_id=cod.id, quantity=1, actor="t"
            )
    assert await balances(sessions, f"holding:{a.id}:{cod.id}", f"surrendered:{cod.id}") == [200, 800]
    await invariants(sessions)


async def test_expiry_retires_holdings_reserve_and_withdraws_offers(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as session:
        who = await registrar(session)
        a = await holder(session)
        b = await holder(session)
        old = await issue_to(session, who, a, 1000, valid_from=date(2021, 1, 1), valid_until=ENDS)
        fresh = await issue_to(session, who, a, 1000)
        # a reserve remainder, an offer holding part of the holding, a pledge
        reserve_lot = await issue_to(session, who, None, 500, valid_from=date(2021, 1, 1), valid_until=ENDS)
        offer = Offer(
            holder_id=a.id,
            instrument_id=old.id,
            quantity=100,
            status="pending",
            created_by=who.user_id,
            created_at=old.created_at,
        )
        session.add(offer)
        await session.flush()
        hold = await book.account(session, "order_hold", old.id, holder_id=a.id, key=f"offer:{offer.id}")
        offer.hold_account_id = hold.id
        source = await book.account(session, "holding", old.id, holder_id=a.id)
        await book.move(
            session, source=source, target=hold, quantity=100, kind="offer", reference="o1", actor="t"
        )
        pledged = await pledges.pledge(
            session,
            holder_id=a.id,
            instrument_id=fresh.id,
            quantity=10,
            pledgee_name="某银行",
            pledgee_code=credit_code(),
            contract_reference="ZY-3",
            actor="t",
        )
    async with unit_of_work(sessions) as session:
        assert await expiry.retire_expired(session, ENDS) == 2
        assert await expiry.retire_expired(session, ENDS) == 0
        refreshed = await session.get(Offer, offer.id)
        assert refreshed is not None and refreshed.status == "released"
        refusal = TradeRefused("registry_expired", old, b)
        assert refusal.code == "registry_expired"
        with pytest.raises(book.InsufficientQuantity):  # the reserve expired too
            await issuance.allocate(
                session, instrument_id=reserve_lot.id, holder_id=b.id, quantity=1, reference="late", actor="t"
            )
    assert await balances(
        sessions,
        f"holding:{a.id}:{old.id}",
        f"order_hold:offer:{offer.id}",
        f"expired:{old.id}",
        f"reserve:{reserve_lot.id}",
        f"expired:{reserve_lot.id}",
        f"holding:{a.id}:{fresh.id}",
        f"pledged:{pledged.id}",
    ) == [0, 0, 1000, 0, 500, 990, 10]
    await invariants(sessions)


async def test_an_admin_creates_a_registrar_who_may_log_in(client: Client) -> None:
    admin = await staff(client, "admin")
    made = await client.post(
        "/api/v1/users/staff",
        json={"username": "registrar-one", "password": PASSWORD, "role": "registrar"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    assert made.json()["role"] == "registrar"
    me = await client.get("/api/v1/users/me", headers=await token_for(client, "registrar-one"))
    assert me.status_code == 200 and me.json()["role"] == "registrar"
    helper = await registrar_token(client)
    assert (await client.get("/api/v1/users/me", headers=helper)).json()["role"] == "registrar"

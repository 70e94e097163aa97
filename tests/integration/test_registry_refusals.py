"""A delivery that cannot happen gives the buyer's money back, and never fails a bank payment.

Through the real app on PostgreSQL and SQLite: the registrar refuses a water abstraction transfer;
a lot expires between the sale and the payment (rule 5: eligibility again at delivery, even before
the 00:01 expiry job); the order hold is short when the line is paid; a buyer whose basin the
registrar corrected after the close is refused at the confirmation. Each time the bank notice (or
the confirmation) succeeds, nothing of the DvP is posted, the winner's line is undone with nothing
forfeited (price and fee reversed, deposit and payments refunded) and the quantity goes back.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from exchange.audit.models import AuditEntry
from exchange.clock import utcnow
from exchange.db import unit_of_work
from exchange.money import format_yuan
from settlement.lines import load_installments, receivable_code, seller_payable_code
from settlement.models import LedgerTransaction
from settlement.notice_models import Notice
from settlement.registry import book, offers
from settlement.registry.models import RegistryAccount
from settlement.settlement_models import Settlement, SettlementLine
from tests.support.api import Client
from tests.support.bank import deliver as bank_deliver
from tests.support.bank import notice
from tests.support.dvp import (
    Party,
    balance_of,
    deliveries,
    enterprise,
    expire,
    holding,
    issue,
    ledgers_sound,
    lines,
    listed,
    money,
    offer,
    offer_row,
    pay_line,
    payouts,
    people,
    qualify,
    refunds,
    registry_txn,
    run_auction,
    sold_by_english,
)
from tests.support.follow_up import day_end, stop_follow_up

pytestmark = pytest.mark.databases()

ISSUED = 20_000
OFFERED = 12_500
WATER = {
    "asset_class": "water_right",
    "right_type": "water",
    "sub_type": "abstraction_permit",
    "water_source": "太湖",
}


async def _settlement(client: Client, listing_id: int) -> Settlement:
    async with client.app.state.sessions() as session:
        found = await session.get(Settlement, listing_id)
        assert found is not None
        return found


async def _line(client: Client, line_id: int) -> SettlementLine:
    async with client.app.state.sessions() as session:
        found = await session.get(SettlementLine, line_id)
        assert found is not None
        return found


async def _registry_audit(client: Client, action: str) -> list[dict[str, Any]]:
    async with client.app.state.sessions() as session:
        query = select(AuditEntry.payload).where(AuditEntry.stream == "registry", AuditEntry.action == action)
        return [dict(p) for p in (await session.execute(query)).scalars()]


async def _undone(client: Client, line: SettlementLine, *, paid: int) -> None:
    """The winner's line undone as an annulment: nothing forfeited, every fen back, no payout."""
    lid = line.listing_id
    reference = f"sale:{lid}:{line.application_id}"
    after = await _line(client, line.id)
    assert (after.status, after.forfeited) == ("annulled", 0)
    back = await refunds(client, f"refused:{reference}:")
    assert back.get("deposit_refunded", 0) == line.deposit_applied
    assert back.get("payment_refunded", 0) == paid
    assert sum(back.values()) == line.deposit_applied + paid
    assert await money(client, receivable_code(lid, line.application_id)) == 0
    assert await registry_txn(client, f"deliver:{reference}") is None
    assert [p for p, t in await payouts(client, lid) if t.reference == f"seller_payout:{reference}"] == []
    async with client.app.state.sessions() as session:
        reversed_ = (
            await session.execute(
                select(LedgerTransaction).where(LedgerTransaction.reference == f"refused:{reference}:reverse")
            )
        ).scalar_one()
        assert reversed_.kind == "sale_reversed"
        notices = (
            await session.execute(
                select(Notice).where(Notice.user_id == line.bidder_id, Notice.kind == "delivery_refused")
            )
        ).all()
        assert len(notices) == 1


async def test_a_refused_abstraction_transfer_refunds_the_buyer_in_full(client: Client) -> None:
    registrar, _, seller, buyer, instrument, listing, made = await sold_by_english(
        client, issued=ISSUED, offered=OFFERED, **WATER
    )
    lid = listing["id"]
    line = (await lines(client, lid))[buyer.user_id]
    await pay_line(client, line)
    (waiting,) = await deliveries(client, lid)
    assert waiting.status == "awaiting_approval"

    refused = await client.post(
        f"/api/v1/registry/deliveries/{waiting.id}/refuse",
        json={"reason": "取水许可审批机关不予批准"},
        headers=registrar,
    )
    assert refused.status_code == 200, refused.text
    (delivery,) = await deliveries(client, lid)
    assert delivery.status == "refused" and delivery.registry_transaction_id is None
    await _undone(client, line, paid=line.amount_due)
    settlement = await _settlement(client, lid)
    assert settlement.status == "annulled"
    assert "取水许可审批机关不予批准" in (settlement.annulled_reason or "")
    # the seller keeps no price and the exchange no fee: the sale never happened
    assert await money(client, seller_payable_code(lid)) == 0
    assert await holding(client, seller, instrument) == ISSUED
    assert await holding(client, buyer, instrument) == 0
    assert await balance_of(client, f"order_hold:offer:{made['id']}") == 0
    assert (await offer_row(client, made["id"])).status == "released"
    await ledgers_sound(client)
    # decided once
    again = await client.post(
        f"/api/v1/registry/deliveries/{waiting.id}/refuse", json={"reason": "再次"}, headers=registrar
    )
    assert again.status_code == 409 and again.json()["code"] == "registry_delivery_state"


async def test_an_approval_of_a_lot_expired_while_waiting_is_refused_with_its_code(client: Client) -> None:
    registrar, _, seller, buyer, instrument, listing, made = await sold_by_english(
        client, issued=ISSUED, offered=OFFERED, **WATER
    )
    lid = listing["id"]
    line = (await lines(client, lid))[buyer.user_id]
    await pay_line(client, line)
    (waiting,) = await deliveries(client, lid)
    await expire(client, instrument)

    approved = await client.post(f"/api/v1/registry/deliveries/{waiting.id}/approve", headers=registrar)
    assert approved.status_code == 409, approved.text
    assert approved.json()["code"] == "registry_expired"
    (still,) = await deliveries(client, lid)
    assert still.status == "awaiting_approval" and still.approved_by is None
    assert await holding(client, buyer, instrument) == 0
    assert await payouts(client, lid) == []
    assert await balance_of(client, f"order_hold:offer:{made['id']}") == OFFERED
    # the registrar then refuses it, which undoes the sale
    refused = await client.post(
        f"/api/v1/registry/deliveries/{waiting.id}/refuse", json={"reason": "有效期已届满"}, headers=registrar
    )
    assert refused.status_code == 200, refused.text
    await _undone(client, line, paid=line.amount_due)
    assert await holding(client, seller, instrument) == ISSUED
    await ledgers_sound(client)


async def test_a_lot_expired_by_the_payment_is_refunded_and_the_bank_notice_succeeds(client: Client) -> None:
    _, _, seller, buyer, instrument, listing, made = await sold_by_english(
        client, issued=ISSUED, offered=OFFERED
    )
    lid = listing["id"]
    line = (await lines(client, lid))[buyer.user_id]
    await expire(client, instrument)  # after 00:00, before the 00:01 expiry job

    sent = notice(line.payment_account, format_yuan(line.amount_due), utcnow(), "EXPIRED1")
    paid = (await bank_deliver(client, sent)).json()
    assert (paid["outcome"], paid["duplicate"]) == ("payment", False)
    async with client.app.state.sessions() as session:  # the bank's money is booked
        booked = (
            await session.execute(
                select(LedgerTransaction).where(LedgerTransaction.reference == "bank:EXPIRED1")
            )
        ).scalar_one()
        assert booked.kind == "payment_received"
    (delivery,) = await deliveries(client, lid)
    assert delivery.status == "refused"
    await _undone(client, line, paid=line.amount_due)
    assert (await _settlement(client, lid)).status == "annulled"
    assert await holding(client, seller, instrument) == ISSUED
    assert await holding(client, buyer, instrument) == 0
    assert await balance_of(client, f"order_hold:offer:{made['id']}") == 0
    assert [p["reason"] for p in await _registry_audit(client, "registry.delivery_refused")] == [
        "registry_expired"
    ]
    # the same notice again: a duplicate, nothing refunded twice
    again = await bank_deliver(client, sent)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert (
        sum((await refunds(client, f"refused:sale:{lid}:")).values())
        == line.deposit_applied + line.amount_due
    )
    await ledgers_sound(client)


async def test_a_short_hold_at_the_payment_rolls_back_only_the_dvp(client: Client) -> None:
    _, _, seller, buyer, instrument, listing, made = await sold_by_english(
        client, issued=ISSUED, offered=OFFERED
    )
    lid = listing["id"]
    line = (await lines(client, lid))[buyer.user_id]
    # a defect elsewhere took quantity out of the order hold: the DvP's quantity leg cannot post
    async with unit_of_work(client.app.state.sessions) as session:
        hold = (
            await session.execute(
                select(RegistryAccount).where(RegistryAccount.code == f"order_hold:offer:{made['id']}")
            )
        ).scalar_one()
        frozen = await book.account(session, "frozen", instrument, key="test")
        await book.move(
            session, source=hold, target=frozen, quantity=1, kind="test", reference="test:short", actor="test"
        )

    paid = await pay_line(client, line, txn_id="SHORT1")
    assert paid["outcome"] == "payment"
    (delivery,) = await deliveries(client, lid)
    assert delivery.status == "refused" and delivery.ledger_transaction_id is None
    failed = await _registry_audit(client, "registry.delivery_failed")
    assert [(p["delivery_id"], p["reason"]) for p in failed] == [(delivery.id, "registry_insufficient")]
    await _undone(client, line, paid=line.amount_due)
    # what the hold still had went back; nothing reached the buyer or transit
    assert await holding(client, seller, instrument) == ISSUED - 1
    assert await holding(client, buyer, instrument) == 0
    assert await balance_of(client, f"transit:{instrument}") == 0
    await ledgers_sound(client)


async def _uniform_sale_with_two_refused(
    client: Client,
) -> tuple[Party, Party, Party, Party, int, dict[str, Any], dict[int, SettlementLine]]:
    """A uniform-price sale of 12 t/a (10 t/a sold) to three winners; the registrar corrected two
    winners' basin after they qualified. The one whose deposit pays its line (1 t/a) is refused at
    the confirmation, which runs in the close and must not fail; the first (5 t/a) then pays and is
    refused at its payment. The second (4 t/a) still owes. (seller, first, second, small,
    instrument, offer, lines by bidder)."""
    registrar, operator = await people(client)
    seller = await enterprise(client)
    first, second, small = [await enterprise(client) for _ in range(3)]
    instrument = await issue(client, registrar, seller, ISSUED)
    made = await offer(client, seller.headers, instrument, 12_000)
    listing = await listed(
        client,
        operator,
        made["id"],
        "emission_right",
        "uniform_price",
        start_price="100000.00",
        increment="1000.00",
        lot="1.000",
        undersubscribed="sell_available",
    )
    lid = listing["id"]
    for buyer in (first, second, small):
        await qualify(client, operator, listing, buyer)
    for party in (small, first):
        corrected = await client.post(
            f"/api/v1/registry/holders/{party.credit_code}/verify", json={"basin": "黄河"}, headers=registrar
        )
        assert corrected.status_code == 200, corrected.text
    stop_follow_up(client)
    bids: list[tuple[Party, dict[str, Any]]] = [
        (first, {"amount": "120000.00", "quantity": "5.000"}),
        (second, {"amount": "110000.00", "quantity": "4.000"}),
        (small, {"amount": "100000.00", "quantity": "1.000"}),
    ]
    await run_auction(client, operator, lid, bids)  # closed, settled, confirmed (no 公示 here)
    by_bidder = await lines(client, lid)
    paid = await pay_line(client, by_bidder[first.user_id])
    assert paid["outcome"] == "payment"
    return seller, first, second, small, instrument, made, by_bidder


async def test_winners_moved_out_of_the_basin_are_refused_at_the_confirmation_and_payment(
    client: Client,
) -> None:
    seller, first, second, small, instrument, made, by_bidder = await _uniform_sale_with_two_refused(client)
    covered = by_bidder[small.user_id]
    assert covered.amount_due == 0  # its deposit paid it: delivered (here refused) at the confirmation
    refused = {d.buyer_id: d.status for d in await deliveries(client, covered.listing_id)}
    assert refused == {small.holder_id: "refused", first.holder_id: "refused"}
    await _undone(client, covered, paid=0)
    await _undone(client, by_bidder[first.user_id], paid=by_bidder[first.user_id].amount_due)
    assert await holding(client, small, instrument) == 0
    assert await holding(client, first, instrument) == 0
    # 2 t/a unsold, then 1 and 5 t/a refused went back; the second winner's 4 t/a stay held
    assert await balance_of(client, f"order_hold:offer:{made['id']}") == 4_000
    assert await holding(client, seller, instrument) == ISSUED - 4_000

    # the second winner still owes: the other lines' refusal does not stop its follow-up
    assert (await _settlement(client, covered.listing_id)).status == "annulled"
    owing = await _line(client, by_bidder[second.user_id].id)
    assert owing.status == "pending_payment"
    async with client.app.state.sessions() as session:
        due = min(i.due_date for i in await load_installments(session, owing.id) if i.status == "pending")
    assert await day_end(client, due + timedelta(days=12)) >= 1  # past it even across a holiday week
    # it pays what it owes now (late fees included) and is delivered
    await pay_line(client, await _line_due(client, owing))
    assert await holding(client, second, instrument) == 4_000
    assert await balance_of(client, f"order_hold:offer:{made['id']}") == 0
    assert (await offer_row(client, made["id"])).status == "sold"
    await ledgers_sound(client)


async def test_a_line_released_twice_moves_nothing_the_second_time(client: Client) -> None:
    seller, first, _, _, instrument, made, by_bidder = await _uniform_sale_with_two_refused(client)
    assert await balance_of(client, f"order_hold:offer:{made['id']}") == 4_000
    # asked again (its hold now less than the line's 5 t/a), the release moves nothing: the hold's
    # 4 t/a are the second winner's
    async with unit_of_work(client.app.state.sessions) as session:
        line = await session.get(SettlementLine, by_bidder[first.user_id].id)
        assert line is not None
        await offers.release_line(session, line, "again", "test")
    assert await balance_of(client, f"order_hold:offer:{made['id']}") == 4_000
    assert await holding(client, seller, instrument) == ISSUED - 4_000
    await ledgers_sound(client)


async def _line_due(client: Client, line: SettlementLine) -> SettlementLine:
    """The line with what it owes now (its late fees included) as its amount due."""
    fresh = await _line(client, line.id)
    fresh.amount_due = await money(client, receivable_code(line.listing_id, line.application_id))
    return fresh

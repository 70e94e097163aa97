"""Delivery versus payment through the real app, on PostgreSQL and SQLite.

A holder's offer is approved into a listing, published, bid for, closed and paid in full
through signed bank notices; the quantity reaches the buyer's holding in the same transaction
as the seller's payout instruction (settlement/registry/delivery.py). A failed sale and a
rescission give the quantity back; a water abstraction permit waits for the registrar.
"""

from __future__ import annotations

from typing import Any

import pytest

from settlement.lines import seller_payable_code
from settlement.registry import book
from tests.support.api import Client
from tests.support.dvp import (
    Party,
    balance_of,
    deliveries,
    enterprise,
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
    registry_txn,
    run_auction,
    sold_by_english,
)
from tests.support.follow_up import rescind_after_grace

pytestmark = pytest.mark.databases()

ISSUED = 20_000  # kg/a: 20 t/a of COD
OFFERED = 12_500


async def _sold_by_english(
    client: Client, *, asset_class: str = "emission_right", **lot: Any
) -> tuple[dict[str, str], dict[str, str], Party, Party, int, dict[str, Any], dict[str, Any]]:
    """A seller's offer sold by an English auction to one buyer; not paid yet."""
    return await sold_by_english(client, asset_class=asset_class, issued=ISSUED, offered=OFFERED, **lot)


async def test_a_paid_sale_delivers_the_quantity_and_pays_the_seller_at_once(client: Client) -> None:
    registrar, _, seller, buyer, instrument, listing, made = await _sold_by_english(client)
    lid = listing["id"]
    assert listing["asset_class"] == "emission_right"
    assert listing["attributes"]["quantity"] == "12.5" or listing["attributes"]["quantity"] == "12.500"
    assert listing["seller"]["credit_code"] == seller.credit_code
    # encumbered from the offer until the payment, then delivered
    assert await holding(client, seller, instrument) == ISSUED - OFFERED
    assert await balance_of(client, f"order_hold:offer:{made['id']}") == OFFERED
    line = (await lines(client, lid))[buyer.user_id]
    assert await deliveries(client, lid) == []
    paid = await pay_line(client, line)
    assert paid["outcome"] == "payment"

    assert await holding(client, buyer, instrument) == OFFERED
    assert await holding(client, seller, instrument) == ISSUED - OFFERED
    assert await balance_of(client, f"order_hold:offer:{made['id']}") == 0
    assert await balance_of(client, f"transit:{instrument}") == 0
    (delivery,) = await deliveries(client, lid)
    assert (delivery.status, delivery.quantity, delivery.price) == ("delivered", OFFERED, line.price)
    assert delivery.permit_change == "pending"  # the 排污许可证 changes too
    assert delivery.seller_id == seller.holder_id and delivery.buyer_id == buyer.holder_id
    quantity_leg = await registry_txn(client, f"deliver:sale:{lid}:{line.application_id}")
    assert quantity_leg is not None and quantity_leg.id == delivery.registry_transaction_id
    ((payout, money_leg),) = await payouts(client, lid)
    assert money_leg.id == delivery.ledger_transaction_id
    assert payout.amount == line.price and payout.status == "pending"
    assert seller.credit_code in (payout.payee_account or "")
    # the seller is owed nothing more: its price went out with the delivery, the fee stays earned
    assert await money(client, seller_payable_code(lid)) == 0
    assert (await offer_row(client, made["id"])).status == "sold"
    await ledgers_sound(client)
    # the same bank notice again changes nothing
    again = await pay_line(client, line, txn_id=None)
    assert again["outcome"] == "suspense"
    assert len(await deliveries(client, lid)) == 1 and len(await payouts(client, lid)) == 1

    confirmed = await client.post(
        f"/api/v1/registry/deliveries/{delivery.id}/permit-change", headers=registrar
    )
    assert confirmed.status_code == 200, confirmed.text
    assert (await deliveries(client, lid))[0].permit_change == "confirmed"
    twice = await client.post(f"/api/v1/registry/deliveries/{delivery.id}/permit-change", headers=registrar)
    assert twice.status_code == 409 and twice.json()["code"] == "registry_delivery_state"


async def test_a_failed_auction_gives_the_quantity_back(client: Client) -> None:
    registrar, operator = await people(client)
    seller = await enterprise(client)
    instrument = await issue(client, registrar, seller, ISSUED)
    made = await offer(client, seller.headers, instrument, OFFERED)
    listing = await listed(client, operator, made["id"])
    assert await holding(client, seller, instrument) == ISSUED - OFFERED
    await run_auction(client, operator, listing["id"], [])
    assert await holding(client, seller, instrument) == ISSUED
    assert await balance_of(client, f"order_hold:offer:{made['id']}") == 0
    assert (await offer_row(client, made["id"])).status == "released"
    assert await deliveries(client, listing["id"]) == []
    await ledgers_sound(client)


async def test_a_water_abstraction_permit_waits_for_the_registrar(client: Client) -> None:
    registrar, _, _seller, buyer, instrument, listing, _ = await _sold_by_english(
        client,
        asset_class="water_right",
        right_type="water",
        sub_type="abstraction_permit",
        water_source="太湖",
    )
    lid = listing["id"]
    line = (await lines(client, lid))[buyer.user_id]
    await pay_line(client, line)
    (waiting,) = await deliveries(client, lid)
    assert waiting.status == "awaiting_approval" and waiting.registry_transaction_id is None
    assert await holding(client, buyer, instrument) == 0
    assert await payouts(client, lid) == []
    # only the registrar consents
    refused = await client.post(f"/api/v1/registry/deliveries/{waiting.id}/approve", headers=buyer.headers)
    assert refused.status_code == 403
    approved = await client.post(f"/api/v1/registry/deliveries/{waiting.id}/approve", headers=registrar)
    assert approved.status_code == 200, approved.text
    (delivery,) = await deliveries(client, lid)
    assert delivery.status == "delivered" and delivery.permit_change == "pending"
    assert await holding(client, buyer, instrument) == OFFERED
    ((payout, _),) = await payouts(client, lid)
    assert payout.amount == line.price
    await ledgers_sound(client)


async def test_a_rescinded_sale_gives_the_quantity_back(client: Client) -> None:
    _, operator, seller, buyer, instrument, listing, made = await _sold_by_english(client)
    lid = listing["id"]
    await rescind_after_grace(client, operator, lid)
    assert await holding(client, seller, instrument) == ISSUED
    assert await holding(client, buyer, instrument) == 0
    assert await balance_of(client, f"order_hold:offer:{made['id']}") == 0
    assert (await offer_row(client, made["id"])).status == "released"
    assert await deliveries(client, lid) == []
    await ledgers_sound(client)


async def test_uniform_price_delivers_each_winner_its_allocation(client: Client) -> None:
    registrar, operator = await people(client)
    seller = await enterprise(client)
    buyers = [await enterprise(client) for _ in range(3)]
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
        quantity="99.000",  # the offer's quantity wins over the body's
        lot="1.000",
        undersubscribed="sell_available",
    )
    assert listing["method_params"]["quantity"] in ("12", "12.000")
    for buyer in buyers:
        await qualify(client, operator, listing, buyer)
    bids = [
        (buyers[0], {"amount": "120000.00", "quantity": "5.000"}),
        (buyers[1], {"amount": "110000.00", "quantity": "4.000"}),
        (buyers[2], {"amount": "100000.00", "quantity": "1.000"}),
    ]
    await run_auction(client, operator, listing["id"], bids)
    lid = listing["id"]
    # 10 t/a sold: the 2 t/a nobody bought went back at the close
    assert await holding(client, seller, instrument) == ISSUED - 10_000
    by_bidder = await lines(client, lid)
    # the 1 t/a line was covered by its deposit at the close: paid, and delivered, at once
    assert by_bidder[buyers[2].user_id].amount_due == 0
    assert await holding(client, buyers[2], instrument) == 1_000
    assert await balance_of(client, f"order_hold:offer:{made['id']}") == 9_000
    for buyer in buyers[:2]:
        await pay_line(client, by_bidder[buyer.user_id])
    for buyer, kg in zip(buyers, (5_000, 4_000, 1_000), strict=True):
        assert await holding(client, buyer, instrument) == kg
    assert {(d.buyer_id, d.quantity, d.status) for d in await deliveries(client, lid)} == {
        (b.holder_id, kg, "delivered") for b, kg in zip(buyers, (5_000, 4_000, 1_000), strict=True)
    }
    assert sorted(p.amount for p, _ in await payouts(client, lid)) == sorted(
        line.price for line in by_bidder.values()
    )
    assert await balance_of(client, f"order_hold:offer:{made['id']}") == 0
    assert (await offer_row(client, made["id"])).status == "sold"
    assert await money(client, seller_payable_code(lid)) == 0
    assert book.code("transit", instrument) == f"transit:{instrument}"
    await ledgers_sound(client)

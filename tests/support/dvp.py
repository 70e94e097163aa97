"""Selling a registered right through the exchange, over HTTP, as its parties do.

The registrar issues a lot to a seller's holding, the seller offers part of it, an operator
approves the offer into a draft listing and publishes it; buyers open their registry accounts,
apply, pay their deposits (signed bank notices) and bid; after the close the winners pay their
lines (bank notices again) and the registry delivers (settlement/registry/delivery.py).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select, update

from exchange.clock import utcnow
from exchange.db import unit_of_work
from exchange.money import format_yuan
from listings.workdays import local_date
from settlement import closing, ledger
from settlement.models import LedgerEntry, LedgerTransaction, RefundInstruction
from settlement.registry import book
from settlement.registry.models import Delivery, Instrument, Offer, RegistryAccount, RegistryTransaction
from settlement.settlement_models import SettlementLine
from tests.support.api import Client, register_bidder, staff, token_for
from tests.support.bank import deliver, notice
from tests.support.flow import decide, publish_in_time, start_bidding, use_sandbox, wait_status
from tests.support.ids import credit_code
from tests.support.listings import listing_body, sandbox_schedule
from tests.support.registry import open_verified

_refs = itertools.count(1)

SUZHOU = "320505"
"""Suzhou's 虎丘区: the seller's and the eligible buyers' prefecture (3205), basin 太湖."""
TAIHU = "太湖"


@dataclass(frozen=True)
class Party:
    headers: dict[str, str]
    user_id: int
    credit_code: str
    holder_id: int | None


async def user_id(client: Client, headers: dict[str, str]) -> int:
    return int((await client.get("/api/v1/users/me", headers=headers)).json()["id"])


async def enterprise(client: Client, *, region_code: str | None = SUZHOU, basin: str | None = TAIHU) -> Party:
    """A bidder enterprise; with its registry account unless ``region_code`` is None, opened by the
    registrar and so verified (an account the enterprise opens itself trades nothing until then)."""
    code = credit_code()
    user = await register_bidder(client, credit_code=code)
    headers = await token_for(client, user["username"])
    holder_id = None
    if region_code is not None:
        holder_id = await open_verified(
            client, code, f"{user['username']} 有限公司", region_code=region_code, basin=basin
        )
    return Party(headers, int(user["id"]), code, holder_id)


async def issue(
    client: Client,
    registrar: dict[str, str],
    holder: Party | None,
    quantity: int,
    *,
    right_type: str = "emission",
    sub_type: str = "COD",
    region_code: str = SUZHOU,
    basin: str | None = TAIHU,
    water_source: str | None = None,
) -> int:
    """A lot issued to ``holder``'s holding (or the reserve); its instrument id."""
    today = date.today()
    body: dict[str, Any] = {
        "right_type": right_type,
        "sub_type": sub_type,
        "region_code": region_code,
        "valid_from": (today - timedelta(days=30)).isoformat(),
        "valid_until": (today + timedelta(days=3 * 365)).isoformat(),
        "origin": "paid",
        "legal_basis": "苏环排污权〔2026〕1号",
        "quantity": quantity,
        "reference": f"dvp-{utcnow().timestamp()}-{next(_refs)}",
    }
    if basin is not None:
        body["basin"] = basin
    if water_source is not None:
        body["water_source"] = water_source
    if holder is not None:
        body["holder_credit_code"] = holder.credit_code
    issued = await client.post("/api/v1/registry/instruments", json=body, headers=registrar)
    assert issued.status_code in (200, 201), issued.text
    return int(issued.json()["instrument"]["id"])


async def offer(client: Client, seller: dict[str, str], instrument_id: int, quantity: int) -> dict[str, Any]:
    made = await client.post(
        "/api/v1/registry/offers",
        json={"instrument_id": instrument_id, "quantity": quantity},
        headers=seller,
    )
    assert made.status_code in (200, 201), made.text
    return dict(made.json())


async def listed(
    client: Client,
    operator: dict[str, str],
    offer_id: int,
    asset_class: str = "emission_right",
    method: str = "english",
    **body: Any,
) -> dict[str, Any]:
    """The offer approved into a draft, published, and open for registration for a long while."""
    use_sandbox(client)

    def schedule() -> dict[str, Any]:
        return sandbox_schedule(
            utcnow() + timedelta(seconds=1.5),
            registration=0.1,
            registration_closes=600,
            bidding=601,
            closes=610,
        )

    body.setdefault("attributes", {"region": "苏州市虎丘区", "use": "industrial"})
    fields = listing_body(asset_class, method, schedule=schedule(), **body)
    approved = await client.post(f"/api/v1/registry/offers/{offer_id}/approve", json=fields, headers=operator)
    assert approved.status_code == 200, approved.text
    draft = approved.json()
    assert draft["status"] == "draft"
    published = await publish_in_time(client, draft["id"], operator, schedule)
    await wait_status(client, draft["id"], "registration")
    return published


async def qualify(
    client: Client, operator: dict[str, str], listing: dict[str, Any], buyer: Party
) -> dict[str, Any]:
    """``buyer`` applies, is approved and pays its deposit: its application, qualified."""
    applied = await client.post(f"/api/v1/listings/{listing['id']}/applications", headers=buyer.headers)
    assert applied.status_code == 201, applied.text
    application = applied.json()
    await decide(client, operator, application["id"])
    paid = await deliver(client, notice(application["deposit_account"], application["deposit_due"], utcnow()))
    assert paid.status_code == 200 and paid.json()["outcome"] == "deposit", paid.text
    view = (await client.get(f"/api/v1/applications/{application['id']}", headers=buyer.headers)).json()
    assert view["status"] == "qualified", view
    return dict(view)


async def run_auction(
    client: Client,
    operator: dict[str, str],
    listing_id: int,
    bids: list[tuple[Party, dict[str, Any]]],
) -> None:
    """Bidding opens now, each party places its bid, the auction closes and is settled."""
    await start_bidding(client, operator, listing_id, closes_in=2, extension=1)
    if bids:  # with nobody qualified the auction fails as bidding opens
        await wait_status(client, listing_id, "bidding", timeout=30)
    for n, (party, body) in enumerate(bids):
        placed = await client.post(
            f"/api/v1/auctions/{listing_id}/bids",
            json=body,
            headers={**party.headers, "Idempotency-Key": f"dvp-{listing_id}-{n}"},
        )
        assert placed.status_code == 201, placed.text
    final = "closed" if bids else "failed"
    await wait_status(client, listing_id, final, timeout=30)
    async with unit_of_work(client.app.state.sessions) as session:
        await closing.settle(session, listing_id, client.app.state.settings.settlement)


async def sold_by_english(
    client: Client, *, asset_class: str = "emission_right", issued: int, offered: int, **lot: Any
) -> tuple[dict[str, str], dict[str, str], Party, Party, int, dict[str, Any], dict[str, Any]]:
    """A seller's offer sold by an English auction to one buyer; not paid yet:
    (registrar, operator, seller, buyer, instrument id, listing, offer)."""
    registrar, operator = await people(client)
    seller, buyer = await enterprise(client), await enterprise(client)
    instrument = await issue(client, registrar, seller, issued, **lot)
    made = await offer(client, seller.headers, instrument, offered)
    listing = await listed(client, operator, made["id"], asset_class)
    await qualify(client, operator, listing, buyer)
    await run_auction(client, operator, listing["id"], [(buyer, {"amount": listing["start_price"]})])
    return registrar, operator, seller, buyer, instrument, listing, made


async def expire(client: Client, instrument_id: int) -> None:
    """Time passes: today (China's date) is the lot's ``valid_until``, so it may no longer be
    transferred (rule 7), though the 00:01 expiry job has not retired it yet."""
    async with unit_of_work(client.app.state.sessions) as session:
        await session.execute(
            update(Instrument).where(Instrument.id == instrument_id).values(valid_until=local_date(utcnow()))
        )


async def refunds(client: Client, stem: str) -> dict[str, int]:
    """The refund instructions whose ledger reference starts with ``stem``: amount by kind."""
    async with client.app.state.sessions() as session:
        query = (
            select(LedgerTransaction.kind, RefundInstruction.amount)
            .join(LedgerTransaction, LedgerTransaction.id == RefundInstruction.transaction_id)
            .where(LedgerTransaction.reference.startswith(stem))
        )
        found: dict[str, int] = {}
        for kind, amount in (await session.execute(query)).all():
            found[kind] = found.get(kind, 0) + int(amount)
        return found


async def money(client: Client, code: str) -> int:
    async with client.app.state.sessions() as session:
        return await ledger.balance(session, code)


async def lines(client: Client, listing_id: int) -> dict[int, SettlementLine]:
    """The listing's lines by bidder (user id)."""
    async with client.app.state.sessions() as session:
        rows = await session.execute(select(SettlementLine).where(SettlementLine.listing_id == listing_id))
        return {line.bidder_id: line for line in rows.scalars()}


async def pay_line(client: Client, line: SettlementLine, txn_id: str | None = None) -> dict[str, Any]:
    paid = await deliver(client, notice(line.payment_account, format_yuan(line.amount_due), utcnow(), txn_id))
    assert paid.status_code == 200, paid.text
    return dict(paid.json())


async def balance_of(client: Client, account_code: str) -> int:
    async with client.app.state.sessions() as session:
        found = (
            await session.execute(select(RegistryAccount).where(RegistryAccount.code == account_code))
        ).scalar_one_or_none()
        return 0 if found is None else await book.balance(session, found.id)


async def holding(client: Client, party: Party, instrument_id: int) -> int:
    assert party.holder_id is not None
    return await balance_of(client, book.code("holding", instrument_id, holder_id=party.holder_id))


async def offer_row(client: Client, offer_id: int) -> Offer:
    async with client.app.state.sessions() as session:
        found: Offer | None = await session.get(Offer, offer_id)
        assert found is not None
        return found


async def deliveries(client: Client, listing_id: int) -> list[Delivery]:
    async with client.app.state.sessions() as session:
        query = select(Delivery).where(Delivery.listing_id == listing_id).order_by(Delivery.id)
        return list((await session.execute(query)).scalars())


async def payouts(client: Client, listing_id: int) -> list[tuple[RefundInstruction, LedgerTransaction]]:
    """The seller payout instructions of a listing with their ledger transactions."""
    async with client.app.state.sessions() as session:
        query = (
            select(RefundInstruction, LedgerTransaction)
            .join(LedgerTransaction, LedgerTransaction.id == RefundInstruction.transaction_id)
            .where(LedgerTransaction.listing_id == listing_id, LedgerTransaction.kind == "seller_payout")
            .order_by(RefundInstruction.id)
        )
        return [(r, t) for r, t in (await session.execute(query)).all()]


async def ledgers_sound(client: Client) -> None:
    """Both ledgers balance, and no registry balance is negative."""
    async with client.app.state.sessions() as session:
        assert await book.unbalanced_transactions(session) == []
        assert set((await book.trial_balance(session)).values()) <= {0}
        assert await book.negative_balances(session) == []
        total = (await session.execute(select(func.coalesce(func.sum(LedgerEntry.amount), 0)))).scalar_one()
        assert int(total) == 0


async def registry_txn(client: Client, reference: str) -> RegistryTransaction | None:
    async with client.app.state.sessions() as session:
        return await book.transaction_by_reference(session, reference)


async def people(client: Client) -> tuple[dict[str, str], dict[str, str]]:
    """(registrar, operator) headers."""
    return await staff(client, "registrar"), await staff(client, "operator")

"""Guards around the registry's sales, on PostgreSQL and SQLite:

- the draft of an offer keeps the right, quantity, method and seller the offer fixed, and is
  published only while it still sells what the offer holds, in time to settle before expiry;
- a pledge is enforced only to its pledgee, and only if the pledgee may hold the right;
- the expiry job leaves a running sale's hold alone, withdraws pending offers, and retires each
  lot in its own transaction, so one lot's failure does not hold back the others.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import select

from exchange.clock import utcnow
from exchange.db import unit_of_work
from exchange.errors import Conflict
from exchange.identity.tokens import Principal
from exchange.settings import Settings
from listings import services as listing_services
from listings.models import Listing
from listings.schemas import ListingUpdate
from settlement.registry import book, expiry, pledges
from settlement.registry.models import Holder, Instrument, Offer, RegistryAccount
from tests.support.api import Client
from tests.support.dvp import (
    SUZHOU,
    TAIHU,
    Party,
    balance_of,
    enterprise,
    holding,
    issue,
    ledgers_sound,
    listed,
    offer,
    offer_row,
    people,
    user_id,
)
from tests.support.flow import use_sandbox
from tests.support.ids import credit_code
from tests.support.listings import listing_body, sandbox_schedule
from tests.support.registry import BASIN, Sessions, holder, issue_to, registrar, sessions_of

pytestmark = pytest.mark.databases()


@pytest.fixture
async def sessions(db: str, settings: Settings) -> AsyncIterator[Sessions]:
    async with sessions_of(settings) as made:
        yield made


def _body(method: str = "english", asset_class: str = "emission_right", **body: Any) -> dict[str, Any]:
    body.setdefault("attributes", {"region": "苏州市虎丘区", "use": "industrial"})
    schedule = sandbox_schedule(utcnow() + timedelta(seconds=30), registration=1, bidding=60, closes=120)
    return listing_body(asset_class, method, schedule=schedule, **body)


async def _draft(
    client: Client,
    operator: dict[str, str],
    offer_id: int,
    method: str = "english",
    asset_class: str = "emission_right",
) -> int:
    use_sandbox(client)
    approved = await client.post(
        f"/api/v1/registry/offers/{offer_id}/approve", json=_body(method, asset_class), headers=operator
    )
    assert approved.status_code == 200, approved.text
    return int(approved.json()["id"])


async def _operator(client: Client, headers: dict[str, str]) -> Principal:
    return Principal(await user_id(client, headers), "operator", "operator")


async def _edit(client: Client, listing_id: int, who: Principal, **changes: Any) -> Listing:
    async with client.app.state.sessions() as session:
        return await listing_services.update_listing(
            session,
            listing_id,
            msgspec.convert(changes, ListingUpdate),
            who,
            hooks=client.app.state.listing_hooks,
        )


async def _publish(client: Client, listing_id: int, who: Principal) -> Listing:
    async with client.app.state.sessions() as session:
        return await listing_services.publish(
            session, listing_id, who, "sandbox", hooks=client.app.state.listing_hooks
        )


async def _listing(client: Client, listing_id: int) -> Listing:
    async with client.app.state.sessions() as session:
        found: Listing | None = await session.get(Listing, listing_id)
        assert found is not None
        return found


async def _valid_until(client: Client, instrument_id: int) -> date:
    async with client.app.state.sessions() as session:
        found: Instrument | None = await session.get(Instrument, instrument_id)
        assert found is not None
        return found.valid_until


async def _refused(code: str, client: Client, listing_id: int, who: Principal, **changes: Any) -> None:
    with pytest.raises(Conflict) as refused:
        await _edit(client, listing_id, who, **changes)
    assert refused.value.code == code and refused.value.status == 409, refused.value.detail


async def test_an_offers_draft_keeps_what_the_offer_fixed(client: Client) -> None:
    registrar_headers, operator = await people(client)
    who = await _operator(client, operator)
    seller = await enterprise(client)
    instrument = await issue(client, registrar_headers, seller, 20_000)
    made = await offer(client, seller.headers, instrument, 5_000)  # 5 t/a of COD
    lid = await _draft(client, operator, made["id"])
    before = await _listing(client, lid)
    assert before.attributes["quantity"] in ("5", "5.000") and before.seller_credit_code == seller.credit_code

    attributes = dict(before.attributes)
    await _refused("registry_listing_fixed", client, lid, who, attributes={**attributes, "quantity": "500"})
    await _refused(
        "registry_listing_fixed", client, lid, who, attributes={**attributes, "pollutant": "NH3-N"}
    )
    await _refused(
        "registry_listing_fixed", client, lid, who, seller={"name": "别人", "credit_code": credit_code()}
    )
    await _refused(
        "registry_listing_fixed",
        client,
        lid,
        who,
        method="uniform_price",
        quantity="500",
        lot="1",
        unit="t/a",
        max_bidder_share="0.5",
        bid_guarantee_ratio="0.01",
    )
    after = await _listing(client, lid)
    assert (after.attributes, after.method, after.seller_credit_code) == (
        before.attributes,
        "english",
        seller.credit_code,
    )

    # prices, deposit, schedule and description stay the operator's; resending the fixed values is fine
    edited = await _edit(
        client,
        lid,
        who,
        start_price="2000000.00",
        deposit="300000.00",
        description="修改后的公告",
        attributes=attributes,
        schedule=sandbox_schedule(utcnow() + timedelta(seconds=40), registration=1, bidding=70, closes=130),
    )
    assert (edited.start_price, edited.deposit, edited.description) == (
        200_000_000,
        30_000_000,
        "修改后的公告",
    )
    published = await _publish(client, lid, who)
    assert published.status == "announced"


async def test_a_uniform_price_draft_cannot_sell_more_than_the_hold(client: Client) -> None:
    registrar_headers, operator = await people(client)
    who = await _operator(client, operator)
    seller = await enterprise(client)
    instrument = await issue(client, registrar_headers, seller, 20_000)
    made = await offer(client, seller.headers, instrument, 5_000)
    lid = await _draft(client, operator, made["id"], "uniform_price")
    assert (await _listing(client, lid)).method_params["quantity"] in ("5", "5.000")
    await _refused("registry_listing_fixed", client, lid, who, quantity="500")
    await _refused("registry_listing_fixed", client, lid, who, lot="0.001")
    uniform_only = (
        "quantity",
        "lot",
        "unit",
        "max_bidder_share",
        "bid_guarantee_ratio",
        "undersubscribed",
        "pricing",
    )
    await _refused(
        "registry_listing_fixed", client, lid, who, method="english", **dict.fromkeys(uniform_only)
    )
    assert (await _listing(client, lid)).method_params["quantity"] in ("5", "5.000")


@pytest.mark.parametrize(
    ("asset_class", "method", "right"),
    [
        ("emission_right", "uniform_price", {}),
        (
            "water_right",
            "english",
            {"right_type": "water", "sub_type": "abstraction_permit", "water_source": "太湖"},
        ),
    ],
)
async def test_a_draft_that_matches_its_offer_is_published(
    client: Client, asset_class: str, method: str, right: dict[str, Any]
) -> None:
    registrar_headers, operator = await people(client)
    who = await _operator(client, operator)
    seller = await enterprise(client)
    instrument = await issue(client, registrar_headers, seller, 20_000, **right)
    made = await offer(client, seller.headers, instrument, 5_000)
    lid = await _draft(client, operator, made["id"], method, asset_class)
    assert (await _publish(client, lid, who)).status == "announced"


async def test_a_listing_without_an_offer_stays_editable(client: Client) -> None:
    _, operator = await people(client)
    who = await _operator(client, operator)
    use_sandbox(client)
    schedule = sandbox_schedule(utcnow() + timedelta(seconds=30), registration=1, bidding=60, closes=120)
    made = await client.post(
        "/api/v1/listings", json=listing_body("emission_right", schedule=schedule), headers=operator
    )
    assert made.status_code in (200, 201), made.text
    edited = await _edit(
        client, int(made.json()["id"]), who, seller={"name": "另一家", "credit_code": credit_code()}
    )
    assert edited.seller_name == "另一家"


async def test_a_draft_that_no_longer_matches_its_offer_is_not_published(client: Client) -> None:
    """A draft edited before the guard existed (or behind its back) is caught at publication."""
    registrar_headers, operator = await people(client)
    who = await _operator(client, operator)
    seller = await enterprise(client)
    instrument = await issue(client, registrar_headers, seller, 20_000)
    made = await offer(client, seller.headers, instrument, 5_000)
    lid = await _draft(client, operator, made["id"])
    async with unit_of_work(client.app.state.sessions) as session:
        row = await session.get(Listing, lid)
        assert row is not None
        row.attributes = {**row.attributes, "quantity": "500"}
    with pytest.raises(Conflict) as refused:
        await _publish(client, lid, who)
    assert refused.value.code == "registry_listing_fixed"
    assert (await _listing(client, lid)).status == "draft"


async def _issue_valid_until(
    client: Client, registrar_headers: dict[str, str], party: Party, until: date
) -> int:
    body = {
        "right_type": "emission",
        "sub_type": "COD",
        "region_code": SUZHOU,
        "basin": TAIHU,
        "valid_from": (date.today() - timedelta(days=30)).isoformat(),
        "valid_until": until.isoformat(),
        "origin": "paid",
        "legal_basis": "苏环排污权〔2026〕2号",
        "quantity": 10_000,
        "reference": f"guards-{utcnow().timestamp()}",
        "holder_credit_code": party.credit_code,
    }
    issued = await client.post("/api/v1/registry/instruments", json=body, headers=registrar_headers)
    assert issued.status_code in (200, 201), issued.text
    return int(issued.json()["instrument"]["id"])


async def test_an_offer_is_not_approved_into_a_sale_that_settles_after_expiry(client: Client) -> None:
    registrar_headers, operator = await people(client)
    seller = await enterprise(client)
    # the bidding closes in minutes, but the 公示 and 10 working days to pay end after the lot does
    instrument = await _issue_valid_until(client, registrar_headers, seller, date.today() + timedelta(days=4))
    made = await offer(client, seller.headers, instrument, 5_000)
    use_sandbox(client)
    answer = await client.post(
        f"/api/v1/registry/offers/{made['id']}/approve", json=_body(), headers=operator
    )
    assert answer.status_code == 409 and answer.json()["code"] == "registry_expired", answer.text
    assert (await offer_row(client, made["id"])).status == "pending"
    async with client.app.state.sessions() as session:
        assert (await session.execute(select(Listing.id))).first() is None


async def test_the_api_refuses_an_edit_of_an_offers_draft(client: Client) -> None:
    registrar_headers, operator = await people(client)
    seller = await enterprise(client)
    instrument = await issue(client, registrar_headers, seller, 20_000)
    made = await offer(client, seller.headers, instrument, 5_000)
    lid = await _draft(client, operator, made["id"])
    attributes = (await _listing(client, lid)).attributes
    answer = await client.patch(
        f"/api/v1/listings/{lid}", json={"attributes": {**attributes, "quantity": "500"}}, headers=operator
    )
    assert answer.status_code == 409 and answer.json()["code"] == "registry_listing_fixed", answer.text


async def test_a_pledge_is_enforced_only_to_its_pledgee(sessions: Sessions) -> None:
    pledgee_code, elsewhere_code = credit_code(), credit_code()
    async with unit_of_work(sessions) as session:
        who = await registrar(session)
        debtor = await holder(session)
        other = await holder(session)
        pledgee = await holder(session, code=pledgee_code)
        lot = await issue_to(session, who, debtor, 1000)
        terms = {"pledgee_name": "某银行", "contract_reference": "ZY-9", "actor": "t"}
        given = await pledges.pledge(
            session,
            holder_id=debtor.id,
            instrument_id=lot.id,
            quantity=300,
            pledgee_code=pledgee_code,
            **terms,
        )
        foreign = await pledges.pledge(
            session,
            holder_id=debtor.id,
            instrument_id=lot.id,
            quantity=200,
            pledgee_code=elsewhere_code,
            **terms,
        )
        # the pledgee of the second pledge holds its account in another province
        await holder(session, code=elsewhere_code, region_code=SUZHOU, basin=BASIN)
    async with sessions() as session:
        with pytest.raises(Conflict) as wrong:
            await pledges.enforce_pledge(session, given.id, other.id, "t")
        assert wrong.value.code == "registry_not_pledgee" and wrong.value.status == 409
        await session.rollback()
    async with unit_of_work(sessions) as session:
        enforced = await pledges.enforce_pledge(session, given.id, pledgee.id, "t")
        assert enforced.status == "enforced"
    async with sessions() as session:
        far = (await session.execute(select(Holder).where(Holder.credit_code == elsewhere_code))).scalar_one()
        with pytest.raises(Conflict) as ineligible:
            await pledges.enforce_pledge(session, foreign.id, far.id, "t")
        assert ineligible.value.code == "registry_out_of_region"
        await session.rollback()
    async with sessions() as session:
        codes = [
            book.code("holding", lot.id, holder_id=debtor.id),
            book.code("holding", lot.id, holder_id=other.id),
            book.code("holding", lot.id, holder_id=pledgee.id),
            f"pledged:{foreign.id}",
        ]
        held = []
        for account_code in codes:
            account = (
                await session.execute(select(RegistryAccount).where(RegistryAccount.code == account_code))
            ).scalar_one_or_none()
            held.append(0 if account is None else await book.balance(session, account.id))
    assert held == [500, 0, 300, 200]


async def test_expiry_leaves_a_running_sale_alone_and_withdraws_pending_offers(client: Client) -> None:
    registrar_headers, operator = await people(client)
    seller = await enterprise(client)
    instrument = await issue(client, registrar_headers, seller, 20_000)
    selling = await offer(client, seller.headers, instrument, 5_000)
    listing = await listed(client, operator, selling["id"])
    pending = await offer(client, seller.headers, instrument, 3_000)
    until = await _valid_until(client, instrument)

    assert (
        await expiry.run_expiry(client.app.state.sessions, until) == 1
    )  # the holding, with the pending offer back
    assert await balance_of(client, f"order_hold:offer:{selling['id']}") == 5_000
    assert (await offer_row(client, selling["id"])).status == "approved"
    assert (await _listing(client, listing["id"])).status == "registration"
    withdrawn = await offer_row(client, pending["id"])
    assert withdrawn.status == "released" and withdrawn.reason
    assert await balance_of(client, f"order_hold:offer:{pending['id']}") == 0
    assert await holding(client, seller, instrument) == 0
    assert await balance_of(client, f"expired:{instrument}") == 15_000
    assert await expiry.run_expiry(client.app.state.sessions, until) == 0  # a rerun moves nothing

    # the sale fails: the hold goes back to the seller, and the next run retires it
    cancelled = await client.post(
        f"/api/v1/listings/{listing['id']}/cancel", json={"reason": "权益到期"}, headers=operator
    )
    assert cancelled.status_code == 200, cancelled.text
    assert await holding(client, seller, instrument) == 5_000
    assert await expiry.run_expiry(client.app.state.sessions, until) == 1
    assert await balance_of(client, f"expired:{instrument}") == 20_000
    await ledgers_sound(client)


async def test_one_lot_failing_does_not_stop_the_others(client: Client) -> None:
    registrar_headers, _ = await people(client)
    seller = await enterprise(client)
    broken = await issue(client, registrar_headers, seller, 1_000)
    sound = await issue(client, registrar_headers, seller, 2_000)
    async with unit_of_work(client.app.state.sessions) as session:
        # a pending offer whose hold is an account of another lot: withdrawing it must fail
        other = await book.account(session, "holding", sound, holder_id=seller.holder_id)
        session.add(
            Offer(
                holder_id=seller.holder_id,
                instrument_id=broken,
                quantity=10,
                status="pending",
                hold_account_id=other.id,
                created_by=seller.user_id,
                created_at=utcnow(),
            )
        )
    until = await _valid_until(client, broken)
    assert await expiry.run_expiry(client.app.state.sessions, until) == 1
    assert await holding(client, seller, broken) == 1_000
    assert await balance_of(client, f"expired:{sound}") == 2_000
    await ledgers_sound(client)

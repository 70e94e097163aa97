"""Joint bidding (联合竞买, issue 20 item 5) end to end over HTTP, on PostgreSQL and SQLite.

A lead and two members apply for an emission right as one consortium; the members confirm with
their own logins (the deposit, paid before, qualifies it only then); the consortium bids with one
bid number and wins; the result, the result announcement and the confirmation name all three
with their shares, and the delivery splits the quantity into their holdings by share (largest
remainder). Beside it, on the same listing: one legal entity, one bidder, both ways round (a
member may not apply alone, a consortium may not name a member of another); a consortium whose
member refuses ends, its deposit released, and cannot bid; and one whose member has not confirmed
when the deposit deadline passes has lapsed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from auctions.models import Auction
from documents import confirmation, follow_up, registry_documents, registry_words, result_announcement
from documents.data import Stamp, TransactionCertificate
from documents.render import render_html
from exchange.app import create_app
from exchange.clock import utcnow
from exchange.db import unit_of_work
from exchange.settings import Settings
from listings.models import Listing
from settlement import closing
from settlement.registry.models import Delivery, Instrument
from tests.support.api import Client
from tests.support.bank import deliver, notice
from tests.support.dvp import Party, enterprise, holding, issue, lines, offer, pay_line, people
from tests.support.dvp import listed as listed_offer
from tests.support.flow import start_bidding, wait_status

pytestmark = pytest.mark.databases()

QUANTITY = 12_501  # kg/a: 50 / 33.33 / 16.67 % of it leave remainders to place


@pytest.fixture
async def rclient(db: str, settings: Settings) -> AsyncIterator[Client]:
    """The app under the sandbox profile from its start (its sweeps and 公示 count seconds)."""
    async with AsyncTestClient(app=create_app(replace(settings, profile="sandbox"))) as test_client:
        yield test_client


async def eventually(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 30) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := await check()):
        assert loop.time() < deadline, f"never: {what}"
        await asyncio.sleep(0.2)
    return result


async def apply(client: Client, listing_id: int, party: Party, body: dict[str, Any] | None = None) -> Any:
    return await client.post(f"/api/v1/listings/{listing_id}/applications", json=body, headers=party.headers)


async def answer(client: Client, application_id: int, party: Party, confirm: bool) -> Any:
    body = {"confirm": confirm} if confirm else {"confirm": False, "reason": "不再参与"}
    return await client.post(
        f"/api/v1/applications/{application_id}/consortium/confirmation", json=body, headers=party.headers
    )


async def pay_deposit(client: Client, application: dict[str, Any]) -> None:
    paid = await deliver(client, notice(application["deposit_account"], application["deposit_due"], utcnow()))
    assert paid.status_code == 200 and paid.json()["outcome"] == "deposit", paid.text


async def name_of(client: Client, party: Party) -> str:
    return str((await client.get("/api/v1/users/me", headers=party.headers)).json()["display_name"])


def flat(html: str) -> str:
    return re.sub(r"\s+", "", re.sub(r"<[^>]+>", "", html))


def stamp() -> Stamp:
    return Stamp("T-1", "confirmation", "t", "0" * 64, utcnow(), "https://exchange.test/verify")


def conflict(response: Any, code: str) -> None:
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["code"] == code and problem["detail"], problem
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_consortium_confirms_bids_wins_and_takes_delivery_by_share(
    rclient: Client, database: str
) -> None:
    client = rclient
    # 资格前审 on one database (the operator may not approve before the members confirm), 资格后审
    # on the other (the paid deposit alone does not qualify it): both guards, one run each
    qualification = "pre" if database == "postgresql" else "post"
    registrar, operator = await people(client)
    seller = await enterprise(client)
    lead, b, c, d, e, f = [await enterprise(client) for _ in range(6)]
    g = await enterprise(client, region_code=None)  # no registry account: could not receive its part
    instrument = await issue(client, registrar, seller, 20_000)
    made = await offer(client, seller.headers, instrument, QUANTITY)
    listing = await listed_offer(client, operator, made["id"], qualification=qualification)
    lid = listing["id"]

    members = [
        {"credit_code": b.credit_code, "name": "乙方", "share": "33.33"},
        {"credit_code": c.credit_code, "name": "丙方", "share": "16.67"},
    ]
    refused = await apply(client, lid, lead, {"consortium": {"lead_share": "50.01", "members": members}})
    assert refused.status_code == 422 and refused.json()["code"] == "consortium_shares_invalid", refused.text
    applied = await apply(client, lid, lead, {"consortium": {"lead_share": "50", "members": members}})
    assert applied.status_code == 201, applied.text
    application = applied.json()
    aid = application["id"]
    joint = application["consortium"]
    assert joint["status"] == "awaiting" and joint["confirm_by"] == application["deposit_deadline"]
    assert [(m["credit_code"], m["share"], m["lead"], m["status"]) for m in joint["members"]] == [
        (lead.credit_code, "50.00", True, "confirmed"),
        (b.credit_code, "33.33", False, "invited"),
        (c.credit_code, "16.67", False, "invited"),
    ]

    # paid before the members confirmed: neither approved nor qualified
    await pay_deposit(client, application)
    view = (await client.get(f"/api/v1/applications/{aid}", headers=lead.headers)).json()
    assert view["status"] == "pending" and "bid_number" not in view, view
    if qualification == "pre":
        decided = await client.post(
            f"/api/v1/applications/{aid}/decision", json={"approve": True}, headers=operator
        )
        conflict(decided, "consortium_unconfirmed")

    # only the member's own account answers for it
    assert (await answer(client, aid, d, True)).status_code == 404
    assert (await answer(client, aid, lead, True)).status_code == 404
    staff_answer = await client.post(
        f"/api/v1/applications/{aid}/consortium/confirmation", json={"confirm": True}, headers=operator
    )
    assert staff_answer.status_code == 403
    invited = (await client.get("/api/v1/consortia/invitations", headers=b.headers)).json()
    assert [(i["application_id"], i["status"]) for i in invited] == [(aid, "awaiting")]
    first = await answer(client, aid, b, True)
    assert first.status_code == 200 and first.json()["status"] == "awaiting", first.text
    # one legal entity, one bidder: once it confirmed, b may not also apply alone
    conflict(await apply(client, lid, b), "in_consortium")
    last = await answer(client, aid, c, True)
    assert last.status_code == 200 and last.json()["status"] == "confirmed", last.text
    conflict(await answer(client, aid, c, True), "consortium_member_decided")
    if qualification == "pre":
        decided = await client.post(
            f"/api/v1/applications/{aid}/decision", json={"approve": True}, headers=operator
        )
        assert decided.status_code == 200, decided.text
    qualified = (await client.get(f"/api/v1/applications/{aid}", headers=lead.headers)).json()
    assert qualified["status"] == "qualified" and qualified["bid_number"], qualified
    bid_number = qualified["bid_number"]
    # a member sees the joint bid (not the lead's deposit account); an outsider does not
    seen = await client.get(f"/api/v1/applications/{aid}/consortium", headers=c.headers)
    assert seen.status_code == 200 and "deposit_account" not in seen.json(), seen.text
    assert (await client.get(f"/api/v1/applications/{aid}/consortium", headers=d.headers)).status_code == 404

    # a second consortium: its member refuses, the application ends and its deposit is released
    other = await apply(
        client,
        lid,
        d,
        {
            "consortium": {
                "lead_share": "60",
                "members": [
                    {"credit_code": e.credit_code, "name": "戊方", "share": "20"},
                    {"credit_code": b.credit_code, "name": "乙方", "share": "20"},
                ],
            }
        },
    )
    assert other.status_code == 201, other.text  # naming b, who bids, tells d nothing
    other_id = other.json()["id"]
    await pay_deposit(client, other.json())
    # ...but b may not confirm a second consortium; it learns only about itself
    twice = await answer(client, other_id, b, True)
    conflict(twice, "consortium_member_bidding")
    assert "credit_code" not in twice.json()
    no = await answer(client, other_id, e, False)
    assert no.status_code == 200, no.text
    assert (no.json()["status"], no.json()["application_status"]) == ("refused", "rejected")
    ended = (await client.get(f"/api/v1/applications/{other_id}", headers=d.headers)).json()
    assert ended["status"] == "rejected" and ended["deposit_paid"] == "0.00", ended
    assert "拒绝联合竞买" in ended["decision_reason"]
    conflict(await answer(client, other_id, e, True), "consortium_member_decided")

    # a third consortium, whose member lets the deposit deadline pass
    late = await apply(
        client,
        lid,
        f,
        {
            "consortium": {
                "lead_share": "70",
                "members": [{"credit_code": g.credit_code, "name": "己方", "share": "30"}],
            }
        },
    )
    assert late.status_code == 201, late.text
    conflict(await answer(client, late.json()["id"], g, True), "registry_no_account")

    # one bid number for the consortium; the ended one cannot bid
    await start_bidding(client, operator, lid, closes_in=2, extension=1)
    await wait_status(client, lid, "bidding", timeout=30)
    placed = await client.post(
        f"/api/v1/auctions/{lid}/bids",
        json={"amount": listing["start_price"]},
        headers={**lead.headers, "Idempotency-Key": f"joint-{lid}"},
    )
    assert placed.status_code == 201, placed.text
    shut_out = await client.post(
        f"/api/v1/auctions/{lid}/bids",
        json={"amount": listing["start_price"]},
        headers={**d.headers, "Idempotency-Key": f"ended-{lid}"},
    )
    assert shut_out.status_code == 403 and shut_out.json()["code"] == "not_qualified", shut_out.text
    # not confirmed by the deadline counts as a refusal: it ended when the bidding opened
    lapsed = (await client.get(f"/api/v1/applications/{late.json()['id']}", headers=f.headers)).json()
    assert lapsed["status"] == "rejected" and lapsed["consortium"]["status"] == "lapsed", lapsed
    conflict(await answer(client, late.json()["id"], g, True), "consortium_confirmation_closed")
    await wait_status(client, lid, "closed", timeout=30)
    async with unit_of_work(client.app.state.sessions) as session:
        await closing.settle(session, lid, client.app.state.settings.settlement)
    if qualification == "post":  # 资格后审: the winner is reviewed before its result is published
        reviewed = await client.post(
            f"/api/v1/settlements/{lid}/review", json={"verdict": "passed"}, headers=operator
        )
        assert reviewed.status_code == 200, reviewed.text

    # the result names every party with its share
    names = [await name_of(client, p) for p in (lead, b, c)]
    result = (await client.get(f"/api/v1/results/{lid}")).json()
    (winner,) = result["winners"]
    assert winner["bid_number"] == bid_number
    assert all(name in winner["name"] for name in names), winner
    assert [(p["credit_code"], p["name"], p["share"], p["lead"]) for p in winner["consortium"]] == [
        (lead.credit_code, names[0], "50.00", True),
        (b.credit_code, names[1], "33.33", False),
        (c.credit_code, names[2], "16.67", False),
    ]
    exported = (await client.get("/api/v1/results/export.csv")).text
    (joint_row,) = [r for r in exported.splitlines() if bid_number in r and lead.credit_code in r]
    assert all(f"{p.credit_code} {s}%" in joint_row for p, s in ((lead, "50.00"), (b, "33.33"), (c, "16.67")))
    (line,) = (await lines(client, lid)).values()
    async with client.app.state.sessions() as session:
        auction = (await session.execute(select(Auction).where(Auction.listing_id == lid))).scalar_one()
        row = await session.get(Listing, lid)
        assert row is not None
        announced = await result_announcement.draft(session, row, auction)
        confirmed = await confirmation.draft(session, line.id)
        assert confirmed is not None
    for document, template in ((announced, "result_announcement.html"), (confirmed, "confirmation.html")):
        text = flat(render_html(template, {"doc": document.data, "stamp": stamp()}))
        for party, name, share in zip((lead, b, c), names, ("50.00%", "33.33%", "16.67%"), strict=True):
            assert party.credit_code in text and share in text, (template, party.credit_code, share)
            assert flat(name) in text, (template, name)

    # paid in full: delivered into each party's holding by share, the total conserved
    await pay_line(client, line)

    async def delivered() -> list[int] | None:
        parts = [await holding(client, p, instrument) for p in (lead, b, c)]
        return parts if sum(parts) else None

    assert await eventually(delivered, "the delivery by share") == [6_250, 4_167, 2_084]
    assert await holding(client, seller, instrument) == 20_000 - QUANTITY

    # the registry's 交割单 and 交易凭证 and the 交易鉴证书 name every party with its share and part
    # (each needs its own part certified for its permit change), not the lead with the whole
    async with client.app.state.sessions() as session:
        (delivery_id,) = (
            await session.execute(select(Delivery.id).where(Delivery.listing_id == lid))
        ).scalars()
        record = await registry_documents.delivery_record_draft(session, delivery_id)
        certificate = await registry_documents.certificate_draft(session, delivery_id)
        attested = await follow_up.certificate_draft(session, line.id)
        delivered_row = await session.get(Delivery, delivery_id)
        assert delivered_row is not None
        sold = await session.get(Instrument, delivered_row.instrument_id)
        assert sold is not None
        unit = sold.unit
    parts = [registry_words.amount(unit, q) for q in (6_250, 4_167, 2_084)]
    assert record is not None and certificate is not None and attested is not None
    for issued in (record.data, certificate.data):
        printed = repr(issued)
        for party, part, share in zip((lead, b, c), parts, ("50.00%", "33.33%", "16.67%"), strict=True):
            assert party.credit_code in printed and share in printed, (issued.heading, party.credit_code)
            assert part in printed, (issued.heading, part)
    assert isinstance(attested.data, TransactionCertificate)
    buyers = attested.data.buyer.name or ""
    for party in (lead, b, c):
        assert party.credit_code in buyers, buyers


async def test_naming_an_entity_neither_reveals_nor_blocks_it_and_the_deadline_lapses_the_bid(
    rclient: Client, database: str
) -> None:
    """Review of issue 20 item 5: under 资格后审 nobody learns before the close who bids. A lead
    naming an entity that bids alone is told nothing (the reviewer's probe got 409 with its
    credit code), an unanswered invitation does not stop the named entity applying alone, staff
    cannot tell a joint application from a lone one, and a joint bid still waiting for a member
    lapses once the deposit deadline passes even when no phase transition runs then (挂牌)."""
    client = rclient
    registrar, operator = await people(client)
    seller = await enterprise(client)
    x, y, spy = [await enterprise(client) for _ in range(3)]
    instrument = await issue(client, registrar, seller, 20_000)
    made = await offer(client, seller.headers, instrument, 1000)
    lid = (await listed_offer(client, operator, made["id"], qualification="post"))["id"]
    alone = await apply(client, lid, x)
    assert alone.status_code == 201, alone.text

    members = [
        {"credit_code": y.credit_code, "name": "n", "share": "25"},
        {"credit_code": x.credit_code, "name": "n", "share": "25"},
    ]
    probe = await apply(client, lid, spy, {"consortium": {"lead_share": "50", "members": members}})
    assert probe.status_code == 201, probe.text  # x bids alone, and the spy cannot tell
    joint_id = probe.json()["id"]
    # an invitation y has not answered takes nothing from it
    assert (await apply(client, lid, y)).status_code == 201
    # x learns, at its own confirmation, only about itself
    refused = await answer(client, joint_id, x, True)
    conflict(refused, "consortium_member_bidding")
    assert "credit_code" not in refused.json() and x.credit_code not in refused.text

    # sealed: staff get the same 403 for a joint and a lone application
    for application_id in (joint_id, alone.json()["id"]):
        sealed = await client.get(f"/api/v1/applications/{application_id}/consortium", headers=operator)
        assert sealed.status_code == 403 and sealed.json()["code"] == "applicants_sealed", sealed.text

    # the deposit deadline passes while the listing stays in registration: the sweep lapses it
    async with unit_of_work(client.app.state.sessions) as session:
        row = await session.get(Listing, lid)
        assert row is not None
        row.registration_closes_at = utcnow() - timedelta(seconds=1)

    async def lapsed() -> dict[str, Any] | None:
        view = (await client.get(f"/api/v1/applications/{joint_id}", headers=spy.headers)).json()
        return view if view["status"] == "rejected" else None

    view = await eventually(lapsed, "the lapse at the deposit deadline", timeout=10)
    assert view["consortium"]["status"] == "lapsed", view
    assert "未在保证金截止时间前确认" in view["decision_reason"]


async def test_one_entity_one_bidder_holds_under_concurrent_requests(rclient: Client, database: str) -> None:
    """The reviewer's race, as the rule now stands: only a confirmation takes an entity, so the
    races are a member confirming two consortia at once, and confirming one while applying alone;
    the listing's row lock lets exactly one through each time."""
    client = rclient
    registrar, operator = await people(client)
    seller = await enterprise(client)
    p, q, r, x, y = [await enterprise(client) for _ in range(5)]
    instrument = await issue(client, registrar, seller, 20_000)
    made = await offer(client, seller.headers, instrument, 1000)
    lid = (await listed_offer(client, operator, made["id"], qualification="post"))["id"]

    def naming(party: Party) -> dict[str, Any]:
        members = [{"credit_code": party.credit_code, "name": "n", "share": "50"}]
        return {"consortium": {"lead_share": "50", "members": members}}

    ids = []
    for lead, member in ((p, x), (q, x), (r, y)):
        applied = await apply(client, lid, lead, naming(member))
        assert applied.status_code == 201, applied.text
        ids.append(applied.json()["id"])
    both = await asyncio.gather(answer(client, ids[0], x, True), answer(client, ids[1], x, True))
    assert sorted(a.status_code for a in both) == [200, 409], [a.text for a in both]
    assert {a.json().get("code") for a in both if a.status_code == 409} == {"consortium_member_bidding"}
    alone, joined = await asyncio.gather(apply(client, lid, y), answer(client, ids[2], y, True))
    assert sorted([alone.status_code, joined.status_code]) in ([200, 409], [201, 409]), (
        alone.text,
        joined.text,
    )

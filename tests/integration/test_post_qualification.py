"""资格后审: payment qualifies, staff see no applicant until the close, the winner is reviewed after it.

Through HTTP, on both databases where the flow stores something: the mode and its defaults, the
sealed staff views (applications, attachments, deposits, the listing's audit stream, the console),
the audit of every staff read, and the review that settles the sale or fails it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from auctions.models import Auction
from documents import refund_notice
from exchange.audit.models import AuditEntry
from exchange.clock import utcnow
from listings.applications_models import Application
from settlement import ledger
from settlement.lines import seller_payable_code
from settlement.models import RefundInstruction
from settlement.review import result_awaits_review
from settlement.settlement_models import SettlementLine
from tests.integration.test_web_console import login
from tests.support.api import PASSWORD, Client, bidder, staff
from tests.support.auctions import bid
from tests.support.bank import deliver, notice
from tests.support.flow import apply, open_registration, start_bidding, wait_status
from tests.support.listings import listing_body

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


async def paid_bidder(client: Client, listing_id: int) -> tuple[dict[str, str], dict[str, Any]]:
    """A bidder who applied and paid its deposit in full: under 资格后审 that alone qualifies it."""
    headers = await bidder(client)
    application = await apply(client, listing_id, headers)
    paid = await deliver(client, notice(application["deposit_account"], application["deposit_due"], utcnow()))
    assert paid.status_code == 200 and paid.json()["outcome"] == "deposit", paid.text
    view = (await client.get(f"/api/v1/applications/{application['id']}", headers=headers)).json()
    return headers, view


def assert_sealed(response: Any) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "applicants_sealed"


async def staff_reads(client: Client) -> list[AuditEntry]:
    async with client.app.state.sessions() as session:
        query = select(AuditEntry).where(AuditEntry.action == "applicants.read").order_by(AuditEntry.id)
        return list((await session.execute(query)).scalars())


async def test_the_mode_defaults_by_class_and_method_and_is_validated(client: Client) -> None:
    operator = await staff(client, "operator")

    async def created(asset_class: str, method: str, **body: Any) -> Any:
        return await client.post(
            "/api/v1/listings", json=listing_body(asset_class, method, **body), headers=operator
        )

    for asset_class, method, mode in (
        ("land_use_right", "english", "post"),
        ("land_use_right", "listing", "post"),
        ("land_use_right", "sealed_bid", "post"),
        ("mining_right", "listing", "post"),
        ("land_use_right", "dutch", "pre"),
        ("emission_right", "english", "pre"),
        ("technology", "listing", "pre"),
    ):
        response = await created(asset_class, method, qualification=None)
        assert response.status_code == 201, response.text
        assert response.json()["qualification"] == mode, (asset_class, method)
        public = await client.get(f"/api/v1/listings/{response.json()['id']}", headers=operator)
        assert public.json()["qualification"] == mode
    explicit = await created("technology", "english", qualification="post")
    assert explicit.json()["qualification"] == "post"
    edited = await client.patch(
        f"/api/v1/listings/{explicit.json()['id']}", json={"qualification": "pre"}, headers=operator
    )
    assert edited.status_code == 200 and edited.json()["qualification"] == "pre"
    multi = await created("emission_right", "uniform_price", qualification="post")
    assert multi.status_code == 422 and multi.json()["code"] == "listing_invalid"
    assert {(e["field"], e["code"]) for e in multi.json()["errors"]} == {("qualification", "not_applicable")}
    nonsense = await created("land_use_right", "english", qualification="later")
    assert nonsense.status_code == 400 and nonsense.json()["code"] == "validation_failed"


@pytest.mark.databases()
async def test_payment_qualifies_and_staff_see_no_applicant_until_the_close(client: Client) -> None:
    operator = await staff(client, "operator")
    auditor, admin = await staff(client, "auditor"), await staff(client, "admin")
    listing = await open_registration(client, operator, qualification="post")
    lid = listing["id"]
    headers = await bidder(client)
    application = await apply(client, lid, headers)
    assert application["status"] == "pending"
    attached = await client.post(
        f"/api/v1/applications/{application['id']}/documents",
        files={"file": ("营业执照.pdf", PDF, "application/pdf")},
        headers=headers,
    )
    assert attached.status_code == 201, attached.text
    await deliver(client, notice(application["deposit_account"], application["deposit_due"], utcnow()))
    mine = (await client.get(f"/api/v1/applications/{application['id']}", headers=headers)).json()
    assert mine["status"] == "qualified" and len(mine["bid_number"]) == 4  # nobody approved it
    decided = await client.post(
        f"/api/v1/applications/{application['id']}/decision", json={"approve": True}, headers=operator
    )
    assert decided.status_code == 409 and decided.json()["code"] == "post_qualification"

    for who in (operator, auditor, admin):
        assert_sealed(await client.get(f"/api/v1/listings/{lid}/applications", headers=who))
        assert_sealed(await client.get(f"/api/v1/applications/{application['id']}", headers=who))
        assert_sealed(
            await client.get(
                f"/api/v1/applications/{application['id']}/documents/{attached.json()['id']}", headers=who
            )
        )
        assert_sealed(await client.get(f"/api/v1/accounts/deposit:{application['id']}", headers=who))
    for path in (f"/api/v1/audit/listing:{lid}", f"/api/v1/audit/listing:{lid}/verify"):
        assert_sealed(await client.get(path, headers=auditor))
    # the exchange's bank account would count them by their deposits: not before the close either
    clearing = (await client.get("/api/v1/accounts/bank_clearing", headers=auditor)).json()
    assert (clearing["entries"], clearing["balance"]) == ([], "0.00")
    # the listing itself says how it qualifies, and counts nobody
    view = (await client.get(f"/api/v1/listings/{lid}", headers=operator)).json()
    assert view["qualification"] == "post"
    assert not [key for key in view if "application" in key or "count" in key or "bidder" in key]
    # the console shows the rule instead of the applicants
    await staff(client, "operator", "post_console")
    await login(client, "post_console", PASSWORD)
    page = await client.get(f"/console/listings/{lid}")
    assert page.status_code == 200
    assert "data-applicants-sealed" in page.text and "资格后审" in page.text
    assert "data-applications" not in page.text
    assert await staff_reads(client) == []  # nothing was read, so nothing is recorded


async def closed_post_sale(
    client: Client, asset_class: str = "land_use_right"
) -> tuple[dict[str, Any], dict[str, str], list[dict[str, Any]], dict[str, str]]:
    """A post-qualified english sale won by the first of two paid bidders at 1,100,000 yuan:
    (listing, operator, [winner's application, loser's application], winner's headers)."""
    operator = await staff(client, "operator")
    listing = await open_registration(
        client,
        operator,
        closes=600,
        bidding=601,
        bidding_closes=602,
        asset_class=asset_class,
        qualification="post",
    )
    (winner, won), (_loser, lost) = [await paid_bidder(client, listing["id"]) for _ in range(2)]
    await start_bidding(client, operator, listing["id"], closes_in=2, extension=1)
    await wait_status(client, listing["id"], "bidding", timeout=30)
    assert (await bid(client, winner, listing["id"], "1100000.00")).status_code == 201
    await wait_status(client, listing["id"], "closed", timeout=30)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while (await client.get(f"/api/v1/settlements/{listing['id']}", headers=operator)).status_code != 200:
        assert loop.time() < deadline, "the close was never settled"
        await asyncio.sleep(0.1)
    return listing, operator, [won, lost], winner


async def held(client: Client, application_id: int) -> int:
    async with client.app.state.sessions() as session:
        return await ledger.held_deposit(session, application_id)


async def awaiting_review(client: Client) -> list[int]:
    async with client.app.state.sessions() as session:
        return list(
            (await session.execute(select(Auction.listing_id).where(result_awaits_review()))).scalars()
        )


async def refunds_of(client: Client, application_id: int) -> list[RefundInstruction]:
    async with client.app.state.sessions() as session:
        query = select(RefundInstruction).where(RefundInstruction.application_id == application_id)
        return list((await session.execute(query)).scalars())


@pytest.mark.databases()
async def test_a_sale_waits_for_the_winners_review_and_a_pass_settles_it(client: Client) -> None:
    listing, operator, (won, lost), winner = await closed_post_sale(client)
    lid = listing["id"]
    settlement = (await client.get(f"/api/v1/settlements/{lid}", headers=operator)).json()
    assert (settlement["status"], settlement["outcome"], settlement["lines"]) == ("review", "sold", [])
    # the other deposit goes back at the close, as after any close; the winner's is held
    assert await held(client, lost["id"]) == 0 and len(await refunds_of(client, lost["id"])) == 1
    assert await held(client, won["id"]) == 20_000_000
    assert await awaiting_review(client) == [lid]  # no result document, no confirmation yet
    clearing = (await client.get("/api/v1/accounts/bank_clearing", headers=operator)).json()
    assert [e["kind"] for e in clearing["entries"]] == ["deposit_received", "deposit_received"]

    # after the close staff see the applicants again, and every read is on record
    listed = await client.get(f"/api/v1/listings/{lid}/applications", headers=operator)
    assert listed.status_code == 200 and len(listed.json()) == 2
    one = await client.get(f"/api/v1/applications/{won['id']}", headers=operator)
    assert one.status_code == 200 and one.json()["bidder_name"]
    me = (await client.get("/api/v1/users/me", headers=operator)).json()
    reads = await staff_reads(client)
    assert [(e.actor, e.stream, e.payload) for e in reads] == [
        (f"user:{me['id']}", f"listing:{lid}", {"what": "applications"}),
        (f"user:{me['id']}", f"listing:{lid}", {"what": "application", "application_id": won["id"]}),
    ]

    url = f"/api/v1/settlements/{lid}/review"
    assert (await client.post(url, json={"verdict": "passed"}, headers=winner)).status_code == 403
    no_reason = await client.post(url, json={"verdict": "failed", "reason": "  "}, headers=operator)
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "reason_required"
    passed = await client.post(url, json={"verdict": "passed", "reason": "材料齐全"}, headers=operator)
    assert passed.status_code == 200, passed.text
    body = passed.json()
    # no 公示 in the sandbox: confirmed at once; land then waits for its contract (issue 16)
    assert (body["status"], body["outcome"]) == ("awaiting_contract", "sold")
    (line,) = body["lines"]
    assert (line["bid_number"], line["price"], line["deposit_applied"]) == (
        won["bid_number"],
        "1100000.00",
        "200000.00",
    )
    assert await awaiting_review(client) == []  # the result and the confirmation may be issued now
    again = await client.post(url, json={"verdict": "passed"}, headers=operator)
    assert again.status_code == 409 and again.json()["code"] == "review_not_pending"
    async with client.app.state.sessions() as session:
        application = await session.get(Application, won["id"])
        assert application is not None and application.status == "qualified"
        assert (application.decision_reason, application.decided_by) == ("材料齐全", me["id"])
        actions = (
            await session.execute(
                select(AuditEntry.action)
                .where(AuditEntry.stream == f"listing:{lid}")
                .order_by(AuditEntry.seq)
            )
        ).scalars()
        assert "settlement.review_passed" in list(actions)


@pytest.mark.databases()
async def test_a_winner_who_fails_review_fails_the_sale_and_forfeits_a_land_deposit(client: Client) -> None:
    listing, operator, (won, _lost), _winner = await closed_post_sale(client)
    lid = listing["id"]
    # until the review the sale is not a result: naming a winner who may still fail it is not published
    unpublished = await client.get(f"/api/v1/results/{lid}")
    assert unpublished.status_code == 404 and unpublished.json()["code"] == "not_found"
    assert lid not in [r["listing_id"] for r in (await client.get("/api/v1/results")).json()]
    failed = await client.post(
        f"/api/v1/settlements/{lid}/review",
        json={"verdict": "failed", "reason": "提供虚假材料"},
        headers=operator,
    )
    assert failed.status_code == 200, failed.text
    body = failed.json()
    assert (body["status"], body["outcome"], body["reason"], body["lines"]) == (
        "released",
        "failed",
        "winner_disqualified",
        [],
    )
    assert (await client.get(f"/api/v1/listings/{lid}")).json()["status"] == "failed"
    result = (await client.get(f"/api/v1/results/{lid}")).json()
    assert (result["outcome"], result["reason"], result["winners"], result.get("price")) == (
        "failed",
        "winner_disqualified",
        [],
        None,
    )
    # land: the deposit is not returned (Order 39 art. 25; the deposit is the announcement's 定金)
    assert await held(client, won["id"]) == 0 and await refunds_of(client, won["id"]) == []
    async with client.app.state.sessions() as session:
        assert await ledger.balance(session, seller_payable_code(lid)) == -20_000_000
        assert (await session.execute(select(SettlementLine))).first() is None
        application = await session.get(Application, won["id"])
        assert application is not None and application.status == "rejected"
    assert await awaiting_review(client) == []


async def test_a_failed_review_refunds_the_deposit_where_the_profile_says_so(client: Client) -> None:
    listing, operator, (won, _lost), _winner = await closed_post_sale(client, "technology")
    failed = await client.post(
        f"/api/v1/settlements/{listing['id']}/review",
        json={"verdict": "failed", "reason": "不具备受让条件"},
        headers=operator,
    )
    assert failed.status_code == 200 and failed.json()["reason"] == "winner_disqualified"
    (refund,) = await refunds_of(client, won["id"])
    assert refund.amount == 20_000_000 and await held(client, won["id"]) == 0
    async with client.app.state.sessions() as session:
        notice = await refund_notice.draft(session, refund.id)
    assert notice is not None and notice.data.reason == "disqualified"  # not "报名未获通过"


async def test_under_pre_qualification_every_staff_read_is_audited(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    assert listing["qualification"] == "pre"
    headers = await bidder(client)
    application = await apply(client, listing["id"], headers)
    await client.get(f"/api/v1/listings/{listing['id']}/applications", headers=operator)
    await client.get(f"/api/v1/applications/{application['id']}", headers=operator)
    await deliver(client, notice(application["deposit_account"], "1.00", utcnow()))
    await client.get(f"/api/v1/accounts/deposit:{application['id']}", headers=operator)
    await client.get(f"/api/v1/applications/{application['id']}", headers=headers)  # its owner: not staff
    assert [e.payload for e in await staff_reads(client)] == [
        {"what": "applications"},
        {"what": "application", "application_id": application["id"]},
        {"what": "deposit", "application_id": application["id"]},
    ]
    nothing = await client.post(
        f"/api/v1/settlements/{listing['id']}/review", json={"verdict": "passed"}, headers=operator
    )
    assert nothing.status_code == 404 and nothing.json()["code"] == "settlement_not_found"

"""Applications, qualification and signed deposit notices, through HTTP and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from sqlalchemy import func, select

from exchange.clock import utcnow
from settlement.bank import BankNotice, parse_notice, receive
from settlement.models import LedgerEntry, LedgerTransaction, RefundInstruction
from tests.support.api import Client, bidder, staff
from tests.support.bank import deliver, notice, signed
from tests.support.flow import apply, decide, open_registration, qualified_bidder, wait_status


async def _count(client: Client, model: type) -> int:
    async with client.app.state.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_apply_once_with_a_private_deposit_account(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    someone = await bidder(client)
    application = await apply(client, listing["id"], someone)
    assert application["status"] == "pending"
    assert re.fullmatch(r"\d{19}", application["deposit_account"])
    assert application["deposit_due"] == listing["deposit"]
    again = await client.post(f"/api/v1/listings/{listing['id']}/applications", headers=someone)
    assert again.status_code == 409 and again.json()["code"] == "already_applied"
    other = await apply(client, listing["id"], await bidder(client))
    assert other["deposit_account"] != application["deposit_account"]
    assert abs(other["id"] - application["id"]) > 1000  # ids say nothing about order or count


async def test_approved_and_paid_in_full_is_qualified(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    _headers, application = await qualified_bidder(client, operator, listing)
    assert re.fullmatch(r"\d{4}", application["bid_number"])
    assert application["deposit_paid"] == listing["deposit"]


async def test_transfers_add_up_and_payment_before_approval_counts(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator, deposit="200000.00")
    headers = await bidder(client)
    application = await apply(client, listing["id"], headers)
    account = application["deposit_account"]
    for amount in ("50000.00", "149999.99"):
        assert (await deliver(client, notice(account, amount, utcnow()))).json()["outcome"] == "deposit"
    view = (await client.get(f"/api/v1/applications/{application['id']}", headers=headers)).json()
    assert view["deposit_paid"] == "199999.99" and view["status"] == "pending"
    await decide(client, operator, application["id"])
    view = (await client.get(f"/api/v1/applications/{application['id']}", headers=headers)).json()
    assert view["status"] == "approved" and "bid_number" not in view  # one fen short
    await deliver(client, notice(account, "0.01", utcnow()))
    await decide_again_is_refused(client, operator, application["id"])
    view = (await client.get(f"/api/v1/applications/{application['id']}", headers=headers)).json()
    assert view["status"] == "qualified" and view["deposit_paid"] == "200000.00"


async def decide_again_is_refused(client: Client, operator: dict[str, str], application_id: int) -> None:
    response = await client.post(
        f"/api/v1/applications/{application_id}/decision", json={"approve": True}, headers=operator
    )
    assert response.status_code == 409 and response.json()["code"] == "application_decided"


async def test_bad_signatures_book_nothing(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    application = await apply(client, listing["id"], await bidder(client))
    payload = notice(application["deposit_account"], "200000.00", utcnow())
    body, headers = signed(payload)
    forged = await deliver(client, payload, secret="not-the-bank-" + "x" * 40)
    missing = await client.post(
        "/api/v1/bank/notifications", content=body, headers={"Content-Type": "application/json"}
    )
    altered = await client.post(
        "/api/v1/bank/notifications", content=body.replace(b"200000.00", b"900000.00"), headers=headers
    )
    for response in (forged, missing, altered):
        assert response.status_code == 401
        assert response.json()["code"] == "signature_invalid"
    assert await _count(client, BankNotice) == 0
    assert await _count(client, LedgerTransaction) == 0


async def test_a_notice_books_once_and_a_changed_body_conflicts(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    application = await apply(client, listing["id"], await bidder(client))
    payload = notice(application["deposit_account"], "1000.00", utcnow(), txn_id="BANK-0001")
    first = await deliver(client, payload)
    second = await deliver(client, payload)
    assert first.json() == {**second.json(), "duplicate": False}
    assert second.json()["duplicate"] is True
    changed = await deliver(client, {**payload, "amount": "2000.00"})
    assert changed.status_code == 409 and changed.json()["code"] == "txn_conflict"
    assert await _count(client, LedgerTransaction) == 1


async def test_twenty_concurrent_deliveries_book_once(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    application = await apply(client, listing["id"], await bidder(client))
    body, _ = signed(notice(application["deposit_account"], "200000.00", utcnow(), txn_id="BANK-RACE"))
    sessions, hooks = client.app.state.sessions, client.app.state.listing_hooks

    async def one() -> bool:
        async with sessions() as session:
            return not (await receive(session, body, parse_notice(body), hooks)).duplicate

    booked = await asyncio.gather(*(one() for _ in range(20)))
    assert booked.count(True) == 1
    assert await _count(client, BankNotice) == 1
    assert await _count(client, LedgerTransaction) == 1
    assert await _count(client, LedgerEntry) == 2


async def test_qualification_at_the_deadline(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator, closes=4)
    closes = utcnow().fromisoformat(listing["schedule"]["registration_closes_at"])
    early, late = await bidder(client), await bidder(client)
    on_time = await apply(client, listing["id"], early)
    too_late = await apply(client, listing["id"], late)
    await decide(client, operator, on_time["id"])
    await decide(client, operator, too_late["id"])
    before = await deliver(client, notice(on_time["deposit_account"], "200000.00", utcnow()))
    while utcnow() < closes:
        await asyncio.sleep(0.1)
    # The exchange's clock decides, not the bank's: backdating paid_at does not help.
    after = await deliver(
        client, notice(too_late["deposit_account"], "200000.00", closes - timedelta(seconds=1))
    )
    assert before.json()["outcome"] == "deposit"
    assert after.json() == {**after.json(), "outcome": "suspense", "reason": "after_deadline"}
    assert (await client.get(f"/api/v1/applications/{on_time['id']}", headers=early)).json()[
        "status"
    ] == "qualified"
    late_view = (await client.get(f"/api/v1/applications/{too_late['id']}", headers=late)).json()
    assert late_view["status"] == "approved" and late_view["deposit_paid"] == "0.00"
    refunds = (await client.get("/api/v1/refunds", headers=operator)).json()
    assert [r["source_reference"] for r in refunds] == [f"bank:{after.json()['txn_id']}"]


async def test_money_that_cannot_qualify_goes_to_suspense(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    application = await apply(client, listing["id"], await bidder(client))
    await decide(client, operator, application["id"], approve=False)
    rejected = await deliver(client, notice(application["deposit_account"], "200000.00", utcnow()))
    unknown = await deliver(client, notice("6200000000000000000", "5.00", utcnow()))
    assert rejected.json()["reason"] == "application_rejected"
    assert unknown.json()["reason"] == "unknown_account"
    async with client.app.state.sessions() as session:
        refunds = list((await session.execute(select(RefundInstruction))).scalars())
    assert sorted(r.amount for r in refunds) == [500, 20000000]


async def test_rejection_and_cancellation_release_deposits_within_five_working_days(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    first, second = await bidder(client), await bidder(client)
    a = await apply(client, listing["id"], first)
    b = await apply(client, listing["id"], second)
    for application in (a, b):
        await deliver(client, notice(application["deposit_account"], "200000.00", utcnow()))
    await decide(client, operator, a["id"], approve=False)
    refunds = (await client.get("/api/v1/refunds", headers=operator)).json()
    assert [(r["application_id"], r["amount"]) for r in refunds] == [(a["id"], "200000.00")]
    from listings.workdays import add_working_days, local_date

    assert refunds[0]["due_date"] == add_working_days(local_date(utcnow()), 5).isoformat()
    cancelled = await client.post(
        f"/api/v1/listings/{listing['id']}/cancel", json={"reason": "规划调整"}, headers=operator
    )
    assert cancelled.status_code == 200
    refunds = (await client.get("/api/v1/refunds", params={"status": "pending"}, headers=operator)).json()
    assert sorted(r["application_id"] for r in refunds) == sorted([a["id"], b["id"]])
    mine = (await client.get("/api/v1/accounts/me", headers=second)).json()
    assert mine["total_held"] == "0.00"
    csv_file = await client.get("/api/v1/refunds/file", headers=operator)
    assert csv_file.status_code == 200 and "200000.00" in csv_file.text
    refund_id = refunds[0]["id"]
    paid = await client.post(
        f"/api/v1/refunds/{refund_id}/paid", json={"paid_reference": "OUT-1"}, headers=operator
    )
    assert paid.status_code == 200 and paid.json()["status"] == "paid"


async def test_accounts_me_shows_only_ones_own(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    mine_headers, mine = await qualified_bidder(client, operator, listing)
    _theirs_headers, theirs = await qualified_bidder(client, operator, listing)
    me = (await client.get("/api/v1/accounts/me", headers=mine_headers)).json()
    assert [a["application_id"] for a in me["accounts"]] == [mine["id"]]
    assert me["total_held"] == "200000.00"
    assert theirs["deposit_account"] not in str(me)
    peek = await client.get(f"/api/v1/applications/{theirs['id']}", headers=mine_headers)
    assert peek.status_code == 404
    listed = await client.get(f"/api/v1/listings/{listing['id']}/applications", headers=mine_headers)
    assert listed.status_code == 403
    staff_view = await client.get(f"/api/v1/listings/{listing['id']}/applications", headers=operator)
    assert len(staff_view.json()) == 2


async def test_applying_outside_the_window(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator, closes=3)
    await asyncio.sleep(
        max(
            0.0,
            (
                utcnow().fromisoformat(listing["schedule"]["registration_closes_at"]) - utcnow()
            ).total_seconds(),
        )
    )
    late = await client.post(f"/api/v1/listings/{listing['id']}/applications", headers=await bidder(client))
    assert late.status_code == 409 and late.json()["code"] == "registration_closed"
    _ = wait_status

"""The operator console in process: who may see it, what staff see, the form of every asset class."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

import pytest

from exchange.clock import utcnow
from exchange.db import unit_of_work
from exchange.web.console.listing_form import ASSET_FORMS, METHOD_FIELDS, Field, Group
from exchange.web.console.todo import todo
from exchange.web.routes import money
from listings.applications_models import Application
from listings.attributes import ATTRIBUTE_TYPES
from listings.models import Listing as ListingRow
from listings.workdays import local_date
from settlement import closing
from settlement.objection_models import Objection
from settlement.settlement_models import Settlement, SettlementInstallment, SettlementLine
from tests.support.api import PASSWORD, Client, register_bidder, staff
from tests.support.auctions import bid, live_auction
from tests.support.flow import wait_status
from tests.support.follow_up import rescind_after_grace
from tests.support.listings import listing_body


async def login(client: Client, username: str, password: str = PASSWORD) -> None:
    """The login form, as a browser posts it (same-origin)."""
    response = await client.post(
        "/login",
        data={"username": username, "password": password},
        headers={"origin": "http://testserver.local"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


async def logged_in_staff(client: Client, role: str) -> dict[str, str]:
    headers = await staff(client, role, f"{role}_web")
    await login(client, f"{role}_web", PASSWORD)
    return headers


async def test_anonymous_visitors_are_sent_to_log_in(client: Client) -> None:
    for path in (
        "/console",
        "/console/listings/new",
        "/console/listings/1",
        "/console/listings/1/edit",
        "/console/listings/1/settlement",
    ):
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=%2Fconsole"), path


async def test_bidders_get_the_forbidden_page(client: Client) -> None:
    user = await register_bidder(client)
    await login(client, user["username"])
    for path in (
        "/console",
        "/console/listings/new",
        "/console/listings/1",
        "/console/listings/1/edit",
        "/console/listings/1/settlement",
    ):
        response = await client.get(path)
        assert response.status_code == 403, path
        assert "text/html" in response.headers["content-type"]


async def test_operators_see_the_dashboard_by_status(client: Client) -> None:
    operator = await logged_in_staff(client, "operator")
    created = await client.post("/api/v1/listings", json=listing_body(), headers=operator)
    assert created.status_code == 201, created.text
    listing = created.json()
    response = await client.get("/console")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    drafts = response.text.split('data-status-group="draft"')[1].split("</section>")[0]
    assert f'href="/console/listings/{listing["id"]}"' in drafts
    assert '<span class="badge" data-count="draft">1</span>' in response.text
    assert 'href="/console/listings/new"' in response.text


@pytest.mark.parametrize("role", ["auditor", "admin"])
async def test_other_staff_see_the_console_but_are_not_offered_writes(client: Client, role: str) -> None:
    operator = await staff(client, "operator")
    listing = (await client.post("/api/v1/listings", json=listing_body(), headers=operator)).json()
    await logged_in_staff(client, role)
    dashboard = await client.get("/console")
    assert dashboard.status_code == 200 and 'href="/console/listings/new"' not in dashboard.text
    assert (await client.get("/console/listings/new")).status_code == 403
    assert (await client.get(f"/console/listings/{listing['id']}/edit")).status_code == 403
    detail = await client.get(f"/console/listings/{listing['id']}")
    assert detail.status_code == 200
    assert 'data-action="publish"' not in detail.text and "/cancel" not in detail.text
    assert f"/console/listings/{listing['id']}/edit" not in detail.text


async def test_the_console_page_shows_staff_the_reserve(client: Client) -> None:
    operator = await logged_in_staff(client, "operator")
    body = listing_body(reserve_price="1234567.89")
    listing = (await client.post("/api/v1/listings", json=body, headers=operator)).json()
    response = await client.get(f"/console/listings/{listing['id']}")
    assert response.status_code == 200
    reserve = re.search(r"<dd data-reserve>(.*?)</dd>", response.text, re.S)
    assert reserve is not None and "1,234,567.89" in reserve.group(1)
    assert 'data-action="publish"' in response.text
    english = await client.get(f"/console/listings/{listing['id']}?lang=en")
    assert "Reserve (secret, staff only)" in english.text and "1,234,567.89" in english.text
    # The attributes read as the form names them, values too.
    assert re.search(r'data-attribute="land_use">Land use</dt><dd>Mixed use</dd>', english.text)
    assert re.search(r'data-attribute="land_use">土地用途</dt><dd>综合用地（混合用途）</dd>', response.text)


async def test_an_unknown_listing_is_a_404_page(client: Client) -> None:
    await logged_in_staff(client, "operator")
    response = await client.get("/console/listings/999999")
    assert response.status_code == 404 and "text/html" in response.headers["content-type"]


def _field_names(items: tuple[Field | Group, ...]) -> list[str]:
    names: list[str] = []
    for item in items:
        if isinstance(item, Group):
            names.append(item.name)
            names.extend(f.name for f in item.fields)
        else:
            names.append(item.name)
    return names


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_the_form_has_every_asset_class_and_method_field_in_both_languages(
    client: Client, lang: str
) -> None:
    await logged_in_staff(client, "operator")
    response = await client.get(f"/console/listings/new?lang={lang}")
    assert response.status_code == 200
    html = response.text
    assert {a.key for a in ASSET_FORMS} == set(ATTRIBUTE_TYPES)
    for asset in ASSET_FORMS:
        assert f'data-asset="{asset.key}"' in html
        # Every attribute of the class's schema has an input (crs and fixed units have defaults).
        schema = set(ATTRIBUTE_TYPES[asset.key].__struct_fields__) - {"crs", "unit"}
        names = _field_names(asset.items)
        assert schema <= {n.split(".")[1] for n in names}, asset.key
        for name in names:
            assert f'name="{name}"' in html, name
        for item in asset.items:
            label = item.en if lang == "en" else item.zh
            assert label in html, label
    for field in METHOD_FIELDS:
        assert f'name="{field.name}"' in html and (field.en if lang == "en" else field.zh) in html
    for name in ("title", "start_price", "increment", "deposit", "reserve_price", "schedule.announce_at"):
        assert f'name="{name}"' in html, name
    assert html.count('type="datetime-local"') == 5
    assert ("Save draft" if lang == "en" else "保存草稿") in html
    assert "m²" in html and "t/a" in html and "m³/a" in html


async def test_the_settlement_page_shows_amounts_schedule_and_ledger(client: Client) -> None:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=2)
    lid = listing["id"]
    assert (await bid(client, alice, lid, "1000000.00")).status_code == 201
    assert (await bid(client, bob, lid, "1110000.00")).status_code == 201
    await wait_status(client, lid, "closed", timeout=15)
    async with unit_of_work(client.app.state.sessions) as session:
        assert await closing.settle(session, lid, client.app.state.settings.settlement) is not None
    auditor = await logged_in_staff(client, "auditor")
    api = (await client.get(f"/api/v1/settlements/{lid}", headers=auditor)).json()
    line = api["lines"][0]

    detail = await client.get(f"/console/listings/{lid}")
    assert detail.status_code == 200
    assert "data-watch" in detail.text and f'href="/console/listings/{lid}/settlement"' in detail.text
    page = await client.get(f"/console/listings/{lid}/settlement")
    assert page.status_code == 200
    html = page.text
    assert 'data-outcome="sold"' in html and line["bid_number"] in html
    due = re.search(r"<dd data-amount-due>(.*?)</dd>", html, re.S)
    assert due is not None and money(line["amount_due"]) in due.group(1)
    for installment in line["installments"]:
        assert money(installment["amount"]) in html
    ledger = html.split("data-ledger")[1]
    legs = [leg for t in api["transactions"] for leg in t["entries"]]
    assert legs and all(leg["account"] in ledger for leg in legs)
    assert ledger.count("<tr>") - 1 == len(legs)  # one row per leg, after the header row
    assert "/relist" not in html  # nothing to relist, and an auditor may not

    # never paid: late fees, rescission proposed after the grace, confirmed by an operator
    await rescind_after_grace(client, await staff(client, "operator"), lid)
    await logged_in_staff(client, "operator")
    rescinded = (await client.get(f"/console/listings/{lid}/settlement")).text
    assert 'data-settlement-status="rescinded"' in rescinded
    assert "已解除" in rescinded and 'data-reminder-kind="rescission_proposed"' in rescinded
    assert "data-rescission-form" not in rescinded and "data-late-fees" in rescinded
    assert f'data-api-post="/api/v1/settlements/{lid}/relist"' in rescinded


async def test_a_failed_listing_has_a_settlement_page_without_winners(client: Client) -> None:
    listing, _ = await live_auction(client, 1, closes_in=1)
    lid = listing["id"]
    await wait_status(client, lid, "failed", timeout=15)
    async with unit_of_work(client.app.state.sessions) as session:
        assert await closing.settle(session, lid, client.app.state.settings.settlement) is not None
    await logged_in_staff(client, "operator")
    response = await client.get(f"/console/listings/{lid}/settlement?lang=en")
    assert response.status_code == 200
    assert 'data-outcome="failed"' in response.text and "Failed" in response.text
    assert "data-amount-due" not in response.text


@pytest.mark.databases()
async def test_the_to_do_queue_counts_what_waits_for_an_operator(client: Client) -> None:
    """One of each kind of work, set straight into the tables, and a sealed listing that must not show."""
    operator = await logged_in_staff(client, "operator")
    empty = await client.get("/console")
    assert "data-todo-empty" in empty.text and "暂无待办事项" in empty.text
    bidders = [(await register_bidder(client))["id"] for _ in range(3)]
    ids = []
    for n in range(7):
        body = listing_body(title=f"待办标的 {n}", qualification="post" if n == 6 else "pre")
        created = await client.post("/api/v1/listings", json=body, headers=operator)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    pending, late, publicity, review, contract, overdue, sealed = ids
    now = utcnow()
    today = local_date(now)
    async with unit_of_work(client.app.state.sessions) as session:
        rows = {lid: await session.get(ListingRow, lid) for lid in ids}
        for row in rows.values():
            assert row is not None
            row.status = "registration"
            row.bidding_opens_at, row.bidding_closes_at = now + timedelta(days=2), now + timedelta(days=3)
        # the deadline passed and bidding runs today: one applicant never paid
        rows[late].status = "bidding"
        rows[late].registration_closes_at = now - timedelta(minutes=5)
        rows[late].bidding_opens_at = now - timedelta(minutes=1)
        rows[late].bidding_closes_at = now + timedelta(minutes=1)
        for lid in (publicity, review, contract, overdue):
            rows[lid].status = "closed"

        def application(lid: int, bidder: int, status: str, paid: bool = False) -> Application:
            return Application(
                listing_id=lid,
                bidder_id=bidder,
                status=status,
                deposit_account=secrets.token_hex(8),
                deposit_due=20_000_000,
                paid_in_full_at=now if paid else None,
                created_at=now,
            )

        session.add_all(
            [
                application(pending, bidders[0], "pending", paid=True),
                application(pending, bidders[1], "pending"),
                application(late, bidders[0], "approved"),
                application(late, bidders[1], "qualified", paid=True),
                application(sealed, bidders[0], "pending"),  # 资格后审: sealed until the close
            ]
        )
        winner = application(overdue, bidders[2], "qualified", paid=True)
        session.add(winner)

        def settlement(lid: int, status: str, **fields: Any) -> Settlement:
            return Settlement(
                listing_id=lid, status=status, outcome="sold", created_at=now, updated_at=now, **fields
            )

        session.add_all(
            [
                settlement(publicity, "publicity", publicity_ends_at=now + timedelta(days=3)),
                settlement(review, "review"),
                settlement(contract, "awaiting_contract", contract_due_on=today - timedelta(days=1)),
                settlement(overdue, "pending_payment"),
            ]
        )
        await session.flush()
        session.add_all(
            [
                Objection(
                    listing_id=publicity, filed_by=bidders[0], reasons="异议", status="filed", created_at=now
                ),
                Objection(
                    listing_id=publicity, filed_by=bidders[1], reasons="异议", status="upheld", created_at=now
                ),
                Objection(
                    listing_id=publicity,
                    filed_by=bidders[2],
                    reasons="异议",
                    status="dismissed",
                    created_at=now,
                ),
            ]
        )
        line = SettlementLine(
            listing_id=overdue,
            application_id=winner.id,
            bidder_id=bidders[2],
            bid_number="123",
            price=100_000_000,
            deposit_applied=20_000_000,
            fee=0,
            amount_due=80_000_000,
            payment_account=secrets.token_hex(8),
            status="pending_payment",
            created_at=now,
            rescission_proposed_at=now,
        )
        session.add(line)
        await session.flush()
        session.add_all(
            [
                SettlementInstallment(
                    line_id=line.id,
                    seq=1,
                    label="first",
                    due_date=today - timedelta(days=20),
                    amount=40_000_000,
                    status="pending",
                ),
                SettlementInstallment(
                    line_id=line.id,
                    seq=2,
                    label="balance",
                    due_date=today + timedelta(days=20),
                    amount=40_000_000,
                    status="pending",
                ),
            ]
        )

    async with unit_of_work(client.app.state.sessions) as session:
        items = {item.key: item for item in await todo(session, now)}
    counts = {key: item.count for key, item in items.items()}
    assert counts == {
        "applications": 2,
        "deposits_overdue": 1,
        "auctions_today": 1,
        "objections": 2,
        "winner_reviews": 1,
        "contracts_overdue": 1,
        "payments_overdue": 1,
        "rescissions": 1,
    }, counts
    listed = {key: [e.listing_id for e in item.entries] for key, item in items.items()}
    assert listed["applications"] == [pending]
    assert all(sealed not in shown for shown in listed.values())
    assert listed["deposits_overdue"] == [late] == listed["auctions_today"]
    assert items["applications"].entries[0].note.zh == "2 份待审核，其中 1 份保证金已到账"
    assert items["objections"].entries[0].note.zh == "1 件待答复，1 件待处理"
    assert items["payments_overdue"].entries[0].note.zh.startswith("1 期逾期，应付 400,000.00 元")

    html = (await client.get("/console")).text
    queue = html.split("data-todo>")[1].split("</section>\n<section")[0]
    assert "data-todo-empty" not in queue
    for key, item in items.items():
        block = queue.split(f'data-todo-item="{key}"')[1].split("</section>")[0]
        assert f'<span class="badge" data-todo-count>{item.count}</span>' in block, key
        for entry in item.entries:
            assert f'href="{entry.href}"' in block, (key, entry)
    assert f'href="/console/listings/{overdue}/settlement"' in queue
    english = (await client.get("/console?lang=en")).text
    assert "Applications to review" in english and "2 to review, 1 with the deposit in" in english

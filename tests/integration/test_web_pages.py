"""Public and bidder pages rendered in process: both languages, nothing secret in the HTML."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from exchange.app import create_app
from exchange.settings import Settings
from tests.support.api import Client, bidder, staff
from tests.support.auctions import bid, live_auction
from tests.support.flow import apply, open_registration, qualified_bidder, use_sandbox, wait_status
from tests.support.ids import id_number
from tests.support.listings import listing_body

RESERVE = ("1100000.00", "1,100,000.00")  # listing_body's reserve for land


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].split()[1]


async def as_user(client: Client, headers: dict[str, str] | None, path: str, **kw: Any) -> Any:
    """A page request carrying the session cookie of ``headers``' user (or none)."""
    cookie = {"cookie": f"exchange_session={_token(headers)}"} if headers else {"cookie": ""}
    return await client.get(path, headers=cookie, **kw)


def assert_no_reserve(html: str) -> None:
    for text in RESERVE:
        assert text not in html


async def test_catalogue_and_detail_render_in_both_languages_without_the_reserve(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    lid = listing["id"]

    zh = await as_user(client, None, "/")
    assert zh.status_code == 200
    assert f'href="/listings/{lid}"' in zh.text and "国有建设用地使用权" in zh.text and "报名中" in zh.text
    assert "1,000,000.00" in zh.text and "200,000.00" in zh.text
    assert_no_reserve(zh.text)
    en = await as_user(client, None, "/?lang=en")
    assert '<html lang="en">' in en.text and "Registration open" in en.text

    filtered = await as_user(client, None, "/?asset_class=water_right")
    assert f'href="/listings/{lid}"' not in filtered.text
    matching = await as_user(
        client, None, "/?asset_class=land_use_right&status=registration&sort=start_price"
    )
    assert f'href="/listings/{lid}"' in matching.text
    bad = await as_user(client, None, "/?status=nonsense")
    assert bad.status_code == 400 and "text/html" in bad.headers["content-type"]

    detail = await as_user(client, None, f"/listings/{lid}")
    assert detail.status_code == 200
    assert "苏园土挂(2026)12号" in detail.text and "容积率" in detail.text
    assert "设有保留价" in detail.text and "登录后报名" in detail.text
    assert_no_reserve(detail.text)
    detail_en = await as_user(client, None, f"/listings/{lid}?lang=en")
    assert "Plot ratio" in detail_en.text and "Set (secret until the close)" in detail_en.text
    assert_no_reserve(detail_en.text)

    # Staff read the API's staff view with the reserve; their page still shows the public one.
    as_staff = await as_user(client, operator, f"/listings/{lid}")
    assert_no_reserve(as_staff.text)

    missing = await as_user(client, None, "/listings/999999")
    assert missing.status_code == 404 and "页面不存在" in missing.text


async def test_a_bidder_applies_from_the_detail_page_and_sees_only_its_own_deposit_account(
    client: Client,
) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    lid = listing["id"]
    alice, bob = await bidder(client), await bidder(client)

    page = await as_user(client, alice, f"/listings/{lid}")
    assert f'action="/api/v1/listings/{lid}/applications"' in page.text

    anonymous = await as_user(client, None, "/me", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=%2Fme"
    assert (await as_user(client, operator, "/me")).status_code == 403

    application = await apply(client, lid, alice)
    account = application["deposit_account"]
    mine = await as_user(client, alice, "/me")
    assert mine.status_code == 200
    assert account in mine.text and "200,000.00" in mine.text and "待审核" in mine.text
    theirs = await as_user(client, bob, "/me")
    assert account not in theirs.text and "您还没有报名" in theirs.text
    applied = await as_user(client, alice, f"/listings/{lid}?lang=en")
    assert "You have applied" in applied.text and "Pending review" in applied.text


async def test_a_qualified_bidder_sees_the_bid_number_and_the_paid_deposit(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    headers, view = await qualified_bidder(client, operator, listing)
    mine = await as_user(client, headers, "/me")
    assert view["bid_number"] in mine.text and 'data-state="arrived"' in mine.text
    assert "deposit" in (await as_user(client, headers, "/me?lang=en")).text.lower()


async def test_the_register_page_registers_and_logs_in(client: Client) -> None:
    page = await as_user(client, None, "/register?next=/listings/7")
    assert page.status_code == 200
    assert 'action="/register?next=/listings/7"' in page.text and "data-password-rules" in page.text
    for name in ("credit_code", "id_number", "username", "password", "display_name"):
        assert f'<label for="{name}">' in page.text and f'id="{name}"' in page.text
    assert "Unified social credit code" in (await as_user(client, None, "/register?lang=en")).text
    logged_in = await as_user(client, await bidder(client), "/register", follow_redirects=False)
    assert logged_in.status_code == 303 and logged_in.headers["location"] == "/me"
    operator = await as_user(client, await staff(client, "operator"), "/register", follow_redirects=False)
    assert operator.headers["location"] == "/console"

    body = {
        "username": "page_newbie",
        "password": "Bidder-pass-2026",
        "display_name": "新手",
        "kind": "individual",
        "id_number": id_number(serial=321),
    }
    # the page's script sends the CSRF token of the page's cookie, as every page's API call does
    csrf = page.cookies.get("exchange_csrf")
    assert csrf
    token = {"cookie": f"exchange_csrf={csrf}", "x-csrf-token": csrf}
    weak = await client.post("/register", json={**body, "password": "page_newbie1"}, headers=token)
    assert weak.status_code == 422 and weak.headers["content-type"].startswith("application/problem+json")
    foreign = await client.post("/register", json=body, headers={**token, "origin": "https://evil.example"})
    assert foreign.status_code == 403 and foreign.json()["code"] == "csrf_failed"
    tokenless = await client.post("/register", json=body, headers={"cookie": ""})
    assert tokenless.status_code == 403 and tokenless.json()["code"] == "csrf_failed"
    for outside in ("//evil.example/x", "/%09/evil.example"):  # a tab: browsers drop it, //evil remains
        sent = await client.post(f"/register?next={outside}", json=body, headers=token)
        assert sent.status_code == 201, sent.text
        assert sent.json()["next"] == "/me"  # only a path on this site
        body = {**body, "username": f"{body['username']}x", "id_number": id_number(serial=322)}
    done = sent
    assert done.status_code == 201, done.text
    assert done.json()["next"] == "/me"  # only a path on this site
    session = done.cookies.get("exchange_session")
    assert session and done.cookies.get("exchange_csrf")
    me = await client.get("/me", headers={"cookie": f"exchange_session={session}"})
    assert me.status_code == 200 and "您还没有报名" in me.text


async def test_the_me_page_links_a_closed_lot_to_its_result_not_the_hall(client: Client) -> None:
    listing, (alice,) = await live_auction(client, 1, closes_in=3)
    lid = listing["id"]
    running = await as_user(client, alice, "/me")
    assert f'href="/hall/{lid}"' in running.text and "进入竞价大厅" in running.text
    await wait_status(client, lid, "failed", timeout=15)  # one bidder: too few
    over = await as_user(client, alice, "/me")
    assert "进入竞价大厅" not in over.text and f'href="/results/{lid}"' in over.text
    # the deposit was released at the close: it still arrived, it is not overdue
    assert 'data-state="arrived"' in over.text and 'data-state="overdue"' not in over.text
    detail = await as_user(client, alice, f"/listings/{lid}")
    assert "进入竞价大厅" not in detail.text and f'href="/results/{lid}"' in detail.text


async def test_results_show_the_statistics_and_documents_in_both_languages(client: Client) -> None:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=5)
    lid = listing["id"]
    assert (await bid(client, alice, lid, "1000000.00")).status_code == 201
    assert (await bid(client, bob, lid, "1200000.00")).status_code == 201
    await wait_status(client, lid, "closed", timeout=15)

    listing_page = await as_user(client, None, "/results")
    assert f'href="/results/{lid}"' in listing_page.text and "1,200,000.00" in listing_page.text
    zh = await as_user(client, None, f"/results/{lid}")
    assert zh.status_code == 200
    assert "成交" in zh.text and "20.00%" in zh.text and "1,200,000.00" in zh.text
    assert 'data-field="bids">2<' in zh.text and 'data-field="bidders">2<' in zh.text
    result = (await client.get(f"/api/v1/results/{lid}")).json()
    assert result["audit_head"] in zh.text
    en = await as_user(client, None, f"/results/{lid}?lang=en")
    assert "Premium" in en.text and "Winners" in en.text  # the wording is the results page's (H4)
    assert (await as_user(client, None, "/results/999999")).status_code == 404


async def test_the_hall_shows_my_bid_and_every_bid_number(client: Client) -> None:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=30)
    lid = listing["id"]
    assert (await bid(client, alice, lid, "1000000.00")).status_code == 201
    assert (await bid(client, bob, lid, "1010000.00")).status_code == 201
    numbers = {b["bid_number"] for b in (await client.get(f"/api/v1/auctions/{lid}/bids")).json()}
    alice_number = (await client.get("/api/v1/applications/mine", headers=alice)).json()[0]["bid_number"]
    (bob_number,) = numbers - {alice_number}

    hall = await as_user(client, alice, f"/hall/{lid}")
    assert hall.status_code == 200
    assert f'data-my-number="{alice_number}"' in hall.text and 'data-can-bid="true"' in hall.text
    assert (
        bob_number in hall.text
    )  # the bid history shows the 号牌 of every bid, as Chinese halls do (issue 17)
    assert hall.text.count('class="mine"') == 1 and hall.text.count('class="other"') == 1
    assert "1,010,000.00" in hall.text and 'value="1020000.00"' in hall.text  # the next valid bid
    assert_no_reserve(hall.text)

    watcher = await as_user(client, None, f"/hall/{lid}?lang=en")
    assert 'data-can-bid="false"' in watcher.text and "read-only" in watcher.text
    assert f'data-my-number="{alice_number}"' not in watcher.text  # 号牌 in the history, none of them "mine"
    assert "data-bid-form" not in watcher.text
    outsider = await as_user(client, await bidder(client), f"/hall/{lid}")
    assert "没有本标的的竞买资格" in outsider.text and "data-bid-form" not in outsider.text


async def test_a_sealed_hall_hides_other_quotes_but_shows_my_own(client: Client) -> None:
    listing, (alice, bob) = await live_auction(client, 2, closes_in=30, method="sealed_bid")
    lid = listing["id"]
    assert (await bid(client, alice, lid, "1050000.00")).status_code == 201
    assert (await bid(client, bob, lid, "1090000.00")).status_code == 201
    hall = await as_user(client, alice, f"/hall/{lid}")
    assert "1,050,000.00" in hall.text and "1,090,000.00" not in hall.text
    assert 'data-mode="sealed"' in hall.text
    watcher = await as_user(client, None, f"/hall/{lid}")
    assert "1,050,000.00" not in watcher.text and "1,090,000.00" not in watcher.text


@pytest.fixture
async def pclient(db: str, settings: Settings) -> AsyncIterator[Client]:
    """The app with PDF documents issued."""
    async with AsyncTestClient(app=create_app(replace(settings, issue_documents=True))) as client:
        yield client


async def _issued(
    client: Client, listing_id: int, kinds: set[str], timeout: float = 90
) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await client.get(f"/api/v1/results/{listing_id}")
        if result.status_code == 200 and kinds <= {d["kind"] for d in result.json()["documents"]}:
            return list(result.json()["documents"])
        assert loop.time() < deadline, f"documents {kinds} never issued"
        await asyncio.sleep(0.5)


async def test_pages_link_the_issued_documents_and_the_winner_finds_the_confirmation(pclient: Client) -> None:
    listing, (alice, bob) = await live_auction(pclient, 2, closes_in=5)
    lid = listing["id"]
    assert (await bid(pclient, alice, lid, "1000000.00")).status_code == 201
    assert (await bid(pclient, bob, lid, "1200000.00")).status_code == 201
    await wait_status(pclient, lid, "closed", timeout=15)
    documents = await _issued(pclient, lid, {"listing_announcement", "result_announcement", "bid_record"})

    detail = await as_user(pclient, None, f"/listings/{lid}")
    announcement = next(d for d in documents if d["kind"] == "listing_announcement")
    assert f'href="{announcement["url"]}"' in detail.text and announcement["sha256"] in detail.text
    result = await as_user(pclient, None, f"/results/{lid}")
    for document in documents:
        assert f'href="{document["url"]}"' in result.text and document["sha256"] in result.text
    assert "成交公示" in result.text and "竞价记录" in result.text

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while 'data-kind="confirmation"' not in (mine := await as_user(pclient, bob, "/me")).text:
        assert loop.time() < deadline, "the winner's confirmation never appeared on /me"
        await asyncio.sleep(0.5)
    assert "成交确认书" in mine.text
    assert 'data-kind="confirmation"' not in (await as_user(pclient, alice, "/me")).text


async def test_before_bidding_the_hall_counts_down_to_the_opening(client: Client) -> None:
    operator = await staff(client, "operator")
    listing = await open_registration(client, operator)
    lid = listing["id"]
    headers, view = await qualified_bidder(client, operator, listing)
    assert f'href="/hall/{lid}"' in (await as_user(client, headers, "/me")).text
    assert f'href="/hall/{lid}"' in (await as_user(client, headers, f"/listings/{lid}")).text
    hall = await as_user(client, headers, f"/hall/{lid}")
    assert hall.status_code == 200
    assert 'data-status="scheduled"' in hall.text and "距竞价开始" in hall.text
    opens = datetime.fromisoformat(listing["schedule"]["bidding_opens_at"])
    assert f'data-opens-at="{opens.isoformat()}"' in hall.text
    assert view["bid_number"] in hall.text
    assert_no_reserve(hall.text)
    assert (await as_user(client, None, "/hall/999999")).status_code == 404


async def test_the_catalogue_pages_through_the_listings_keeping_the_filters(client: Client) -> None:
    operator = await staff(client, "operator")
    use_sandbox(client)
    ids = []
    for _ in range(21):
        created = await client.post("/api/v1/listings", json=listing_body(), headers=operator)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
        assert (await client.post(f"/api/v1/listings/{ids[-1]}/publish", headers=operator)).status_code == 200
    draft = (await client.post("/api/v1/listings", json=listing_body(), headers=operator)).json()["id"]

    first = await as_user(client, None, "/?asset_class=land_use_right&sort=id")
    assert first.text.count('<tr data-listing="') == 20
    assert first.text.index(f'data-listing="{ids[0]}"') < first.text.index(f'data-listing="{ids[1]}"')
    assert "共 21 项" in first.text and "第 1 / 2 页" in first.text
    assert 'href="/?asset_class=land_use_right&amp;sort=id&amp;page=2"' in first.text
    second = await as_user(client, None, "/?asset_class=land_use_right&sort=id&page=2")
    assert second.text.count('<tr data-listing="') == 1 and f'data-listing="{ids[-1]}"' in second.text
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    newest = await as_user(client, None, "/")
    assert newest.text.index(f'data-listing="{ids[-1]}"') < newest.text.index(f'data-listing="{ids[-2]}"')
    assert f'data-listing="{draft}"' not in newest.text  # drafts are not public
    # the filter form sends "全部" as an empty value; the keyword narrows the list
    form = await as_user(client, None, "/?q=测试标的&asset_class=&status=&method=&region=&sort=")
    assert form.status_code == 200 and form.text.count('<tr data-listing="') == 20
    assert "共 21 项" in form.text and 'href="/?q=' in form.text
    assert 'data-field="no_match"' in (await as_user(client, None, "/?q=没有这样的标的")).text
    assert (await as_user(client, None, "/?asset_class=ships")).status_code == 400

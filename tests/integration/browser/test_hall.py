"""The bidding hall in a real browser: bidding, another bidder's bid arriving live, the extension, the close.

On PostgreSQL with Redis and on the embedded SQLite default without it: ``make run``
and ``make demo`` are held to the same pages as production.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, expect

from tests.support.browser import log_in, screenshot
from tests.support.hall import EXTENSION, PASSWORD, add_operator, seed_auction, token
from tests.support.listings import listing_body, sandbox_schedule
from tests.support.server import Server

pytestmark = pytest.mark.databases()

_SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _api_bid(web: Server, lid: int, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=web.url, timeout=5) as http:
        view = (await http.get(f"/api/v1/auctions/{lid}")).json()
        return await http.post(
            f"/api/v1/auctions/{lid}/bids",
            json={"amount": view["next_min_bid"]},
            headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
        )


async def _ends_at(web: Server, lid: int) -> datetime:
    async with httpx.AsyncClient(base_url=web.url) as http:
        return datetime.fromisoformat((await http.get(f"/api/v1/auctions/{lid}")).json()["ends_at"])


async def _bid_in_hall(page: Page) -> None:
    await page.get_by_role("button", name=re.compile("^(出价|Place bid)$")).click()
    await expect(page.locator("[data-bid-message]")).to_have_attribute("data-code", "accepted")


async def test_bidding_live_in_the_hall(web: Server, context: BrowserContext, browser: Browser) -> None:
    alice, bob = f"hall_a_{secrets.token_hex(2)}", f"hall_b_{secrets.token_hex(2)}"
    lid, heads = await seed_auction(web, [alice, bob], bidding_seconds=9)
    page = await context.new_page()
    await log_in(page, web.url, alice, PASSWORD)
    await page.goto(f"{web.url}/hall/{lid}")
    await expect(page.locator("[data-connection]")).to_have_attribute("data-state", "live")
    await expect(page.get_by_label(re.compile("出价金额"))).to_have_value("1000000.00")
    await expect(page.locator("[data-countdown]")).to_have_text(re.compile(r"^\d\d:\d\d$"))

    await _bid_in_hall(page)
    history = page.locator("[data-history] tr")
    await expect(history).to_have_count(1)
    await expect(history.first).to_contain_text("我的出价")
    await expect(page.get_by_label(re.compile("出价金额"))).to_have_value("1010000.00")

    # Another bidder's bid reaches this page within a second of its acknowledgement.
    response = await _api_bid(web, lid, heads[bob])
    assert response.status_code == 201, response.text
    await expect(history).to_have_count(2, timeout=1000)
    await expect(history.first).to_contain_text("其他出价", timeout=1000)
    await expect(page.locator("[data-price-now]")).to_have_text("1,010,000.00", timeout=1000)
    await expect(page.locator("[data-premium]")).to_have_text("1.00%")
    await expect(page.locator("[data-unit-price]")).to_have_text("28.68")  # 1,010,000 / 35,210.50 m²
    numbers = {b["bid_number"] for b in httpx.get(f"{web.url}/api/v1/auctions/{lid}/bids").json()}
    html = await page.content()
    mine = await page.locator("[data-my-bid-number]").first.text_content()
    assert all(n not in html for n in numbers - {mine})  # never another bidder's number
    await screenshot(page, "hall-bidding")

    # A bid in the last EXTENSION seconds moves the close, and the countdown follows it.
    before = await _ends_at(web, lid)
    wait = (before - datetime.now(UTC)).total_seconds() - EXTENSION + 1.5
    await asyncio.sleep(max(0.0, wait))
    await expect(page.locator("[data-last-minute]")).to_be_visible()
    await _bid_in_hall(page)
    after = await _ends_at(web, lid)
    assert after > before
    await expect(page.locator("[data-extended]")).to_be_visible(timeout=1000)
    await expect(page.locator("[data-extended]")).to_contain_text(f"{after.astimezone(_SHANGHAI):%H:%M:%S}")
    await screenshot(page, "hall-extended")

    # Bob outbids; Alice answers from the hall with the refreshed lowest valid bid and wins at the close.
    assert (await _api_bid(web, lid, heads[bob])).status_code == 201
    await expect(page.get_by_label(re.compile("出价金额"))).to_have_value("1040000.00", timeout=1000)
    await _bid_in_hall(page)
    await expect(history).to_have_count(5)
    await expect(history.first).to_contain_text("我的出价")

    phone = await browser.new_context(
        locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 390, "height": 844}, is_mobile=True
    )
    watcher = await phone.new_page()
    await watcher.goto(f"{web.url}/hall/{lid}")
    await expect(watcher.locator("[data-history] tr")).to_have_count(5)
    await expect(watcher.locator("[data-history]")).not_to_contain_text("我的出价")
    assert await watcher.evaluate("document.documentElement.scrollWidth") <= 390
    await screenshot(watcher, "hall-phone")

    outcome = page.locator("[data-outcome]")
    await expect(outcome).to_be_visible(timeout=15_000)
    await expect(outcome).to_contain_text("恭喜，您已竞得")
    await expect(outcome).to_contain_text("1,040,000.00")
    await expect(watcher.locator("[data-outcome]")).to_contain_text("已成交")
    await screenshot(page, "hall-closed")
    await screenshot(watcher, "hall-phone-closed")
    await phone.close()


async def _hall_as(context: BrowserContext, web: Server, username: str, lid: int) -> Page:
    page = await context.new_page()
    await log_in(page, web.url, username, PASSWORD)
    await page.goto(f"{web.url}/hall/{lid}")
    await expect(page.locator("[data-connection]")).to_have_attribute("data-state", "live")
    return page


async def _sealed_hall(
    web: Server, context: BrowserContext, bidding_seconds: float
) -> tuple[int, dict[str, dict[str, str]], Page, str, str]:
    """A sealed auction with alice and bob qualified, and alice's hall: (id, headers, page, alice, bob)."""
    alice, bob = f"seal_a_{secrets.token_hex(2)}", f"seal_b_{secrets.token_hex(2)}"
    lid, heads = await seed_auction(web, [alice, bob], bidding_seconds=bidding_seconds, method="sealed_bid")
    return lid, heads, await _hall_as(context, web, alice, lid), alice, bob


async def test_a_sealed_quote_is_confirmed_once_and_others_stay_hidden(
    web: Server, context: BrowserContext
) -> None:
    lid, heads, page, _alice, bob = await _sealed_hall(web, context, 6)
    amount = page.get_by_label(re.compile("密封报价"))
    await expect(amount).to_have_value("1000000.00")
    await page.get_by_role("button", name=re.compile("\\+|加一个")).click()
    await expect(amount).to_have_value("1010000.00")
    await page.get_by_role("button", name="提交报价").click()
    confirm = page.get_by_role("button", name=re.compile("请再次确认报价"))
    await expect(confirm).to_contain_text("1,010,000.00")
    await confirm.click()
    await expect(page.locator("[data-bid-message]")).to_have_attribute("data-code", "accepted")
    history = page.locator("[data-history] tr")
    await expect(history).to_have_count(1)

    async with httpx.AsyncClient(base_url=web.url) as http:
        quoted = await http.post(
            f"/api/v1/auctions/{lid}/bids",
            json={"amount": "1090000.00"},
            headers={**heads[bob], "Idempotency-Key": secrets.token_hex(8)},
        )
    assert quoted.status_code == 201, quoted.text
    await asyncio.sleep(1)
    await expect(history).to_have_count(1)  # a sealed quote is nobody else's business before the close
    await screenshot(page, "hall-sealed")

    outcome = page.locator("[data-outcome]")
    await expect(outcome).to_be_visible(timeout=15_000)
    await expect(outcome).to_contain_text("1,090,000.00")
    await expect(outcome).to_contain_text("您未竞得")
    await expect(history).to_have_count(2)  # revealed at the close, still only mine / other


async def test_dutch_accept_at_the_current_price(web: Server, context: BrowserContext) -> None:
    alice, bob = f"dutch_a_{secrets.token_hex(2)}", f"dutch_b_{secrets.token_hex(2)}"
    lid, _ = await seed_auction(
        web, [alice, bob], bidding_seconds=20, method="dutch", reserve_price="900000.00"
    )
    page = await _hall_as(context, web, alice, lid)
    await expect(page.locator("[data-price-now]")).to_have_text(re.compile(r"^\d{3},\d{3}\.00$"))
    await page.get_by_role("button", name="接受当前价格").click()
    outcome = page.locator("[data-outcome]")
    await expect(outcome).to_be_visible(timeout=5000)
    await expect(outcome).to_contain_text("恭喜，您已竞得")
    result = httpx.get(f"{web.url}/api/v1/results/{lid}").json()
    assert result["outcome"] == "sold" and result["winners"][0]["name"].startswith(alice)
    await screenshot(page, "hall-dutch")


async def test_opt_in_to_the_cap_lottery(web: Server, context: BrowserContext) -> None:
    alice, bob = f"lot_a_{secrets.token_hex(2)}", f"lot_b_{secrets.token_hex(2)}"
    lid, heads = await seed_auction(
        web,
        [alice, bob],
        bidding_seconds=20,
        price_cap="1020000.00",
        cap_rule="lottery",
        lottery_window_seconds=4,
    )
    page = await _hall_as(context, web, alice, lid)
    opt_in = page.get_by_role("button", name="接受限价，参与摇号")
    await expect(opt_in).to_be_hidden()
    async with httpx.AsyncClient(base_url=web.url) as http:
        capped = await http.post(
            f"/api/v1/auctions/{lid}/bids",
            json={"amount": "1020000.00", "nonce": secrets.token_hex(16)},
            headers={**heads[bob], "Idempotency-Key": secrets.token_hex(8)},
        )
    assert capped.status_code == 201, capped.text
    await expect(page.locator("[data-hall-phase]")).to_have_text("限价摇号报名", timeout=2000)
    await opt_in.click()
    await expect(page.locator("[data-bid-message]")).to_contain_text("已接受限价")
    await screenshot(page, "hall-lottery")
    outcome = page.locator("[data-outcome]")
    await expect(outcome).to_be_visible(timeout=15_000)
    await expect(outcome).to_contain_text("1,020,000.00")
    draw = httpx.get(f"{web.url}/api/v1/results/{lid}").json()["draw"]
    assert len(draw["candidates"]) == 2
    # the page drew alice's nonce in the browser: 128 random bits, published with the result
    assert len(draw["nonces"]) == 2 and all(len(n) == 32 for n in draw["nonces"])


async def test_the_hall_resumes_from_its_last_seq_and_retries_a_lost_bid_with_its_key(
    web: Server, context: BrowserContext
) -> None:
    alice, bob = f"re_a_{secrets.token_hex(2)}", f"re_b_{secrets.token_hex(2)}"
    lid, heads = await seed_auction(web, [alice, bob], bidding_seconds=40)
    page = await _hall_as(context, web, alice, lid)
    assert (await _api_bid(web, lid, heads[bob])).status_code == 201
    history = page.locator("[data-history] tr")
    await expect(history).to_have_count(1)

    await asyncio.to_thread(web.kill)
    connection = page.locator("[data-connection]")
    await expect(connection).to_have_attribute("data-state", "reconnecting")
    await asyncio.to_thread(web.start)
    # A bid while the page is away arrives by replay after_seq, exactly once.
    assert (await _api_bid(web, lid, heads[alice])).status_code == 201
    await expect(connection).to_have_attribute("data-state", "live", timeout=10_000)
    await expect(history).to_have_count(2)
    await expect(history.first).to_contain_text("我的出价")
    assert (await _api_bid(web, lid, heads[bob])).status_code == 201
    await expect(history).to_have_count(3)
    await expect(page.locator("[data-price-now]")).to_have_text("1,020,000.00")
    await page.wait_for_timeout(500)
    await expect(history).to_have_count(3)

    # A bid whose answer is lost is retried with the same Idempotency-Key, so it cannot count twice.
    keys: list[str] = []

    async def lose_the_first(route: Route) -> None:
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            await route.abort("connectionreset")
        else:
            await route.continue_()

    await page.route("**/bids", lose_the_first)
    await page.get_by_role("button", name=re.compile("^(出价|Place bid)$")).click()
    await expect(page.locator("[data-bid-message]")).to_have_attribute("data-code", "network_error")
    await _bid_in_hall(page)
    assert len(keys) == 2 and keys[0] == keys[1]
    await expect(history).to_have_count(4)
    # The next attempt is a new bid with a new key.
    assert (await _api_bid(web, lid, heads[bob])).status_code == 201
    await expect(page.get_by_label(re.compile("出价金额"))).to_have_value("1050000.00")
    await _bid_in_hall(page)
    assert len(keys) == 3 and keys[2] != keys[0]


async def test_uniform_price_takes_a_quantity_and_a_unit_price(web: Server, context: BrowserContext) -> None:
    alice, bob = f"uni_a_{secrets.token_hex(2)}", f"uni_b_{secrets.token_hex(2)}"
    lid, heads = await seed_auction(
        web,
        [alice, bob],
        bidding_seconds=6,
        asset_class="emission_right",
        method="uniform_price",
        undersubscribed="sell_available",  # two bidders at half each cannot take all 12.5 t
    )
    page = await _hall_as(context, web, alice, lid)
    quantity = page.get_by_label(re.compile("申报数量"))
    await expect(quantity).to_have_value("0.500")  # one lot
    await quantity.fill("6.000")
    price = page.get_by_label(re.compile("单价"))
    await expect(price).to_have_value("1000000.00")
    await page.get_by_role("button", name="提交报价").click()
    await page.get_by_role("button", name=re.compile("请再次确认报价")).click()
    await expect(page.locator("[data-bid-message]")).to_have_attribute("data-code", "accepted")
    history = page.locator("[data-history] tr")
    await expect(history).to_have_count(1)
    await expect(history.first).to_contain_text("6.000")
    await expect(history.first).to_contain_text("我的出价")

    # Over the bidder's share (at most half of 12.500 t): the API's problem detail is shown.
    await quantity.fill("6.500")
    await page.get_by_role("button", name="提交报价").click()
    await page.get_by_role("button", name=re.compile("请再次确认报价")).click()
    await expect(page.locator("[data-bid-message]")).to_have_attribute(
        "data-code", re.compile(r"^(?!accepted$).+")
    )
    await expect(history).to_have_count(1)
    await screenshot(page, "hall-uniform")

    async with httpx.AsyncClient(base_url=web.url) as http:
        quoted = await http.post(
            f"/api/v1/auctions/{lid}/bids",
            json={"amount": "1000000.00", "quantity": "6.000"},
            headers={**heads[bob], "Idempotency-Key": secrets.token_hex(8)},
        )
    assert quoted.status_code == 201, quoted.text
    outcome = page.locator("[data-outcome]")
    await expect(outcome).to_be_visible(timeout=15_000)
    await expect(outcome).to_contain_text("恭喜，您已竞得")
    await expect(history).to_have_count(2)


async def test_the_winner_waits_for_the_opening_and_downloads_the_confirmation(
    env: dict[str, str], servers: list[Any], tmp_path: Path, context: BrowserContext
) -> None:
    web = Server({**env, "EXCHANGE_ISSUE_DOCUMENTS": "1"}, tmp_path).start()
    servers.append(web)
    alice, bob = f"win_a_{secrets.token_hex(2)}", f"win_b_{secrets.token_hex(2)}"
    lid, _ = await seed_auction(
        web, [alice, bob], bidding_seconds=20, lead=4, method="dutch", reserve_price="900000.00"
    )
    page = await context.new_page()
    await log_in(page, web.url, alice, PASSWORD)
    await page.goto(f"{web.url}/hall/{lid}")
    await expect(page.locator("#hall")).to_have_attribute("data-status", "scheduled")
    await expect(page.locator("[data-countdown-label]")).to_have_text("距竞价开始")
    await screenshot(page, "hall-waiting")
    # The page notices the opening by itself and joins the feed.
    await expect(page.locator("[data-connection]")).to_have_attribute("data-state", "live", timeout=10_000)
    await expect(page.locator("[data-countdown-label]")).to_have_text("距本阶段结束")
    await page.get_by_role("button", name="接受当前价格").click()
    await expect(page.locator("[data-outcome]")).to_contain_text("恭喜，您已竞得")
    link = page.get_by_role("link", name="下载成交确认书")
    await expect(link).to_be_visible(timeout=40_000)
    response = await page.request.get(f"{web.url}{await link.get_attribute('href')}")
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    await screenshot(page, "hall-winner")


async def test_a_hall_waiting_for_the_opening_follows_a_suspension_and_a_cancellation(
    web: Server, context: BrowserContext
) -> None:
    """No auction is created while the listing is suspended: past the opening time the hall asks the
    listing why, instead of counting down at 00:00, and a cancellation ends the page."""
    await add_operator(web)
    async with httpx.AsyncClient(base_url=web.url) as http:
        ops = await token(http, "ops")
        schedule = sandbox_schedule(registration=0.1, registration_closes=3, bidding=4, closes=60)
        created = await http.post("/api/v1/listings", json=listing_body(schedule=schedule), headers=ops)
        assert created.status_code == 201, created.text
        lid = created.json()["id"]
        assert (await http.post(f"/api/v1/listings/{lid}/publish", headers=ops)).status_code == 200

        page = await context.new_page()
        await page.goto(f"{web.url}/hall/{lid}")
        status = page.locator("[data-hall-status]")
        await expect(status).to_have_text("未开始")
        suspended = await http.post(
            f"/api/v1/listings/{lid}/suspend", json={"reason": "补充材料"}, headers=ops
        )
        assert suspended.status_code == 200, suspended.text
        # The opening passes with the listing suspended: no auction, and the hall says so.
        await expect(status).to_have_text("已中止", timeout=10_000)
        await expect(page.locator("[data-countdown]")).to_have_text("--:--")
        assert (await http.get(f"/api/v1/auctions/{lid}")).status_code == 404

        cancelled = await http.post(
            f"/api/v1/listings/{lid}/cancel", json={"reason": "规划调整"}, headers=ops
        )
        assert cancelled.status_code == 200, cancelled.text
    await expect(status).to_have_text("已终止")
    await expect(page.locator("[data-outcome-text]")).to_have_text("已终止 (规划调整)")
    await page.reload()  # and so it says from the start
    await expect(page.locator("[data-outcome-text]")).to_have_text("已终止 (规划调整)")
    await expect(page.locator("[data-countdown]")).to_have_text("已结束")


async def test_a_sealed_hall_learns_of_a_cancellation_without_the_feed(
    web: Server, context: BrowserContext
) -> None:
    """A sealed auction's events are private (their seq would count the quotes): its hall asks instead."""
    lid, _heads, page, _alice, _bob = await _sealed_hall(web, context, 120)
    await expect(page.get_by_role("button", name="提交报价")).to_be_visible()
    async with httpx.AsyncClient(base_url=web.url) as http:
        ops = await token(http, "ops")
        cancelled = await http.post(
            f"/api/v1/listings/{lid}/cancel", json={"reason": "权属争议"}, headers=ops
        )
        assert cancelled.status_code == 200, cancelled.text
    await expect(page.locator("[data-hall-status]")).to_have_text("已终止", timeout=10_000)
    await expect(page.locator("[data-outcome-text]")).to_have_text("已终止 (权属争议)")
    await expect(page.get_by_role("button", name="提交报价")).to_be_hidden()

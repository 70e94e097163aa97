"""An operator's day in the console (issue 17), at 1440x900 and 390x844: the to-do queue, a listing
that reads as values (units, labels, percentages), publishing behind a preview of what the public
will see, and a settlement whose ledger speaks Chinese. One server, one set-up."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
from playwright.async_api import BrowserContext, Page, expect

from tests.support.browser import ARTIFACTS, assert_fits_phone, log_in, screenshot
from tests.support.flow import publish_in_time
from tests.support.hall import PASSWORD, seed_auction, token, wait_status
from tests.support.ids import credit_code
from tests.support.listings import listing_body, sandbox_schedule
from tests.support.server import Server

ALLOWED = {"PDF", "SHA", "GB", "ID", "COD", "WGS", "CGCS"}
"""Latin words a Chinese page may show: names, not words."""


async def assert_reads_as_chinese(page: Page) -> None:
    """No raw code, ``None``, JSON or English word in the page's text (codes in ``<code>`` aside)."""
    text = await page.evaluate(
        """() => { const main = document.querySelector('main').cloneNode(true);
                   main.querySelectorAll('code, script, dialog:not([open]), [hidden]').forEach((n) => n.remove());
                   return main.innerText; }"""
    )
    assert "None" not in text and "null" not in text, text
    assert not re.search(r'[{\[]\s*"', text), f"JSON on {page.url}"
    words = {w for w in re.findall(r"[A-Za-z][A-Za-z_]+", text) if w not in ALLOWED}
    assert not words, f"{page.url}: {sorted(words)}"


async def _apply(http: httpx.AsyncClient, lid: int, name: str) -> None:
    user = {
        "username": name,
        "password": PASSWORD,
        "display_name": f"{name} 有限公司",
        "kind": "enterprise",
        "credit_code": credit_code(),
    }
    assert (await http.post("/api/v1/auth/register", json=user)).status_code == 201
    applied = await http.post(f"/api/v1/listings/{lid}/applications", headers=await token(http, name))
    assert applied.status_code == 201, applied.text


async def test_an_operators_day_at_desktop_and_phone(
    web: Server, context: BrowserContext, phone: BrowserContext
) -> None:
    sold, heads = await seed_auction(web, ["day_a", "day_b"], 2, title="苏州工业园区住宅用地")
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        ops = await token(http, "ops")
        placed = await http.post(
            f"/api/v1/auctions/{sold}/bids",
            json={"amount": "1110000.00"},
            headers={**heads["day_a"], "Idempotency-Key": "day-1"},
        )
        assert placed.status_code == 201, placed.text
        # a pre-qualification listing in registration with an application to review
        schedule = sandbox_schedule(
            datetime.now(UTC) + timedelta(seconds=1),
            registration=0.1,
            registration_closes=600,
            bidding=601,
            closes=900,
        )
        review = await http.post(
            "/api/v1/listings", json=listing_body(title="待审核的挂牌", schedule=schedule), headers=ops
        )
        rid = review.json()["id"]
        await publish_in_time(http, rid, ops, schedule)
        # a divisible right sold at one price: quantities, shares and choices on the listing page
        body = listing_body(
            "emission_right",
            "uniform_price",
            title="化学需氧量排污权（统一价格）",
            reserve_price="1100000.00",
            schedule=sandbox_schedule(
                datetime.now(UTC) + timedelta(minutes=5), registration_closes=600, bidding=601, closes=900
            ),
        )
        draft = (await http.post("/api/v1/listings", json=body, headers=ops)).json()["id"]
        await wait_status(http, rid, "registration", 10)
        await _apply(http, rid, "day_c")
        await wait_status(http, sold, "closed", 20)
        for _ in range(100):
            if (await http.get(f"/api/v1/settlements/{sold}", headers=ops)).status_code == 200:
                break
            await asyncio.sleep(0.2)

    desk, hand = await context.new_page(), await phone.new_page()
    await asyncio.gather(log_in(desk, web.url, "ops", PASSWORD), log_in(hand, web.url, "ops", PASSWORD))

    # The to-do queue: the application to review, and not the auction that ran today.
    for page, size in ((desk, "desktop"), (hand, "phone")):
        await page.goto(f"{web.url}/console")
        applications = page.locator('[data-todo-item="applications"]')
        await expect(applications.locator("[data-todo-count]")).to_have_text("1")
        await expect(applications.locator(f'[data-todo-listing="{rid}"]')).to_contain_text("1 份待审核")
        today = page.locator('[data-todo-item="auctions_today"]')
        # an auction that is over waits for no one: its result has items of its own
        await expect(today.locator(f'[data-todo-listing="{sold}"]')).to_have_count(0)
        await assert_reads_as_chinese(page)
        await screenshot(page, f"issue17-console-todo-{size}")
    await assert_fits_phone(hand)
    await hand.locator(f'[data-todo-item="applications"] [data-todo-listing="{rid}"] a').click()
    await expect(hand).to_have_url(re.compile(rf"/console/listings/{rid}#applications-heading$"))

    # The listing reads as values, and publishing shows the public's view first.
    for page, size in ((desk, "desktop"), (hand, "phone")):
        await page.goto(f"{web.url}/console/listings/{draft}")
        facts = page.locator("#console-listing")
        await expect(facts).to_contain_text("12.500 吨/年")
        await expect(facts).to_contain_text("50%")
        await expect(facts).to_contain_text("统一价格")
        await assert_reads_as_chinese(page)
        await screenshot(page, f"issue17-console-listing-{size}")
        await page.get_by_role("button", name="发布公告").click()
        dialog = page.get_by_role("dialog")
        await expect(dialog).to_be_visible()
        await expect(dialog.locator('[data-preview="start_price"]')).to_have_text("1,000,000.00 元")
        await expect(dialog.locator('[data-preview="announcement_number"]')).to_have_text(
            body["announcement_number"]
        )
        await expect(dialog.locator('[data-preview="seller"]')).to_have_text(body["seller"]["name"])
        await expect(dialog).not_to_contain_text("1,100,000")  # a reserve never shows to the public
        await expect(dialog.get_by_role("button", name="确认发布")).to_be_in_viewport()
        # the screen as the operator sees it (a full-page shot would cut the backdrop)
        await page.screenshot(path=str(ARTIFACTS / f"issue17-console-publish-{size}.png"))
        if size == "desktop":
            await dialog.get_by_role("button", name="取消").click()
            await expect(dialog).to_be_hidden()
            await expect(page.locator("[data-listing-status]")).to_have_text("草稿")
    await assert_fits_phone(hand)
    await hand.get_by_role("dialog").get_by_role("button", name="确认发布").click()
    await expect(hand.locator("[data-listing-status]")).to_have_text("已公告")

    # The settlement: labels for the ledger's kinds, accounts and memos, units, grouped amounts.
    for page, size in ((desk, "desktop"), (hand, "phone")):
        await page.goto(f"{web.url}/console/listings/{sold}/settlement")
        ledger = page.locator("[data-ledger]")
        await expect(ledger.locator('[data-kind="price_due"]')).to_have_text("应收成交价款")
        await expect(ledger).to_contain_text("竞买保证金")
        await expect(ledger).to_contain_text("未竞得，退还保证金")
        await assert_reads_as_chinese(page)
        await screenshot(page, f"issue17-console-settlement-{size}")
    await assert_fits_phone(hand)
    english = await desk.goto(f"{web.url}/console/listings/{sold}/settlement?lang=en")
    assert english is not None and "Price due" in await english.text()

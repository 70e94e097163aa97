"""The console's settlement page in a real browser (issue 16): a land sale waits for its contract,
the operator records the signing and a payment the tax bureau collected through the page's forms,
and confirms a proposed rescission behind a confirm step."""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta

import httpx
from playwright.async_api import BrowserContext, expect

from exchange.db import create_engine, session_factory, unit_of_work
from exchange.settings import DatabaseSettings
from listings import workdays
from settlement import followup
from tests.support.browser import log_in, screenshot
from tests.support.calendar import invented_years
from tests.support.follow_up import shanghai_morning
from tests.support.hall import PASSWORD, seed_auction, token, wait_status
from tests.support.server import Server


async def _day_end(web: Server, day: date) -> int:
    """The day-end job, from this process, on the server's database, as it runs early on ``day``."""
    engine = create_engine(DatabaseSettings(url=web.env["EXCHANGE_DATABASE_URL"], null_pool=True))
    workdays.install(invented_years())  # the server counts on the same invented years (the db fixture)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            return await followup.day_end(session, shanghai_morning(day))
    finally:
        workdays.install(())
        await engine.dispose()


async def test_an_operator_records_the_contract_a_tracked_payment_and_a_rescission(
    web: Server, context: BrowserContext
) -> None:
    lid, heads = await seed_auction(web, ["settle_a", "settle_b"], 2)
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        placed = await http.post(
            f"/api/v1/auctions/{lid}/bids",
            json={"amount": "1110000.00"},
            headers={**heads["settle_a"], "Idempotency-Key": "settle-1"},
        )
        assert placed.status_code == 201, placed.text
        await wait_status(http, lid, "closed", 20)
        operator = await token(http, "ops")
        for _ in range(100):
            view = await http.get(f"/api/v1/settlements/{lid}", headers=operator)
            if view.status_code == 200:
                break
            await asyncio.sleep(0.2)
        assert view.status_code == 200, view.text
        assert view.json()["status"] == "awaiting_contract"

    page = await context.new_page()
    await log_in(page, web.url, "ops", PASSWORD)
    await page.goto(f"{web.url}/console/listings/{lid}/settlement")
    await expect(page.locator("[data-settlement-status]")).to_have_text("待签合同")
    await expect(page.locator("[data-no-installments]")).to_be_visible()
    await expect(page.locator("[data-collected-by]")).to_contain_text("税务")
    await screenshot(page, "console-settlement-awaiting-contract")
    contract = page.locator("form[data-contract-form]")
    await contract.get_by_role("button", name="登记签订").click()
    await expect(page.locator("[data-settlement-status]")).to_have_text("待付款")
    rows = page.locator("[data-installments] tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.nth(0)).to_contain_text("交易服务费")
    await expect(rows.nth(1)).to_contain_text("首期价款")
    await expect(rows.nth(1)).to_contain_text("355,000.00")

    # The tax bureau's notice of the first half, typed in from paper; a wrong amount first.
    tracked = page.locator("form[data-tracked-form]")
    await tracked.get_by_label("金额（元）").fill("9999999.00")
    await tracked.get_by_label("征收机关").fill("国家税务总局苏州市税务局")
    await tracked.get_by_label("缴款凭证号").fill("SW-WEB-1")
    await tracked.get_by_role("button", name="登记缴款").click()
    await expect(tracked.locator("[data-form-alert]")).to_have_attribute(
        "data-code", "amount_exceeds_outstanding"
    )
    await expect(tracked.locator("[data-form-alert]")).to_contain_text("金额")
    await tracked.get_by_label("金额（元）").fill("355000.00")
    await tracked.get_by_role("button", name="登记缴款").click()
    await expect(rows.nth(1)).to_contain_text("已付清")
    await expect(rows.nth(0)).to_contain_text("未到期")  # the fee stays with the exchange

    # Never paid further: past the grace, the day-end job proposes rescission; the operator confirms.
    due = date.fromisoformat(((await rows.nth(1).locator("td").nth(2).text_content()) or "").strip())
    assert await _day_end(web, due + timedelta(days=75)) >= 1
    await page.reload()
    await expect(page.locator("[data-rescission-proposed]")).to_be_visible()
    await expect(
        page.locator('[data-reminders] tr[data-reminder-kind="rescission_proposed"]')
    ).to_contain_text("拟解除合同")
    box = page.locator("details[data-rescission]")
    await box.locator("summary").click()
    form = box.locator("form[data-rescission-form]")
    await form.get_by_label("解除理由").fill("逾期付款超过宽限期")
    await form.get_by_role("button", name="确认解除合同").click()  # the confirm box is not ticked
    await expect(page.locator("[data-settlement-status]")).to_have_text("待付款")
    await screenshot(page, "console-settlement-rescission-confirm")
    await form.locator("[data-rescission-confirm]").check()
    await form.get_by_role("button", name="确认解除合同").click()
    await expect(page.locator("[data-settlement-status]")).to_have_text("已解除")
    await expect(page.locator("[data-forfeited]")).to_contain_text("200,000.00")
    await expect(page.get_by_role("button", name=re.compile("重新挂牌"))).to_be_visible()
    await screenshot(page, "console-settlement-rescinded")

"""A newcomer in a real browser: register (with a field error first), log in, apply, read the deposit instructions."""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import UTC, datetime, timedelta

import httpx
from playwright.async_api import BrowserContext, expect

from tests.support.browser import screenshot
from tests.support.hall import PASSWORD, add_operator, token
from tests.support.ids import id_number
from tests.support.listings import listing_body, sandbox_schedule
from tests.support.server import Server


async def _listing_in_registration(web: Server) -> int:
    await add_operator(web)
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        operator = await token(http, "ops")
        schedule = sandbox_schedule(
            datetime.now(UTC) + timedelta(seconds=0.5),
            registration=0.1,
            registration_closes=600,
            bidding=601,
            closes=700,
        )
        created = await http.post("/api/v1/listings", json=listing_body(schedule=schedule), headers=operator)
        assert created.status_code == 201, created.text
        lid = int(created.json()["id"])
        assert (await http.post(f"/api/v1/listings/{lid}/publish", headers=operator)).status_code == 200
        while (await http.get(f"/api/v1/listings/{lid}")).json()["status"] != "registration":
            await asyncio.sleep(0.1)
    return lid


async def test_register_log_in_apply_and_see_the_deposit_account(
    web: Server, context: BrowserContext
) -> None:
    lid = await _listing_in_registration(web)
    page = await context.new_page()
    await page.goto(f"{web.url}/register")
    username = f"newbie_{secrets.token_hex(2)}"
    await page.get_by_label("名称 / 姓名").fill("新手贸易有限公司")
    await page.get_by_label("统一社会信用代码").fill("911401000000000001")  # wrong check character
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="注册").click()
    credit = page.get_by_label("统一社会信用代码")
    await expect(credit).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#credit_code-error")).to_be_visible()
    await expect(page.locator("[data-form-alert]")).to_have_attribute("data-code", "credit_code_invalid")

    # An individual gives an ID number instead; the credit code field is left out.
    await page.get_by_label("自然人").check()
    await expect(credit).to_be_hidden()
    await page.get_by_label("居民身份证号码").fill(id_number(serial=secrets.randbelow(900) + 100))
    await page.get_by_role("button", name="注册").click()
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.get_by_label(re.compile("用户名")).fill(username)
    await page.get_by_label(re.compile("密码")).fill(PASSWORD)
    await page.get_by_role("button", name=re.compile("^登录$")).click()
    await expect(page).to_have_url(re.compile(r"/me$"))
    await expect(page.locator("main")).to_contain_text("您还没有报名")

    await page.goto(f"{web.url}/")
    await page.get_by_role("link", name=re.compile("测试标的")).first.click()
    await expect(page).to_have_url(re.compile(rf"/listings/{lid}$"))
    await expect(page.locator("[data-field=has_reserve]")).to_contain_text("设有保留价")
    await page.get_by_role("button", name="报名参加竞买").click()
    await expect(page).to_have_url(re.compile(r"/me$"))
    application = page.locator(".application").first
    await expect(application).to_contain_text("待审核")
    await expect(application.locator("[data-field=deposit_account]")).to_have_text(re.compile(r"^\d{10,}$"))
    await expect(application.locator("[data-field=deposit_due]")).to_contain_text("200,000.00")
    await screenshot(page, "me-applied")
    await page.set_viewport_size({"width": 390, "height": 844})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await screenshot(page, "me-applied-phone")
    for path, name in ((f"/listings/{lid}", "detail"), ("/", "catalogue"), ("/results", "results")):
        await page.goto(f"{web.url}{path}")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390, path
        await screenshot(page, f"{name}-phone")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.goto(f"{web.url}/listings/{lid}?lang=en")
    await expect(page.locator("h1")).to_contain_text("测试标的")
    await expect(page.locator("table.attributes")).to_contain_text("Plot ratio")
    await screenshot(page, "detail-en")

"""The login page in a real browser: the session cookie carries the user across pages."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import BrowserContext, expect

from tests.support.api import PASSWORD
from tests.support.browser import log_in, screenshot
from tests.support.ids import credit_code
from tests.support.server import Server


async def test_a_bidder_logs_in_and_out(web: Server, context: BrowserContext) -> None:
    username = "browser_bidder"
    async with httpx.AsyncClient(base_url=web.url) as http:
        response = await http.post(
            "/api/v1/auth/register",
            json={
                "username": username,
                "password": PASSWORD,
                "display_name": "浏览器测试",
                "kind": "enterprise",
                "credit_code": credit_code(),
            },
        )
    assert response.status_code == 201, response.text
    page = await context.new_page()
    await log_in(page, web.url, username, PASSWORD)
    await page.goto(f"{web.url}/login?lang=en")
    await expect(page.locator("header .who")).to_have_text(username)
    await screenshot(page, "login-done")
    await page.get_by_role("button", name=re.compile("退出|Log out")).click()
    await page.goto(f"{web.url}/login")
    await expect(page.locator("header .account")).to_contain_text("Log in")

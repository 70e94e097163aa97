"""Browsers get pages, programs get JSON (issue 17): an unknown address, a page not for the user's
role and a method a route does not take answer a browser with a page in the site's frame, Chinese
first, with the problem's status and a way back; the API and programs keep problem+json."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import BrowserContext, Page, expect

from tests.support.api import PASSWORD
from tests.support.browser import assert_fits_phone, log_in, screenshot
from tests.support.ids import credit_code
from tests.support.server import Server

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def _shows_the_problem(page: Page, url: str, status: int, heading: str) -> None:
    response = await page.goto(url)
    assert response is not None and response.status == status, url
    assert response.headers["content-type"].startswith("text/html"), url
    await expect(page.locator("h1")).to_have_text(heading)
    await expect(page.locator("header.site nav")).to_be_visible()  # the site's frame
    await expect(page.locator("footer.site")).to_be_visible()
    await expect(page.get_by_role("link", name="返回首页")).to_have_attribute("href", "/")
    text = await page.evaluate("document.body.innerText")
    assert not re.search(r"[a-z]+_[a-z]+|\{\"|Not Found|Forbidden", text), text


async def test_browsers_get_error_pages_and_programs_get_problem_documents(
    web: Server, context: BrowserContext, phone: BrowserContext
) -> None:
    username = "errorpages1"
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        registered = await http.post(
            "/api/v1/auth/register",
            json={
                "username": username,
                "password": PASSWORD,
                "display_name": "错误页测试有限公司",
                "kind": "enterprise",
                "credit_code": credit_code(),
            },
        )
        assert registered.status_code == 201, registered.text

        # Programs: the same addresses answer problem+json, as before.
        for path, headers in (
            ("/nothing", {}),
            ("/nothing", {"Accept": "application/json"}),
            ("/nothing", {"Accept": "*/*"}),
            ("/api/v1/nothing", BROWSER),  # the API answers JSON whatever a browser asks
            ("/api/v1/listings/999999", BROWSER),
        ):
            answer = await http.get(path, headers=headers)
            assert answer.status_code == 404, (path, headers)
            assert answer.headers["content-type"] == "application/problem+json", (path, headers)
            assert answer.json()["code"] == "not_found"
        refused = await http.delete("/api/v1/listings", headers=BROWSER)
        assert refused.status_code == 405 and refused.headers["content-type"] == "application/problem+json"

        # A browser posting where only GET is taken: a page, the 405 and its Allow kept.
        posted = await http.post("/results", headers=BROWSER)
        assert posted.status_code == 405 and posted.headers["content-type"].startswith("text/html")
        assert "GET" in posted.headers["allow"] and "不支持此操作" in posted.text

    for ctx, screen in ((context, "desktop"), (phone, "phone")):
        page = await ctx.new_page()
        await _shows_the_problem(page, f"{web.url}/nothing", 404, "页面不存在")
        await screenshot(page, f"issue17-error-404-{screen}")
        if screen == "phone":
            await assert_fits_phone(page)
        await _shows_the_problem(page, f"{web.url}/hall/999999", 404, "页面不存在")
        await _shows_the_problem(page, f"{web.url}/results/999999", 404, "页面不存在")
        await expect(page.get_by_role("link", name="返回成交公示")).to_be_visible()

        # Anyone not logged in is sent to log in, and comes back.
        await page.goto(f"{web.url}/me")
        await expect(page).to_have_url(re.compile(r"/login\?next=%2Fme$"))

        # A bidder opening the console: 403, in the frame, logged in, with a way back.
        await log_in(page, web.url, username, PASSWORD)
        await _shows_the_problem(page, f"{web.url}/console", 403, "无权访问")
        await expect(page.locator("header .who")).to_have_text(username)
        await expect(page.get_by_role("link", name="以其他账户登录")).to_be_visible()
        await screenshot(page, f"issue17-error-403-{screen}")
        if screen == "phone":
            await assert_fits_phone(page)

        # In English on request: the problem's own detail as well.
        await page.goto(f"{web.url}/nothing?lang=en")
        await expect(page.locator("h1")).to_have_text("Page not found")
        await page.close()

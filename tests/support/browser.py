"""Driving the pages in Debian's Chromium through Playwright, against a real ``exchange serve``."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, expect

CHROMIUM = os.environ.get("EXCHANGE_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("EXCHANGE_TEST_ARTIFACTS", "test-artifacts"))
"""Screenshots of the pages, kept after the run (CI may collect the directory)."""


async def log_in(page: Page, base_url: str, username: str, password: str) -> None:
    await page.goto(f"{base_url}/login")
    await page.get_by_label(re.compile("用户名|Username")).fill(username)
    await page.get_by_label(re.compile("密码|Password")).fill(password)
    await page.get_by_role("button", name=re.compile("^(登录|Log in)$")).click()
    await expect(page).not_to_have_url(re.compile(r"/login"))


async def screenshot(page: Page, name: str) -> Path:
    await asyncio.to_thread(ARTIFACTS.mkdir, parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
"""The two screens every page is tried on (issue 17): a desktop and a phone held upright."""


async def assert_fits_phone(page: Page) -> None:
    """Nothing runs off a 390 px screen and no table column is squeezed to one character a line.

    A page may scroll a wide table inside its own ``.table-wrap`` box; the page itself must not
    scroll sideways, and every cell must be at least two Chinese characters wide.
    """
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{page.url} is {overflow}px wider than the screen"
    squeezed = await page.evaluate(
        """() => [...document.querySelectorAll('td, th')]
            .filter((cell) => cell.offsetParent && cell.textContent.trim().length > 1)
            .filter((cell) => cell.clientWidth - parseFloat(getComputedStyle(cell).paddingLeft)
                             - parseFloat(getComputedStyle(cell).paddingRight) < 26)
            .map((cell) => cell.textContent.trim().slice(0, 20))"""
    )
    assert squeezed == [], f"{page.url}: columns squeezed to a character a line: {squeezed}"


async def new_context(browser: Browser, viewport: dict[str, int], *, mobile: bool) -> BrowserContext:
    """A browser context as the exchange's users have one: Chinese, in Beijing time, on a desktop
    or a phone (touch), with the browser tests' ten-second default timeout."""
    context = await browser.new_context(
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport=viewport,  # type: ignore[arg-type]
        is_mobile=mobile,
        has_touch=mobile,
    )
    context.set_default_timeout(10_000)
    return context

"""Driving the pages in Debian's Chromium through Playwright, against a real ``exchange serve``."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from playwright.async_api import Page, expect

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

"""A headless Chromium for the whole run, and a real server per test (sandbox profile, PostgreSQL, Redis).

Playwright's async API, because the suite's fixtures run on one session event loop and the sync
API refuses to start inside it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.support.browser import CHROMIUM, DESKTOP, PHONE, new_context
from tests.support.server import Server


def _check_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium (scripts/browser-deps.sh)"
        )


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    _check_chromium()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh profile per test, Chinese first, in Beijing time, on a desktop screen."""
    async for ctx in _context(browser, DESKTOP, mobile=False):
        yield ctx


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[BrowserContext]:
    """The same on a phone held upright (390x844, touch)."""
    async for ctx in _context(browser, PHONE, mobile=True):
        yield ctx


async def _context(
    browser: Browser, viewport: dict[str, int], *, mobile: bool
) -> AsyncIterator[BrowserContext]:
    ctx = await new_context(browser, viewport, mobile=mobile)
    refused: list[str] = []

    def watch(page: Page) -> None:
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)

    ctx.on("page", watch)
    yield ctx
    await ctx.close()
    # Every page of every browser test runs under the pages' Content-Security-Policy.
    assert refused == [], refused


@pytest.fixture
def web(env: dict[str, str], servers: list[Any], tmp_path: Path) -> Server:
    """``exchange serve`` on the test database, with PDFs off unless a test turns them on."""
    server = Server({**env, "EXCHANGE_ISSUE_DOCUMENTS": "0"}, tmp_path).start()
    servers.append(server)
    return server

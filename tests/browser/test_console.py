"""The operator console in a real browser: create a listing through the form, publish it, watch it."""

from __future__ import annotations

import asyncio
import re
import subprocess
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import BrowserContext, Page, expect

from tests.support.browser import log_in, screenshot
from tests.support.listings import listing_body, sandbox_schedule
from tests.support.server import EXCHANGE, Server

PASSWORD = "Operator-pass-2026"
BEIJING = ZoneInfo("Asia/Shanghai")


def add_staff(web: Server, role: str, username: str) -> None:
    subprocess.run(
        [str(EXCHANGE), "users", "add", "--role", role, "--username", username, "--password", PASSWORD],
        env=web.env,
        cwd=web.cwd,
        check=True,
        capture_output=True,
    )


def beijing(moment: datetime) -> str:
    """What an operator types into a datetime-local input: Beijing wall-clock time."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M:%S")


async def operator_page(web: Server, context: BrowserContext, username: str = "console_ops") -> Page:
    await asyncio.to_thread(add_staff, web, "operator", username)
    page = await context.new_page()
    await log_in(page, web.url, username, PASSWORD)
    return page


async def test_an_operator_creates_and_publishes_a_listing_through_the_form(
    web: Server, context: BrowserContext
) -> None:
    page = await operator_page(web, context)
    await page.goto(f"{web.url}/console")
    await page.get_by_role("link", name="新建交易标的").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("新建交易标的")

    await page.get_by_label("资产类别").select_option("emission_right")
    await page.get_by_label("交易方式").select_option("english")
    # The land fields are hidden and disabled, the emission right's shown.
    await expect(page.locator("#f-land_use_right-attributes-parcel_code")).to_be_disabled()
    await expect(page.locator("#f-emission_right-attributes-pollutant")).to_be_visible()
    await expect(page.locator("#f-quantity")).to_be_hidden()

    await page.get_by_label("标的名称").fill("浏览器测试 COD 排污权")
    await page.get_by_label("起始价").fill("100000.00")
    await page.get_by_label("加价幅度").fill("1000.00")
    await page.get_by_label("竞买保证金").fill("20000.00")
    await page.locator("#f-emission_right-attributes-pollutant").select_option("COD")
    await page.locator("#f-emission_right-attributes-quantity").fill("12.5")
    await page.locator("#f-emission_right-attributes-region").fill("宁夏回族自治区")
    await page.locator("#f-emission_right-attributes-region_code").fill("990000")  # no such province
    now = datetime.now(UTC)
    for name, offset in (
        ("announce_at", 0),
        ("registration_opens_at", 120),
        ("registration_closes_at", 180),
        ("bidding_opens_at", 240),
        ("bidding_closes_at", 600),
    ):
        await page.locator(f"#f-schedule-{name}").fill(beijing(now + timedelta(seconds=offset)))
    await page.locator("#f-schedule-extension_seconds").fill("60")
    await page.get_by_role("button", name="保存草稿").click()

    error = page.locator("#f-emission_right-attributes-region_code-error")
    await expect(error).to_contain_text("6-digit")
    await expect(page.locator("#f-emission_right-attributes-region_code")).to_have_attribute(
        "aria-invalid", "true"
    )
    await expect(page.locator("[data-form-alert]")).to_be_visible()
    await screenshot(page, "console-form-error")

    await page.locator("#f-emission_right-attributes-region_code").fill("640000")
    await page.get_by_role("button", name="保存草稿").click()
    await expect(page).to_have_url(re.compile(r"/console/listings/\d+$"))
    listing_id = int(page.url.rsplit("/", 1)[1])
    await expect(page.locator("[data-listing-status]")).to_have_text("草稿")

    await page.get_by_role("button", name="发布公告").click()
    await expect(page.locator("[data-listing-status]")).to_have_text("已公告")
    await screenshot(page, "console-published")

    async with httpx.AsyncClient(base_url=web.url) as http:
        catalogue = (await http.get("/api/v1/listings", params={"asset_class": "emission_right"})).json()
        public = (await http.get(f"/api/v1/listings/{listing_id}")).json()
    assert listing_id in [item["id"] for item in catalogue["items"]]
    assert public["status"] == "announced" and public["attributes"]["region_code"] == "640000"
    # The Beijing wall-clock time typed in is the instant stored.
    opens = datetime.fromisoformat(public["schedule"]["bidding_opens_at"])
    assert abs(opens - (now + timedelta(seconds=240))) < timedelta(seconds=1)


async def test_publishing_shows_the_profile_codes_on_a_phone(web: Server, context: BrowserContext) -> None:
    page = await operator_page(web, context, "phone_ops")
    token = await page.request.post(
        f"{web.url}/api/v1/auth/token", data={"username": "phone_ops", "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {(await token.json())['access_token']}"}
    # Land needs a deposit of at least 20% of the start price; this one has 10%.
    start = datetime.now(UTC) + timedelta(minutes=2)
    body = listing_body(schedule=sandbox_schedule(start, closes=600), deposit="100000.00")
    async with httpx.AsyncClient(base_url=web.url) as http:
        created = await http.post("/api/v1/listings", json=body, headers=headers)
    assert created.status_code == 201, created.text
    listing_id = created.json()["id"]

    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(f"{web.url}/console/listings/{listing_id}")
    await expect(page.locator("[data-reserve]")).to_contain_text("1,100,000.00")
    await page.get_by_role("button", name="发布公告").click()
    await expect(page.locator('[data-action-problems] li[data-code="deposit_below_minimum"]')).to_be_visible()
    await expect(page.locator("[data-action-alert]")).to_be_focused()
    await expect(page.locator("[data-listing-status]")).to_have_text("草稿")
    for path in (f"/console/listings/{listing_id}", "/console", "/console/listings/new"):
        await page.goto(f"{web.url}{path}")
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    await page.goto(f"{web.url}/console/listings/{listing_id}")
    await page.get_by_role("button", name="发布公告").click()
    await screenshot(page, "console-phone-publish-problems")

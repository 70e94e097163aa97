"""An operator names the seller, the 文号 and the payment terms of a draft in the console (issue 16)."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import BrowserContext, Page, expect

from tests.support.browser import log_in, screenshot
from tests.support.hall import PASSWORD, add_operator, token
from tests.support.listings import listing_body
from tests.support.server import Server

SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


async def _fits(page: Page) -> None:
    """Nothing but the tables' own scrolling boxes is wider than the screen."""
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, overflow


async def test_the_console_edits_the_parties_and_terms(web: Server, context: BrowserContext) -> None:
    await add_operator(web)
    async with httpx.AsyncClient(base_url=web.url) as http:
        ops = await token(http, "ops")
        body = listing_body("land_use_right", seller=None, announcement_number=None)
        created = await http.post("/api/v1/listings", json=body, headers=ops)
        assert created.status_code == 201, created.text
        lid = created.json()["id"]

    page = await context.new_page()
    await log_in(page, web.url, "ops", PASSWORD)

    # A new listing starts from its class's default terms, and follows the class until edited.
    await page.goto(f"{web.url}/console/listings/new")
    await expect(page.locator("#t-anchor")).to_have_value("contract")
    await expect(page.locator("[data-term-rows] tbody tr")).to_have_count(2)
    await page.locator('select[name="asset_class"]').select_option("mining_right")
    await expect(page.locator("#t-anchor")).to_have_value("confirmation")
    await expect(page.locator("[data-terms-summary]")).to_contain_text("逾期超过 60 日")

    await page.goto(f"{web.url}/console/listings/{lid}/edit")
    form = page.locator("#listing-form")
    await form.locator("#f-seller-name").fill("苏州工业园区自然资源和规划局")
    await form.locator("#f-seller-credit_code").fill("113205000141600402")
    await form.locator("#f-seller-contact").fill("王先生 0512-66680000")
    await form.locator("#f-announcement_number").fill("苏园土挂〔2026〕12号")
    await form.locator("#t-late").fill("0.5")
    balance = form.locator("[data-term-rows] tbody tr").nth(1)
    await balance.locator('[data-col="interest"]').fill("4.35")
    await expect(form.locator("[data-terms-summary]")).to_contain_text("年利率 4.35%")
    for name, size in SIZES.items():
        await page.set_viewport_size(size)
        await _fits(page)
        await screenshot(page, f"console-parties-edit-{name}")
    await page.get_by_role("button", name=re.compile("保存草稿")).click()
    await expect(page).to_have_url(re.compile(rf"/console/listings/{lid}$"))

    async with httpx.AsyncClient(base_url=web.url) as http:
        saved = (await http.get(f"/api/v1/listings/{lid}", headers=ops)).json()
    assert saved["seller"] == {
        "name": "苏州工业园区自然资源和规划局",
        "credit_code": "113205000141600402",
        "contact": "王先生 0512-66680000",
    }
    assert saved["announcement_number"] == "苏园土挂〔2026〕12号"
    assert saved["payment_terms"]["late_fee_per_mille"] == "0.5"
    assert saved["payment_terms"]["terms"][1]["interest_per_annum"] == "0.0435"
    assert saved["payment_terms"]["terms"][0]["share"] == "0.5"
    # Everything else came back as it was.
    assert saved["attributes"] == body["attributes"]

    await expect(page.locator("[data-seller]")).to_have_text("苏州工业园区自然资源和规划局")
    await expect(page.locator("[data-announcement-number]")).to_have_text("苏园土挂〔2026〕12号")
    await expect(page.locator("[data-payment-terms]")).to_contain_text("每日按逾期金额的 0.5‰")
    for name, size in SIZES.items():
        await page.set_viewport_size(size)
        await _fits(page)
        await screenshot(page, f"console-parties-detail-{name}")

    # A bad credit code is marked on its own visible input, not on the hidden seller field.
    await page.goto(f"{web.url}/console/listings/{lid}/edit")
    code = page.locator("#f-seller-credit_code")
    await code.fill("113205000141600403")
    await page.get_by_role("button", name=re.compile("保存草稿")).click()
    await expect(page.locator("[data-form-alert]")).to_have_attribute("data-code", "listing_invalid")
    await expect(code).to_have_attribute("aria-invalid", "true")
    await expect(code).to_have_attribute("aria-describedby", "f-seller-credit_code-error")
    await expect(page.locator("#f-seller-credit_code + .field-error")).to_be_visible()
    await expect(page.locator("[data-seller-json][aria-invalid]")).to_have_count(0)


async def test_untouched_terms_follow_a_lease(web: Server, context: BrowserContext) -> None:
    """Land offered by lease pays annual rent: terms nobody edited follow the supply mode and term,
    on a new listing and in an edit (which then sends no terms: the server's default applies)."""
    await add_operator(web)
    async with httpx.AsyncClient(base_url=web.url) as http:
        ops = await token(http, "ops")
        created = await http.post("/api/v1/listings", json=listing_body("land_use_right"), headers=ops)
        assert created.status_code == 201, created.text
        lid = created.json()["id"]
        assert created.json()["payment_terms"]["rent"] is None
    page = await context.new_page()
    await log_in(page, web.url, "ops", PASSWORD)
    summary = page.locator("[data-terms-summary]")

    await page.goto(f"{web.url}/console/listings/new")
    await expect(summary).not_to_contain_text("按年缴纳租金")
    await page.locator("#f-land_use_right-attributes-supply_mode").select_option("long_term_lease")
    await page.locator("#f-land_use_right-attributes-term_years").fill("20")
    await expect(summary).to_contain_text("按年缴纳租金，共 20 年")
    await expect(page.locator("#t-rent")).to_be_checked()

    await page.goto(f"{web.url}/console/listings/{lid}/edit")
    await expect(summary).not_to_contain_text("按年缴纳租金")
    await page.locator("#f-land_use_right-attributes-supply_mode").select_option("lease_then_transfer")
    await page.locator("#f-land_use_right-attributes-term_years").fill("15")
    await expect(summary).to_contain_text("按年缴纳租金，共 15 年")
    sent: list[dict[str, object]] = []
    page.on("request", lambda r: sent.append(r.post_data_json) if r.method == "PATCH" else None)
    await page.get_by_role("button", name=re.compile("保存草稿")).click()
    await expect(page).to_have_url(re.compile(rf"/console/listings/{lid}$"))
    assert sent and "payment_terms" not in sent[0]  # untouched: not sent
    async with httpx.AsyncClient(base_url=web.url) as http:
        saved = (await http.get(f"/api/v1/listings/{lid}", headers=ops)).json()
    assert saved["attributes"]["supply_mode"] == "lease_then_transfer"
    assert saved["payment_terms"]["rent"] == {"years": 15, "first_months": 1}

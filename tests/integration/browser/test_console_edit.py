"""An operator edits a draft in the console: the form opens filled in, and saving sends only what the edit allows.

An emptied field is cleared, and so is a parameter the newly chosen method does not take."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import BrowserContext, expect

from tests.support.browser import log_in, screenshot
from tests.support.hall import PASSWORD, add_operator, token
from tests.support.listings import listing_body
from tests.support.server import Server


async def test_an_operator_edits_a_draft_and_cannot_edit_a_published_listing(
    web: Server, context: BrowserContext
) -> None:
    await add_operator(web)
    async with httpx.AsyncClient(base_url=web.url) as http:
        ops = await token(http, "ops")
        body = listing_body(
            "water_right",
            "listing",
            title="黄河取水权 <script>alert(1)</script>",
            reserve_price="1100000.00",
            freeze_seconds=60,
        )
        created = await http.post("/api/v1/listings", json=body, headers=ops)
        assert created.status_code == 201, created.text
        lid = created.json()["id"]

    page = await context.new_page()
    await log_in(page, web.url, "ops", PASSWORD)
    await page.goto(f"{web.url}/console/listings/{lid}")
    await page.get_by_role("link", name=re.compile("编辑草稿")).click()
    await expect(page).to_have_url(re.compile(rf"/console/listings/{lid}/edit$"))

    form = page.locator("#listing-form")
    await expect(form.locator('[name="title"]')).to_have_value(body["title"])  # text, never markup
    await expect(form.locator('[name="start_price"]')).to_have_value("1000000.00")
    await expect(form.locator('select[name="asset_class"]')).to_be_disabled()
    await expect(form.locator('select[name="asset_class"]')).to_have_value("water_right")
    volume = form.locator('[name="attributes.volume"]:visible')
    await expect(volume).to_have_value(body["attributes"]["volume"])
    await screenshot(page, "console-edit-draft")

    await form.locator('[name="title"]').fill("黄河干流取水权（修改）")
    await form.locator('[name="start_price"]').fill("1200000.00")
    await expect(form.locator('[name="reserve_price"]')).to_have_value("1100000.00")
    await form.locator('[name="reserve_price"]').fill("")
    await expect(form.locator('[name="freeze_seconds"]')).to_have_value("60")
    await form.locator('select[name="method"]').select_option("english")
    await expect(form.locator('[name="freeze_seconds"]')).to_be_hidden()
    await page.get_by_role("button", name=re.compile("保存草稿")).click()
    await expect(page).to_have_url(re.compile(rf"/console/listings/{lid}$"))

    async with httpx.AsyncClient(base_url=web.url) as http:
        saved = (await http.get(f"/api/v1/listings/{lid}", headers=ops)).json()
        assert saved["title"] == "黄河干流取水权（修改）" and saved["start_price"] == "1200000.00"
        assert saved.get("reserve_price") is None and saved["method"] == "english"
        assert "freeze_seconds" not in saved["method_params"]
        # Everything the form did not change came back as it was.
        assert saved["attributes"] == body["attributes"] and saved["increment"] == body["increment"]
        assert (
            saved["schedule"]["bidding_closes_at"][:19]
            == created.json()["schedule"]["bidding_closes_at"][:19]
        )
        other = (await http.post("/api/v1/listings", json=listing_body(), headers=ops)).json()
        published = await http.post(f"/api/v1/listings/{other['id']}/publish", headers=ops)
        assert published.status_code == 200, published.text

    refused = await page.goto(f"{web.url}/console/listings/{other['id']}/edit")
    assert refused is not None and refused.status == 409
    await expect(page.locator("[data-code]")).to_have_attribute("data-code", "listing_not_draft")

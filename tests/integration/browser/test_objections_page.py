"""The result page's 公示 in a real browser: the period, the objection route, and filing an objection
with its reasons and a supporting file, at desk and phone widths."""

from __future__ import annotations

import asyncio
import re
import secrets

import httpx
import pytest
from playwright.async_api import BrowserContext, expect

from tests.support.browser import log_in, screenshot
from tests.support.hall import PASSWORD, seed_auction
from tests.support.objections import PDF
from tests.support.server import Server

pytestmark = pytest.mark.databases()


async def _sold_in_publicity(web: Server) -> tuple[int, str]:
    """A sale whose result is on display for 240 s (the sandbox counts working days as seconds):
    (listing id, the loser's user name)."""
    alice, bob = f"obj_a_{secrets.token_hex(2)}", f"obj_b_{secrets.token_hex(2)}"
    lid, heads = await seed_auction(web, [alice, bob], bidding_seconds=3, publicity_working_days=240)
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        view = (await http.get(f"/api/v1/auctions/{lid}")).json()
        placed = await http.post(
            f"/api/v1/auctions/{lid}/bids",
            json={"amount": view["next_min_bid"]},
            headers={**heads[alice], "Idempotency-Key": secrets.token_hex(8)},
        )
        assert placed.status_code == 201, placed.text
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while (await http.get(f"/api/v1/results/{lid}/objections")).status_code != 200:
            assert loop.time() < deadline, "the result was never published"
            await asyncio.sleep(0.2)
    return lid, bob


async def test_the_publicity_and_an_objection_filed_in_the_browser(
    web: Server, context: BrowserContext, tmp_path: object
) -> None:
    lid, loser = await _sold_in_publicity(web)
    page = await context.new_page()
    await page.set_viewport_size({"width": 1440, "height": 900})
    await page.goto(f"{web.url}/results/{lid}")
    section = page.locator("[data-section=publicity]")
    await expect(section).to_contain_text("成交公示与异议")
    await expect(section.locator("[data-field=publicity_period]")).to_have_text(
        re.compile(r"\d{4}年\d{1,2}月\d{1,2}日 至 ")
    )
    await expect(section.locator("[data-field=publicity_status]")).to_contain_text("公示中")
    await expect(section.locator("[data-field=objection_route]")).to_contain_text("书面异议")
    await expect(section.get_by_role("link", name="登录后提交异议")).to_be_visible()
    await expect(section.locator("[data-field=no_objections]")).to_be_visible()
    await screenshot(page, "result-publicity")

    await log_in(page, web.url, loser, PASSWORD)
    await page.goto(f"{web.url}/results/{lid}")
    form = page.locator("form[data-objection-form]")
    await form.get_by_label("异议理由").fill("竞得人与其他竞买人存在关联关系，请核查。")
    await form.get_by_label(re.compile("证明材料")).set_input_files(
        files=[{"name": "证据.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    await form.get_by_role("button", name="提交异议").click()
    row = page.locator("table[data-table=objections] tr[data-objection]").first
    await expect(row).to_contain_text("待答复")
    await expect(row).to_contain_text("我提出的")
    await expect(page.locator("tr.objection-reasons")).to_contain_text("证据.pdf")
    await screenshot(page, "result-objection-filed")

    # A refused file is said next to the form; the objection itself stands.
    await form.get_by_label("异议理由").fill("另一异议。")
    await form.get_by_label(re.compile("证明材料")).set_input_files(
        files=[{"name": "note.txt", "mimeType": "text/plain", "buffer": b"plain text"}]
    )
    await form.get_by_role("button", name="提交异议").click()
    alert = form.locator("[data-form-alert]")
    await expect(alert).to_have_attribute("data-code", "document_type_not_allowed")
    await expect(alert).to_have_text(
        "证明材料只接受 PDF、PNG 或 JPEG 文件。"
    )  # in Chinese, not the API's English
    # The objection is filed: the form now only retries its file, it does not file a second objection.
    await expect(form.locator("[data-filed-note]")).to_be_visible()
    await expect(form.get_by_label("异议理由")).to_be_disabled()
    await form.get_by_label(re.compile("证明材料")).set_input_files(
        files=[{"name": "补充证据.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    await form.get_by_role("button", name="上传证明材料").click()
    await expect(page.locator("table[data-table=objections] tr[data-objection]")).to_have_count(2)
    await expect(page.locator("tr.objection-reasons").nth(1)).to_contain_text("补充证据.pdf")

    # One's own unanswered objection takes another file from its row.
    own = page.locator("form[data-attach-form]").first
    await own.get_by_label("补充证明材料").set_input_files(
        files=[{"name": "bad.txt", "mimeType": "text/plain", "buffer": b"plain"}]
    )
    await own.get_by_role("button", name="上传").click()
    await expect(own.locator("[data-form-alert]")).to_have_text("证明材料只接受 PDF、PNG 或 JPEG 文件。")
    await own.get_by_label("补充证明材料").set_input_files(
        files=[{"name": "附件二.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    await own.get_by_role("button", name="上传").click()
    await expect(page.locator("tr.objection-reasons").first).to_contain_text("附件二.pdf")

    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(f"{web.url}/results/{lid}")
    await expect(page.locator("table[data-table=objections] tr[data-objection]")).to_have_count(2)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await screenshot(page, "result-objection-phone")
    await page.goto(f"{web.url}/results/{lid}?lang=en")
    await expect(page.locator("[data-section=publicity]")).to_contain_text("How to object")
    await screenshot(page, "result-objection-en")

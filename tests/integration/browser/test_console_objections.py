"""An operator answers and resolves objections (异议) on the console's listing page: the filer, the
reasons and the files, an answer dismissing one, upholding another, and annulling the sale only
after the confirmation step, at desk and phone widths."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.integration.browser.test_objections_page import _sold_in_publicity
from tests.support.browser import log_in, screenshot
from tests.support.hall import PASSWORD, token
from tests.support.objections import PDF
from tests.support.server import Server

pytestmark = pytest.mark.databases()

SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


async def _fits(page: Page) -> None:
    """Nothing but the tables' own scrolling boxes is wider than the screen."""
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, overflow


async def _shots(page: Page, name: str) -> None:
    for size_name, size in SIZES.items():
        await page.set_viewport_size(size)
        await _fits(page)
        await screenshot(page, f"console-objections-{name}-{size_name}")
    await page.set_viewport_size(SIZES["desktop"])


async def test_an_operator_answers_and_resolves_objections(web: Server, context: BrowserContext) -> None:
    lid, loser = await _sold_in_publicity(web)
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        filer = await token(http, loser)
        url = f"/api/v1/results/{lid}/objections"
        related = "竞得人与其他竞买人存在关联关系。"
        one = await http.post(url, json={"reasons": related}, headers=filer)
        two = await http.post(url, json={"reasons": "成交价与竞价记录不符。"}, headers=filer)
        assert one.status_code == two.status_code == 201, (one.text, two.text)
        attached = await http.post(
            f"/api/v1/objections/{one.json()['id']}/attachments",
            files={"file": ("证据.pdf", PDF, "application/pdf")},
            headers=filer,
        )
        assert attached.status_code == 201, attached.text
    first_id, second_id = one.json()["id"], two.json()["id"]

    page = await context.new_page()
    await log_in(page, web.url, "ops", PASSWORD)
    await page.goto(f"{web.url}/console/listings/{lid}")
    panel = page.locator("[data-objections-panel]")
    await expect(panel.locator("[data-field=settlement_status]")).to_have_text("公示中")
    first = panel.locator(f'[data-objection="{first_id}"]')
    second = panel.locator(f'[data-objection="{second_id}"]')
    await expect(first.locator("[data-field=filer]")).to_contain_text(f"{loser} 有限公司")
    await expect(first.locator("[data-field=reasons]")).to_have_text(related)
    link = first.locator("[data-field=attachments] a")
    await expect(link).to_have_text("证据.pdf")
    await expect(link).to_have_attribute(
        "href", f"/api/v1/objections/{first_id}/attachments/{attached.json()['id']}"
    )
    # the operator's session downloads it
    download = await page.request.get(
        f"{web.url}/api/v1/objections/{first_id}/attachments/{attached.json()['id']}"
    )
    assert download.status == 200 and await download.body() == PDF
    await _shots(page, "filed")

    # Dismiss the second: the publicity goes on.
    await second.get_by_label("答复内容（将公开）").fill("经核查，成交价与竞价记录一致。")
    await second.get_by_role("button", name="提交答复").click()
    await expect(second.locator("[data-field=status]")).to_have_text("异议不成立")
    await expect(second.locator("[data-field=answer]")).to_contain_text("经核查，成交价与竞价记录一致。")
    await expect(second.locator("form")).to_have_count(0)
    await expect(panel.locator("[data-field=settlement_status]")).to_have_text("公示中")

    # A blank answer is refused by the form itself (nothing posted), then the first is upheld.
    await first.get_by_label(re.compile("异议成立")).check()
    await first.get_by_role("button", name="提交答复").click()
    await expect(first.locator("[data-field=status]")).to_have_text("待答复")
    await first.get_by_label("答复内容（将公开）").fill("异议成立，需进一步核查。")
    await first.get_by_role("button", name="提交答复").click()
    await expect(first.locator("[data-field=status]")).to_have_text("异议成立，处理中")
    await expect(panel.locator("[data-field=settlement_status]")).to_have_text("异议处理中")
    await expect(first.locator("form[data-stands-form]")).to_be_visible()
    annul = first.locator("form[data-annul-form]")
    await expect(annul).to_be_hidden()  # behind its disclosure: a first step
    await first.locator("details[data-annul] summary").click()
    await expect(annul).to_be_visible()
    await _shots(page, "upheld")

    # The confirmation step: without ticking it nothing is posted.
    reason = "竞得人隐瞒与其他竞买人的关联关系，成交无效。"
    await annul.get_by_label("成交无效的理由（将公开）").fill(reason)
    await annul.get_by_role("button", name="确认成交无效").click()
    assert await annul.locator("[data-confirm]").evaluate("box => box.validity.valueMissing")
    await expect(first.locator("[data-field=status]")).to_have_text("异议成立，处理中")
    await annul.get_by_label("我已核实，确认宣布本次成交无效").check()
    await annul.get_by_role("button", name="确认成交无效").click()
    await expect(first.locator("[data-field=status]")).to_have_text("异议成立，成交无效")
    await expect(panel.locator("[data-field=settlement_status]")).to_have_text("成交无效")
    await expect(panel.locator("[data-field=annulled_reason]")).to_have_text(reason)
    await expect(panel.locator("form")).to_have_count(0)
    await _shots(page, "annulled")

    # The public result page says so.
    await page.goto(f"{web.url}/results/{lid}")
    await expect(page.locator("[data-field=outcome]")).to_contain_text("成交无效")
    await expect(page.locator("[data-field=winners_void]")).to_be_visible()

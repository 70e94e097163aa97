"""A newcomer in a real browser, on a desktop and on a phone (issue 17): register (a field error
first, the password rules shown before submitting) and be logged in, find the lot by keyword,
confirm the 竞买申请书 and 承诺书 to apply, upload a PDF, read the full deposit instructions and, in
the sandbox, simulate the bank's transfer until the deposit reads 已到账."""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import BrowserContext, Page, expect

from tests.support.browser import assert_fits_phone, screenshot
from tests.support.flow import publish_in_time
from tests.support.hall import PASSWORD, add_operator, token
from tests.support.ids import credit_code, id_number
from tests.support.listings import attributes, listing_body, sandbox_schedule
from tests.support.server import Server

PARCEL = "SZ-GX-2026-07"
BANK = "中国工商银行苏州工业园区支行"
HOLDER = "苏州工业园区公共资源交易中心保证金专户"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


async def _listing_in_registration(web: Server) -> int:
    await add_operator(web)
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        operator = await token(http, "ops")
        schedule = sandbox_schedule(
            datetime.now(UTC) + timedelta(seconds=0.5),
            registration=0.1,
            registration_closes=600,
            bidding=601,
            closes=700,
        )
        body = listing_body(
            schedule=schedule,
            title="星湖街东工业用地",
            attributes={**attributes("land_use_right"), "parcel_code": PARCEL},
        )
        created = await http.post("/api/v1/listings", json=body, headers=operator)
        assert created.status_code == 201, created.text
        lid = int(created.json()["id"])
        await publish_in_time(http, lid, operator, schedule)
        while (await http.get(f"/api/v1/listings/{lid}")).json()["status"] != "registration":
            await asyncio.sleep(0.1)
    return lid


async def _register(page: Page, url: str, name: str, *, individual: bool, shot: str) -> str:
    await page.goto(f"{url}/register")
    rules = page.locator("[data-password-rules] li")
    await expect(rules).to_have_count(5)  # shown before anything is typed
    await expect(page.locator("[data-password-rules]")).to_contain_text("至少 10 个字符")
    await expect(page.locator("[data-password-rules]")).to_contain_text("不包含用户名")
    username = f"newbie_{secrets.token_hex(2)}"
    await page.get_by_label("名称 / 姓名").fill(name)
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码", exact=True).fill(f"x{username}1")
    await expect(page.locator('[data-rule="username"]')).to_have_class(re.compile("unmet"))
    await page.get_by_label("密码", exact=True).fill(PASSWORD)
    await expect(page.locator('[data-rule="username"]')).to_have_class(re.compile(r"\bmet"))
    await expect(page.locator('[data-rule="length"]')).to_have_class(re.compile(r"\bmet"))
    if individual:
        await page.get_by_label("自然人").check()
        await expect(page.get_by_label("统一社会信用代码")).to_be_hidden()
        await page.get_by_label("居民身份证号码").fill(id_number(serial=secrets.randbelow(900) + 100))
    else:
        credit = page.get_by_label("统一社会信用代码")
        await credit.fill("911401000000000001")  # a wrong check character: the field says so
        await page.get_by_role("button", name="注册").click()
        await expect(credit).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#credit_code-error")).to_be_visible()
        await expect(page.locator("[data-form-alert]")).to_have_attribute("data-code", "credit_code_invalid")
        await credit.fill(credit_code())
    await screenshot(page, shot)
    await page.get_by_role("button", name="注册").click()
    # logged in at once: /me, the header names the new user
    await expect(page).to_have_url(re.compile(r"/me$"))
    await expect(page.locator("header .who")).to_have_text(username)
    await expect(page.locator("main")).to_contain_text("您还没有报名")
    return username


async def _apply(page: Page, url: str, lid: int, shot: str) -> int:
    await page.goto(f"{url}/")
    await page.get_by_label("关键词").fill(PARCEL.lower())  # the parcel code, in any case
    await page.get_by_role("button", name="搜索").click()
    await expect(page).to_have_url(re.compile(r"[?&]q="))
    rows = page.locator("table.catalogue tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("星湖街东工业用地")
    await rows.first.get_by_role("link").click()
    await expect(page).to_have_url(re.compile(rf"/listings/{lid}$"))

    form = page.locator("form[data-declarations]")
    await expect(form.locator("[data-field=application_form]")).to_contain_text("1,000,000.00")
    await expect(form.locator("[data-field=application_form]")).to_contain_text("测试公告〔2026〕1号")
    await expect(form.locator("[data-field=commitment] li")).to_have_count(6)
    await screenshot(page, f"issue17-apply-form-{shot}")
    button = form.get_by_role("button", name="提交竞买申请")
    await expect(button).to_be_disabled()
    await form.get_by_label("我已阅读并确认以上竞买申请书").check()
    await expect(button).to_be_disabled()
    await form.get_by_label("我已阅读并作出以上承诺").check()
    await expect(button).to_be_enabled()
    await button.click()
    await expect(page).to_have_url(re.compile(r"/me#application-\d+$"))
    return int(page.url.rsplit("-", 1)[1])


async def _upload_and_pay(page: Page, web: Server, application_id: int, *, wrong_file: bool) -> None:
    card = page.locator(f"#application-{application_id}")
    await expect(card.locator("[data-field=declared_at]")).to_contain_text("已在线确认")
    await expect(card.locator("[data-field=deposit_bank]")).to_have_text(BANK)
    await expect(card.locator("[data-field=deposit_account_name]")).to_have_text(HOLDER)
    await expect(card.locator("[data-field=deposit_account]")).to_have_text(re.compile(r"^\d{19}$"))
    await expect(card.locator("[data-field=deposit_due]")).to_contain_text("200,000.00 元")
    await expect(card.locator("[data-field=deposit_deadline]")).to_have_text(
        re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
    )
    await expect(card.locator("[data-field=deposit_arrival]")).to_contain_text("未到账")

    upload = card.locator("form[data-upload]")
    if wrong_file:
        await upload.get_by_label("上传资格证明材料").set_input_files(
            files=[{"name": "说明.txt", "mimeType": "text/plain", "buffer": b"not a pdf"}]
        )
        await upload.get_by_role("button", name="上传", exact=True).click()
        alert = upload.locator("[data-form-alert]")
        await expect(alert).to_have_attribute("data-code", "document_type_not_allowed")
        await expect(alert).to_be_visible()
        await expect(alert).to_contain_text(re.compile(r"[\u4e00-\u9fff]"))  # said in Chinese
    await upload.get_by_label("上传资格证明材料").set_input_files(
        files=[{"name": "营业执照.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    await upload.get_by_role("button", name="上传", exact=True).click()
    await expect(card.locator("ul[data-field=attachments]")).to_contain_text("营业执照.pdf")

    simulate = card.get_by_role("button", name="模拟银行到账")
    await simulate.click()
    missing = card.locator("[data-transfer-alert]")
    arrival = card.locator("[data-field=deposit_arrival]")
    done = await _first_of(arrival.get_by_text("已到账"), missing)
    if done is missing:  # without the sandbox bank (settlement.sandbox_bank) the signed notice does the same
        print("sandbox transfer refused:", await missing.get_attribute("data-code"))
        await _bank_notice(web, card)
        await page.reload()
    await expect(arrival).to_contain_text("已到账")
    await expect(arrival).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"))
    await expect(card.get_by_role("button", name="模拟银行到账")).to_have_count(0)


async def _first_of(*locators: Any) -> Any:
    for _ in range(100):
        for locator in locators:
            if await locator.is_visible():
                return locator
        await asyncio.sleep(0.1)
    raise AssertionError("neither became visible")


async def _bank_notice(web: Server, card: Any) -> None:
    from tests.support.bank import notice, signed

    account = (await card.locator("[data-field=deposit_account]").inner_text()).strip()
    body, headers = signed(notice(account, "200000.00", datetime.now(UTC)))
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        sent = await http.post("/api/v1/bank/notifications", content=body, headers=headers)
        assert sent.status_code == 200, sent.text


async def test_register_apply_upload_and_pay_on_desktop_and_phone(
    env: dict[str, str], servers: list[Any], tmp_path: Path, context: BrowserContext, phone: BrowserContext
) -> None:
    web = Server(
        {
            **env,
            "EXCHANGE_ISSUE_DOCUMENTS": "0",
            "EXCHANGE_DEPOSIT_BANK": BANK,
            "EXCHANGE_DEPOSIT_ACCOUNT_NAME": HOLDER,
        },
        tmp_path,
    ).start()
    servers.append(web)
    lid = await _listing_in_registration(web)

    desk = await context.new_page()
    await _register(desk, web.url, "新手贸易有限公司", individual=False, shot="issue17-register-desktop")
    await desk.goto(f"{web.url}/?q={PARCEL}")
    await screenshot(desk, "issue17-catalogue-search-desktop")
    application = await _apply(desk, web.url, lid, "desktop")
    await _upload_and_pay(desk, web, application, wrong_file=True)
    await screenshot(desk, "issue17-apply-desktop")
    await desk.goto(f"{web.url}/listings/{lid}")
    await expect(desk.locator("#h-actions + p")).to_contain_text("您已报名")

    mobile = await phone.new_page()
    await _register(mobile, web.url, "王小明", individual=True, shot="issue17-register-phone")
    await assert_fits_phone(mobile)
    await mobile.goto(f"{web.url}/?q=星湖街")
    await assert_fits_phone(mobile)
    await screenshot(mobile, "issue17-catalogue-search-phone")
    await mobile.goto(f"{web.url}/?q=没有这样的标的")
    await expect(mobile.locator("[data-field=no_match]")).to_be_visible()
    await mobile.goto(f"{web.url}/listings/{lid}")
    # an individual's form names the person with a masked ID number
    await expect(mobile.locator("[data-field=application_form]")).to_contain_text("王小明")
    await expect(mobile.locator("[data-field=application_form]")).to_contain_text("********")
    await assert_fits_phone(mobile)
    application = await _apply(mobile, web.url, lid, "phone")
    await _upload_and_pay(mobile, web, application, wrong_file=False)
    await assert_fits_phone(mobile)
    await screenshot(mobile, "issue17-apply-phone")

    await desk.goto(f"{web.url}/listings/{lid}?lang=en")
    await expect(desk.locator("h1")).to_contain_text("星湖街东工业用地")
    await expect(desk.locator("table.attributes")).to_contain_text("Plot ratio")

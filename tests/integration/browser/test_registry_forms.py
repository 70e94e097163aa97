"""Every form of the registry's pages submitted for real in Chromium (issue 18), on both databases.

An enterprise opens its registry account from /registry; the registrar issues 12.345 t/a of COD to
it and enters its verified emissions from /console/registry (typed in tonnes, posted in kg); the
holder surrenders, pledges (and is refused a pledge beyond its holding, in Chinese), offers part
for sale and agrees a transfer with a second enterprise; the operator approves the offer into a
draft listing; the agreement shows on the public 公示 pages, the buyer objects, the operator
dismisses the objection, and once confirmed the buyer sees where to pay and how much. The holder
works on a phone, the staff on a desktop; no console error, no response >= 400 but the refusal."""

from __future__ import annotations

import asyncio
import itertools
import re
import subprocess
from datetime import timedelta

import httpx
import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect
from sqlalchemy import update

from exchange.clock import utcnow
from exchange.db import create_engine, session_factory, unit_of_work
from exchange.identity.codes import CREDIT_ALPHABET, credit_check_character
from exchange.settings import DatabaseSettings
from settlement.registry.models import Agreement
from tests.support.browser import assert_fits_phone, log_in, screenshot
from tests.support.hall import PASSWORD, add_operator
from tests.support.ids import credit_code
from tests.support.server import EXCHANGE, Server

pytestmark = pytest.mark.databases()


_serials = itertools.count(7001)


def suzhou_code() -> str:
    """A valid credit code registered in Suzhou (3205..): an enterprise may open its own account
    only in the province that registered its code."""
    n, org = next(_serials), ""
    for _ in range(9):
        n, r = divmod(n, len(CREDIT_ALPHABET))
        org = CREDIT_ALPHABET[r] + org
    first17 = "91320505" + org
    return first17 + credit_check_character(first17)


async def register(web: Server, username: str, name: str) -> str:
    code = suzhou_code()
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        response = await http.post(
            "/api/v1/auth/register",
            json={
                "username": username,
                "password": PASSWORD,
                "display_name": name,
                "kind": "enterprise",
                "credit_code": code,
            },
        )
        assert response.status_code == 201, response.text
    return code


async def add_registrar(web: Server) -> None:
    await asyncio.to_thread(
        subprocess.run,
        [str(EXCHANGE), "users", "add", "--role", "registrar", "--username", "reg", "--password", PASSWORD],
        env=web.env,
        cwd=web.cwd,
        check=True,
        capture_output=True,
    )


async def set_publicity_end(web: Server, agreement_id: int | None, delta: timedelta) -> None:
    """Move an agreement's 公示 end (the sandbox runs it for seconds): the only write outside the pages."""
    engine = create_engine(DatabaseSettings(url=web.env["EXCHANGE_DATABASE_URL"], null_pool=True))
    try:
        async with unit_of_work(session_factory(engine)) as session:
            await session.execute(
                update(Agreement)
                .where(Agreement.id == agreement_id if agreement_id else Agreement.status == "publicity")
                .values(publicity_ends_at=utcnow() + delta)
            )
    finally:
        await engine.dispose()


async def verify_in_console(registrar: Page, code: str, basin: str) -> None:
    """The registrar verifies an account the enterprise opened (rule 5: it trades once its region
    and basin are verified), from the console's list, which it then leaves."""
    card = registrar.locator(f"[data-unverified='{code}']")
    await expect(card.locator("input[name=basin]")).to_have_value(basin)
    await submit(card.locator("form"))
    await expect(registrar.locator(f"[data-unverified='{code}']")).to_have_count(0)


def watch(page: Page) -> list[str]:
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    return problems


async def submit(form: Locator, status: int | None = None) -> None:
    """Submit ``form`` and wait for the API's answer: a success (then the page's reload or
    redirect), or ``status`` when the test provokes a refusal."""
    page = form.page
    async with page.expect_response(lambda r: "/api/v1/" in r.url and r.request.method == "POST") as info:
        await form.get_by_role("button").first.click()
    response = await info.value
    if status is None:
        assert response.status < 400, f"{response.status} {response.url}: {await response.text()}"
        await page.wait_for_load_state("load")
    else:
        assert response.status == status, await response.text()


async def test_every_registry_form_submits(
    web: Server, context: BrowserContext, phone: BrowserContext
) -> None:
    await add_operator(web)
    await add_registrar(web)
    seller_code = await register(web, "green_seller", "苏州乙印染有限公司")
    buyer_code = await register(web, "green_buyer", "苏州丙纺织有限公司")

    # the seller opens its account on a phone
    holder = await phone.new_page()
    holder_problems = watch(holder)
    await log_in(holder, web.url, "green_seller", PASSWORD)
    await holder.goto(f"{web.url}/registry")
    await expect(holder.locator("[data-no-account]")).to_be_visible()
    await assert_fits_phone(holder)
    opening = holder.locator("form[data-open-form]")
    await opening.locator("#open-region").fill("320505")
    await opening.locator("#open-basin").fill("太湖")
    await submit(opening)
    await expect(holder.locator("[data-region]")).to_have_text("320505")
    await expect(holder.locator("#h-holder")).to_have_text("苏州乙印染有限公司")

    # the registrar issues 12.345 t/a to it and enters 2.5 t of verified emissions, in tonnes
    registrar = await context.new_page()
    staff_problems = watch(registrar)
    await log_in(registrar, web.url, "reg", PASSWORD)
    staff_problems.clear()  # the login lands on /console, not a registrar's page
    await registrar.goto(f"{web.url}/console/registry")
    await verify_in_console(registrar, seller_code, "太湖")
    issue = registrar.locator("form[data-issue-form]")
    await issue.locator("#issue-right").select_option("emission")
    await issue.locator("#issue-sub").select_option("COD")
    await issue.locator("#issue-region").fill("320500")
    await issue.locator("#issue-basin").fill("太湖")
    await issue.locator("#issue-until").fill("2031-01-01")
    await issue.locator("#issue-quantity").fill("12.345")
    await expect(issue.locator("[data-unit-of='issue-quantity']")).to_have_text("吨/年")
    await issue.locator("#issue-holder").fill(seller_code)
    await issue.locator("#issue-basis").fill("苏环发〔2026〕1号")
    await issue.locator("#issue-reference").fill("browser-issue-1")
    await submit(issue)
    verify = registrar.locator("form[data-obligation-form]")
    await verify.locator("#ob-holder").fill(seller_code)
    await verify.locator("#ob-sub").select_option("COD")
    await verify.locator("#ob-quantity").fill("2.5")
    await submit(verify)

    await holder.goto(f"{web.url}/registry")
    lot = holder.locator("[data-holdings] tbody tr").first
    await expect(lot.locator("[data-available]")).to_have_text("12.345 吨/年")
    obligation = holder.locator("[data-obligation]").first
    await expect(obligation.locator("[data-shortfall]")).to_have_text("2.500 吨/年")
    await expect(holder.locator("[data-compliant]")).to_have_attribute("data-compliant", "no")

    # surrender 1.5 t against it
    surrender = obligation.locator("form[data-surrender-form]")
    await surrender.locator("input[data-quantity]").fill("1.5")
    await submit(surrender)
    await expect(lot.locator("[data-available]")).to_have_text("10.845 吨/年")
    await expect(holder.locator("[data-obligation] [data-shortfall]")).to_have_text("1.000 吨/年")
    await expect(holder.locator("[data-compliance-row] [data-surrendered]")).to_have_text("1.500 吨/年")
    # and the last tonne: compliant, no surrender form left (a shortfall would refuse a pledge, rule 8)
    surrender = holder.locator("[data-obligation] form[data-surrender-form]")
    await surrender.locator("input[data-quantity]").fill("1")
    await submit(surrender)
    await expect(holder.locator("[data-compliant]")).to_have_attribute("data-compliant", "yes")
    await expect(holder.locator("[data-obligation]")).to_have_count(0)
    await expect(lot.locator("[data-available]")).to_have_text("9.845 吨/年")

    # a pledge beyond the holding is refused in Chinese; 0.345 t is pledged
    pledge = holder.locator("form[data-pledge-form]")
    await pledge.locator("#pledge-quantity").fill("100")
    await pledge.locator("#pledge-name").fill("中国银行苏州分行")
    await pledge.locator("#pledge-code").fill(credit_code())
    await pledge.locator("#pledge-contract").fill("质-2026-001")
    await submit(pledge, 409)
    alert = pledge.locator("[data-form-alert]")
    await expect(alert).to_have_text("登记账户的可用数量不足")
    await expect(alert).to_have_attribute("data-code", "registry_insufficient")
    assert [p for p in holder_problems if "/api/v1/registry/pledges" not in p] == [], holder_problems
    assert len(holder_problems) == 1 and holder_problems[0].startswith("409 "), holder_problems
    holder_problems.clear()
    await pledge.locator("#pledge-quantity").fill("0.345")
    await submit(pledge)
    await expect(lot.locator("[data-pledged]")).to_have_text("0.345 吨/年")
    await expect(lot.locator("[data-available]")).to_have_text("9.500 吨/年")
    await expect(holder.locator("[data-pledges] tbody tr")).to_contain_text("中国银行苏州分行")

    # offer 2 t for sale
    offer = holder.locator("form[data-offer-form]")
    await offer.locator("#offer-quantity").fill("2")
    await submit(offer)
    await expect(lot.locator("[data-held]")).to_have_text("2.000 吨/年")
    await expect(lot.locator("[data-available]")).to_have_text("7.500 吨/年")

    # the buyer opens its account (desktop)
    buyer = await context.new_page()
    buyer_problems = watch(buyer)
    await log_in(buyer, web.url, "green_buyer", PASSWORD)
    await buyer.goto(f"{web.url}/registry")
    opening = buyer.locator("form[data-open-form]")
    await opening.locator("#open-region").fill("320506")
    await opening.locator("#open-basin").fill("太湖")
    await submit(opening)
    await expect(buyer.locator("[data-region]")).to_have_text("320506")
    # one login per browser context: the registrar logs in again on the desktop, then the buyer
    await log_in(registrar, web.url, "reg", PASSWORD)
    await registrar.goto(f"{web.url}/console/registry")
    await verify_in_console(registrar, buyer_code, "太湖")
    await log_in(buyer, web.url, "green_buyer", PASSWORD)

    # the seller agrees 3 t for 30,000 yuan with it
    await holder.goto(f"{web.url}/registry")
    agree = holder.locator("form[data-agreement-form]")
    await agree.locator("#agree-buyer").fill(buyer_code)
    await agree.locator("#agree-quantity").fill("3")
    await agree.locator("#agree-price").fill("30000")
    await submit(agree)
    # the sandbox runs the 公示 for seconds: an hour for the pages, until the test ends it
    await set_publicity_end(web, None, timedelta(hours=1))
    row = holder.locator("[data-agreements] tbody tr[data-side='seller']")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("苏州丙纺织有限公司")
    await expect(row).to_contain_text("3.000 吨/年")
    await expect(lot.locator("[data-held]")).to_have_text("5.000 吨/年")
    await expect(row.locator("[data-status]")).to_have_attribute("data-status", "publicity")
    agreement_id = int(await row.get_attribute("data-agreement") or 0)
    await holder.goto(f"{web.url}/registry")
    await screenshot(holder, "registry-forms-account-phone")
    await assert_fits_phone(holder)

    # the operator approves the offer into a draft listing
    operator = await context.new_page()
    operator_problems = watch(operator)
    await log_in(operator, web.url, "ops", PASSWORD)
    await operator.goto(f"{web.url}/console/registry")
    approve = operator.locator("form[data-approve-offer]").first
    await expect(approve.locator("input[name='lot']")).to_be_hidden()
    await approve.locator("input[name='start_price']").fill("20000")
    await approve.locator("input[name='increment']").fill("500")
    await approve.locator("input[name='deposit']").fill("4000")
    await approve.locator("input[name='attributes.region']").fill("苏州市虎丘区")
    await submit(approve)
    await expect(operator).to_have_url(re.compile(r"/console/listings/\d+$"))
    listing_id = int(operator.url.rsplit("/", 1)[1])
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        from tests.support.hall import token

        draft = (await http.get(f"/api/v1/listings/{listing_id}", headers=await token(http, "ops"))).json()
    assert draft["status"] == "draft" and draft["asset_class"] == "emission_right", draft
    assert draft["attributes"]["quantity"] == "2" and draft["attributes"]["pollutant"] == "COD", draft
    await operator.goto(f"{web.url}/console/registry")
    await expect(operator.locator("[data-none-offers]")).to_be_visible()

    # the public sees the agreement under 公示; the buyer objects
    public = await phone.new_page()
    public_problems = watch(public)
    await public.goto(f"{web.url}/registry/agreements")
    listed = public.locator(f"[data-agreements] tr[data-agreement='{agreement_id}']")
    await expect(listed).to_contain_text("苏州乙印染有限公司")
    await expect(listed).to_contain_text("化学需氧量")
    await assert_fits_phone(public)
    await public.goto(f"{web.url}/registry/agreements/{agreement_id}")
    await expect(public.locator("[data-quantity]")).to_have_text("3.000 吨/年")
    await expect(public.locator("form[data-objection-form]")).to_be_visible()  # the phone is logged in
    await assert_fits_phone(public)

    # the desktop's pages share one login: each party logs in again before it acts
    await log_in(buyer, web.url, "green_buyer", PASSWORD)
    await buyer.goto(f"{web.url}/registry/agreements/{agreement_id}")
    objection = buyer.locator("form[data-objection-form]")
    await objection.locator("textarea").fill("价格明显低于市场价，请核实。")
    await submit(objection)
    await expect(buyer.locator("[data-objections] li")).to_have_attribute("data-status", "open")

    # the operator dismisses it
    await log_in(operator, web.url, "ops", PASSWORD)
    await operator.goto(f"{web.url}/console/registry")
    answer = operator.locator("form[data-answer-objection]")
    await expect(operator.locator("[data-agreement-objection]")).to_contain_text("价格明显低于市场价")
    await answer.locator("select").select_option("dismissed")
    await answer.locator("textarea").fill("价格由双方协商确定，符合规定。")
    await submit(answer)
    await expect(operator.locator("[data-none-objections]")).to_be_visible()
    await public.goto(f"{web.url}/registry/agreements/{agreement_id}")
    await expect(public.locator("[data-objections] li")).to_have_attribute("data-status", "dismissed")
    await expect(public.locator("[data-objections] li")).to_contain_text("价格由双方协商确定")

    # the 公示 ends; the confirmation job confirms it and the buyer sees where to pay and how much
    await set_publicity_end(web, agreement_id, timedelta(seconds=-1))
    await log_in(buyer, web.url, "green_buyer", PASSWORD)
    bought = buyer.locator(f"[data-agreements] tr[data-agreement='{agreement_id}']")
    for _ in range(30):
        await buyer.goto(f"{web.url}/registry")
        if await bought.locator("[data-status='confirmed']").count():
            break
        await asyncio.sleep(0.5)
    await expect(bought.locator("[data-due]")).to_have_text("30,000.00")
    await expect(bought.locator("[data-payment-account]")).to_have_text(re.compile(r"^64\d{17}$"))
    await screenshot(buyer, "registry-forms-buyer-desktop")

    for problems in (holder_problems, staff_problems, buyer_problems, operator_problems, public_problems):
        assert problems == [], problems

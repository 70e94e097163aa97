"""The registry's pages in a real Chromium (issue 18), desktop and phone: the public statistics,
a holder's green account with its delivery record link, and the registrar's console. Rows are
seeded straight into the server's database (the pages only read); no console error, no
response >= 400, nothing wider than a phone."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, date, datetime

from playwright.async_api import BrowserContext, Page, expect
from sqlalchemy import select

from exchange.db import create_engine, session_factory, unit_of_work
from exchange.identity.models import User
from exchange.settings import DatabaseSettings
from settlement.registry.models import Holder, Instrument, RegistryAccount, RegistryEntry, RegistryTransaction
from tests.support.browser import assert_fits_phone, log_in, screenshot
from tests.support.hall import PASSWORD, add_operator
from tests.support.server import EXCHANGE, Server

AT = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


async def _register(web: Server, username: str) -> str:
    import httpx

    from tests.support.ids import credit_code

    code = credit_code()
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        response = await http.post(
            "/api/v1/auth/register",
            json={
                "username": username,
                "password": PASSWORD,
                "display_name": "苏州乙印染有限公司",
                "kind": "enterprise",
                "credit_code": code,
            },
        )
        assert response.status_code == 201, response.text
    return code


async def _seed(web: Server, code: str) -> None:
    """A holder with 12.345 t/a of COD available, issued from a cap (balanced per instrument)."""
    engine = create_engine(DatabaseSettings(url=web.env["EXCHANGE_DATABASE_URL"], null_pool=True))
    try:
        async with unit_of_work(session_factory(engine)) as session:
            user = (await session.execute(select(User.id).where(User.username == "ops"))).scalar_one()
            holder = Holder(
                credit_code=code, name="苏州乙印染有限公司", region_code="320507", basin="太湖", created_at=AT
            )
            lot = Instrument(
                right_type="emission",
                sub_type="COD",
                region_code="320500",
                basin="太湖",
                unit="kg/a",
                valid_from=date(2026, 1, 1),
                valid_until=date(2031, 1, 1),
                origin="paid",
                legal_basis="苏环发〔2026〕1号",
                issued_by=user,
                created_at=AT,
            )
            session.add_all([holder, lot])
            await session.flush()
            cap = RegistryAccount(
                code=f"issuance:{lot.id}", kind="issuance", instrument_id=lot.id, created_at=AT
            )
            mine = RegistryAccount(
                code=f"holding:{holder.id}:{lot.id}",
                kind="holding",
                instrument_id=lot.id,
                holder_id=holder.id,
                created_at=AT,
            )
            txn = RegistryTransaction(
                kind="issuance",
                reference=f"seed:{lot.id}",
                instrument_id=lot.id,
                memo="",
                created_at=AT,
                actor="test",
            )
            session.add_all([cap, mine, txn])
            await session.flush()
            session.add_all(
                [
                    RegistryEntry(transaction_id=txn.id, account_id=mine.id, amount=12_345),
                    RegistryEntry(transaction_id=txn.id, account_id=cap.id, amount=-12_345),
                ]
            )
    finally:
        await engine.dispose()


def _watch(page: Page) -> list[str]:
    problems: list[str] = []
    # a failed load is named by the response listener, with its address
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


async def test_the_registry_pages_on_a_desktop_and_a_phone(
    web: Server, context: BrowserContext, phone: BrowserContext
) -> None:
    await add_operator(web)
    code = await _register(web, "green_holder")
    await _seed(web, code)
    for ctx, name in ((context, "desktop"), (phone, "phone")):
        page = await ctx.new_page()
        problems = _watch(page)
        await page.goto(f"{web.url}/registry/statistics")
        row = page.locator("[data-statistics] tbody tr")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text("化学需氧量")
        await expect(row).to_contain_text("12.345 吨/年")
        await expect(row.locator("[data-holders]")).to_have_text("1")
        await screenshot(page, f"registry-statistics-{name}")
        if name == "phone":
            await assert_fits_phone(page)

        await log_in(page, web.url, "green_holder", PASSWORD)
        await page.goto(f"{web.url}/registry")
        await expect(page.locator("h1")).to_have_text("绿色责任账户")
        await expect(page.locator("[data-holdings] [data-available]")).to_have_text("12.345 吨/年")
        await expect(page.locator("[data-statement]")).to_be_visible()
        await expect(page.locator("[data-offer-form]")).to_be_visible()
        await screenshot(page, f"registry-account-{name}")
        if name == "phone":
            await assert_fits_phone(page)
        await page.goto(f"{web.url}/registry?lang=en")
        await expect(page.locator("h1")).to_have_text("Green responsibility account")
        await expect(page.locator("[data-holdings] [data-available]")).to_have_text("12.345 t/a")
        assert problems == [], problems

    operator = await context.new_page()
    problems = _watch(operator)
    await log_in(operator, web.url, "ops", PASSWORD)
    await operator.goto(f"{web.url}/console/registry?lang=zh")
    await expect(operator.locator("h1")).to_have_text("权益登记管理")
    await expect(operator.locator("[data-none-awaiting]")).to_be_visible()
    await expect(operator.locator("[data-none-offers]")).to_be_visible()
    assert problems == [], problems


async def test_a_registrar_sees_the_issue_and_verify_forms(web: Server, phone: BrowserContext) -> None:
    await asyncio.to_thread(
        subprocess.run,
        [str(EXCHANGE), "users", "add", "--role", "registrar", "--username", "reg", "--password", PASSWORD],
        env=web.env,
        cwd=web.cwd,
        check=True,
        capture_output=True,
    )
    page = await phone.new_page()
    problems = _watch(page)
    await log_in(page, web.url, "reg", PASSWORD)
    problems.clear()  # the login lands on /console, which is not a registrar's page (yet)
    await page.goto(f"{web.url}/console/registry")
    await expect(page.locator("form[data-issue-form]")).to_be_visible()
    await expect(page.locator("form[data-obligation-form]")).to_be_visible()
    await assert_fits_phone(page)
    await screenshot(page, "registry-console-phone")
    assert problems == [], problems

"""Joint bidding (联合竞买, issue 20 item 5) in a real browser, on a phone and a desktop: the lead
applies with two members through the apply page (the shares must total 100 before anything is sent,
and the server's problem lands on the member's field), one member confirms on its /me page, the
other refuses with a reason, and every page says how it ended; beside it, a consortium that won
another listing is named party by party, with its shares, on the public result page.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.support.bank import signed
from tests.support.browser import PHONE, assert_fits_phone, log_in, new_context, screenshot
from tests.support.flow import publish_in_time, start_bidding
from tests.support.hall import PASSWORD, add_operator, token, wait_status
from tests.support.ids import credit_code
from tests.support.listings import listing_body, sandbox_schedule
from tests.support.server import Server

Party = tuple[str, str, dict[str, str]]
"""(username, credit code, auth headers)"""


async def _enterprise(http: httpx.AsyncClient, name: str) -> Party:
    username = f"jb_{secrets.token_hex(3)}"
    code = credit_code()
    registered = await http.post(
        "/api/v1/auth/register",
        json={
            "username": username,
            "password": PASSWORD,
            "display_name": name,
            "kind": "enterprise",
            "credit_code": code,
        },
    )
    assert registered.status_code == 201, registered.text
    return username, code, await token(http, username)


async def _listing(http: httpx.AsyncClient, operator: dict[str, str], title: str) -> int:
    """A land listing in registration for ten minutes (a second one moves its own dates to bid)."""

    def schedule() -> dict[str, Any]:
        return sandbox_schedule(
            datetime.now(UTC) + timedelta(seconds=0.5),
            registration=0.1,
            registration_closes=600,
            bidding=601,
            closes=700,
        )

    created = await http.post(
        "/api/v1/listings",
        json=listing_body(schedule=schedule(), title=title, reserve_price="1000000.00"),
        headers=operator,
    )
    assert created.status_code == 201, created.text
    lid = int(created.json()["id"])
    await publish_in_time(http, lid, operator, schedule)
    await wait_status(http, lid, "registration", 10)
    return lid


async def _pay(http: httpx.AsyncClient, application: dict[str, Any]) -> None:
    payload, headers = signed(
        {
            "txn_id": f"T{secrets.token_hex(6)}",
            "account": application["deposit_account"],
            "amount": application["deposit_due"],
            "paid_at": datetime.now(UTC).isoformat(),
        }
    )
    paid = await http.post("/api/v1/bank/notifications", content=payload, headers=headers)
    assert paid.status_code == 200 and paid.json()["outcome"] == "deposit", paid.text


async def _won_by_a_consortium(
    http: httpx.AsyncClient, operator: dict[str, str], lead: Party, member: Party, rival: Party
) -> int:
    """Over the API, while the browser works: a consortium (60 / 40) outbids a bidder alone."""
    lid = await _listing(http, operator, "联合竞买成交测试地块")
    body = {
        "consortium": {
            "lead_share": "60",
            "members": [{"credit_code": member[1], "name": "乙", "share": "40"}],
        }
    }
    joint = await http.post(f"/api/v1/listings/{lid}/applications", json=body, headers=lead[2])
    assert joint.status_code == 201, joint.text
    answered = await http.post(
        f"/api/v1/applications/{joint.json()['id']}/consortium/confirmation",
        json={"confirm": True},
        headers=member[2],
    )
    assert answered.status_code == 200 and answered.json()["status"] == "confirmed", answered.text
    alone = await http.post(f"/api/v1/listings/{lid}/applications", headers=rival[2])
    assert alone.status_code == 201, alone.text
    for application in (joint.json(), alone.json()):
        decided = await http.post(
            f"/api/v1/applications/{application['id']}/decision", json={"approve": True}, headers=operator
        )
        assert decided.status_code == 200, decided.text
        await _pay(http, application)
    await start_bidding(http, operator, lid, closes_in=1.5, extension=2, opens_in=0.6)
    await wait_status(http, lid, "bidding", 20)
    placed = await http.post(
        f"/api/v1/auctions/{lid}/bids",
        json={"amount": "1010000.00"},
        headers={**lead[2], "Idempotency-Key": f"jb-{lid}"},
    )
    assert placed.status_code == 201, placed.text
    await wait_status(http, lid, "closed", 30)
    return lid


async def _apply_jointly(page: Page, url: str, lid: int, m1: Party, m2: Party) -> int:
    await page.goto(f"{url}/listings/{lid}/apply")
    form = page.locator("form[data-apply-form]")
    await form.get_by_label("我已阅读并确认以上竞买申请书").check()
    await form.get_by_label("我已阅读并作出以上承诺").check()
    await form.get_by_label("本单位作为牵头人联合其他单位竞买").check()
    await form.get_by_label("牵头人份额（%）").fill("50")
    first = form.locator("[data-member]").nth(0)
    await first.get_by_label("统一社会信用代码").fill(m1[1])
    await first.get_by_label("名称").fill("乙方（牵头人所填）")
    await first.get_by_label("份额（%）").fill("30")
    await form.get_by_role("button", name="＋ 添加成员").click()
    second = form.locator("[data-member]").nth(1)
    await second.get_by_label("统一社会信用代码").fill("911401000000000001")  # a wrong check character
    await second.get_by_label("名称").fill("丙方")
    await second.get_by_label("份额（%）").fill("10")
    total = form.locator("[data-share-total]")
    await expect(total).to_contain_text("份额合计 90.00%，须为 100%")
    alert = form.locator("[data-form-alert]")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    await form.get_by_role("button", name="提交竞买申请").click()
    # said before sending: the shares do not total 100, and nothing went to the server
    await expect(alert).to_have_attribute("data-code", "consortium_shares_invalid")
    await expect(form.locator("[data-members]")).to_have_attribute("aria-invalid", "true")
    assert sent == []
    await second.get_by_label("份额（%）").fill("20")
    await expect(total).to_contain_text("份额合计 100.00% ✓")
    await form.get_by_role("button", name="提交竞买申请").click()
    # the server's problem, on the member's own field
    code = second.get_by_label("统一社会信用代码")
    await expect(alert).to_have_attribute("data-code", "credit_code_invalid")
    await expect(code).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#member-1-credit_code-error")).to_be_visible()
    await screenshot(page, "issue20-joint-apply-error-phone")
    await assert_fits_phone(page)
    await code.fill(m2[1])
    await form.get_by_role("button", name="提交竞买申请").click()
    await expect(page).to_have_url(re.compile(r"/me#application-\d+$"))
    return int(page.url.rsplit("-", 1)[1])


async def test_a_lead_applies_jointly_one_member_confirms_the_other_refuses(
    web: Server, browser: Browser, context: BrowserContext, phone: BrowserContext
) -> None:
    await add_operator(web)
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        operator = await token(http, "ops")
        lead = await _enterprise(http, "甲牵头建设有限公司")
        m1 = await _enterprise(http, "乙合作投资有限公司")
        m2 = await _enterprise(http, "丙实业有限公司")
        rival = await _enterprise(http, "丁独立竞买有限公司")
        lid = await _listing(http, operator, "联合竞买报名测试地块")
        won = asyncio.create_task(_won_by_a_consortium(http, operator, lead, m1, rival))

        lead_page = await phone.new_page()
        await log_in(lead_page, web.url, lead[0], PASSWORD)
        aid = await _apply_jointly(lead_page, web.url, lid, m1, m2)
        card = lead_page.locator(f"#application-{aid}")
        await expect(card.locator("[data-joint] [data-field=joint_status]")).to_contain_text("待成员确认")
        parties = card.locator("table[data-parties] tbody tr")
        await expect(parties).to_have_count(3)
        await expect(parties.nth(0)).to_contain_text("50.00%")
        await expect(parties.nth(1)).to_contain_text("30.00%")
        await expect(parties.nth(2)).to_have_attribute("data-status", "invited")
        await assert_fits_phone(lead_page)

        # the first member confirms on its own /me (a desktop)
        member_page = await context.new_page()
        await log_in(member_page, web.url, m1[0], PASSWORD)
        await member_page.goto(f"{web.url}/me")
        invitation = member_page.locator(f"#invitation-{aid}")
        await expect(invitation.locator("[data-field=lead]")).to_contain_text("甲牵头建设有限公司")
        await expect(invitation.locator("[data-field=my_share]")).to_have_text("30.00%")
        await expect(invitation.locator("[data-field=confirm_by]")).to_have_text(
            re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        )
        await invitation.get_by_role("button", name="确认参与").click()
        await expect(invitation.locator("[data-field=my_answer]")).to_have_attribute(
            "data-status", "confirmed"
        )
        await expect(invitation.get_by_role("button", name="确认参与")).to_have_count(0)

        # the second refuses on a phone, saying why
        other = await new_context(browser, PHONE, mobile=True)
        try:
            refusing = await other.new_page()
            await log_in(refusing, web.url, m2[0], PASSWORD)
            await refusing.goto(f"{web.url}/me")
            invitation = refusing.locator(f"#invitation-{aid}")
            await expect(invitation.locator("[data-field=my_share]")).to_have_text("20.00%")
            await assert_fits_phone(refusing)
            await invitation.get_by_role("button", name="拒绝").click()
            await invitation.get_by_label("拒绝理由（可选）").fill("董事会未批准")
            await invitation.get_by_role("button", name="拒绝").click()
            await expect(invitation.locator("[data-field=my_answer]")).to_have_attribute(
                "data-status", "refused"
            )
            await expect(invitation.locator("[data-field=joint_status]")).to_contain_text("成员拒绝，已终止")
            await screenshot(refusing, "issue20-joint-refused-phone")
            await assert_fits_phone(refusing)
        finally:
            await other.close()

        # the lead sees each answer, and the end
        await lead_page.reload()
        await expect(card.locator("[data-field=status]")).to_contain_text("未通过")
        await expect(card.locator("[data-joint] [data-field=joint_status]")).to_contain_text("成员拒绝")
        await expect(parties.nth(1)).to_have_attribute("data-status", "confirmed")
        await expect(parties.nth(1)).to_contain_text("乙合作投资有限公司")  # its registered name now
        await expect(parties.nth(2)).to_have_attribute("data-status", "refused")
        await expect(parties.nth(2).locator("[data-field=reason]")).to_contain_text("董事会未批准")
        await screenshot(lead_page, "issue20-joint-me-lead-phone")
        await assert_fits_phone(lead_page)

        # the public result names each party of the winning consortium with its share
        sold = await asyncio.wait_for(won, 60)
        await lead_page.goto(f"{web.url}/results/{sold}")
        winners = lead_page.locator("[data-section=winners]")
        await expect(winners).to_contain_text("甲牵头建设有限公司")
        joint = winners.locator("[data-field=consortium] li")
        await expect(joint).to_have_count(2)
        await expect(joint.nth(0)).to_contain_text("甲牵头建设有限公司（牵头人）")
        await expect(joint.nth(0)).to_contain_text("60.00%")
        await expect(joint.nth(1)).to_contain_text("乙合作投资有限公司")
        await expect(joint.nth(1)).to_contain_text("40.00%")
        await expect(joint.nth(1)).to_contain_text(m1[1])
        await screenshot(lead_page, "issue20-joint-result-phone")
        await assert_fits_phone(lead_page)

        # and in English, the same words the other way round
        await lead_page.goto(f"{web.url}/me?lang=en")
        await expect(card.locator("[data-joint] [data-field=joint_status]")).to_have_text(
            "Refused by a member: ended"
        )
        await expect(parties.nth(2).locator("[data-field=answer]")).to_contain_text("Refused")
        await lead_page.goto(f"{web.url}/listings/{lid}/apply")
        await expect(lead_page).to_have_url(re.compile(rf"/me#application-{aid}$"))  # applied already

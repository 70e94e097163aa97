"""The operator console in a real browser: create a listing through the form, publish it, watch it."""

from __future__ import annotations

import asyncio
import re
import secrets
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import BrowserContext, Page, Route, expect

from tests.support.bank import notice, signed
from tests.support.browser import log_in, screenshot
from tests.support.flow import publish_in_time
from tests.support.ids import credit_code
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

    # Typed into another class's and another method's fields, then switched away: not submitted.
    await page.locator("#f-land_use_right-attributes-parcel_code").fill("不应提交")
    await page.get_by_label("交易方式").select_option("uniform_price")
    await page.locator("#f-quantity").fill("12.500")
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
        ("registration_opens_at", 120),
        ("registration_closes_at", 180),
        ("bidding_opens_at", 240),
        ("bidding_closes_at", 600),
    ):
        await page.locator(f"#f-schedule-{name}").fill(beijing(now + timedelta(seconds=offset)))
    await page.locator("#f-schedule-extension_seconds").fill("60")
    await page.get_by_role("button", name="保存草稿").click()
    # Without the announcement time the schedule is refused, and the missing field is marked.
    await expect(page.locator("#f-schedule-announce_at-error")).to_contain_text("公告时间")
    await expect(page.locator("#f-schedule-announce_at")).to_have_attribute("aria-invalid", "true")

    await page.get_by_label("公告时间").fill(beijing(now))
    await page.get_by_role("button", name="保存草稿").click()

    error = page.locator("#f-emission_right-attributes-region_code-error")
    await expect(error).to_contain_text("区域代码")
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
    await page.get_by_role("dialog").get_by_role("button", name="确认发布").click()
    await expect(page.locator("[data-listing-status]")).to_have_text("已公告")
    await screenshot(page, "console-published")

    async with httpx.AsyncClient(base_url=web.url) as http:
        catalogue = (await http.get("/api/v1/listings", params={"asset_class": "emission_right"})).json()
        public = (await http.get(f"/api/v1/listings/{listing_id}")).json()
        assert listing_id in [item["id"] for item in catalogue["items"]]
        assert public["status"] == "announced" and public["attributes"]["region_code"] == "640000"
        assert "parcel_code" not in public["attributes"] and "quantity" not in public["method_params"]
        # The Beijing wall-clock time typed in is the instant stored.
        opens = datetime.fromisoformat(public["schedule"]["bidding_opens_at"])
        assert abs(opens - (now + timedelta(seconds=240))) < timedelta(seconds=1)

        # Suspended before bidding, it resumes with a later close.
        await page.get_by_label("中止原因").fill("补充材料")
        await page.get_by_role("button", name="中止", exact=True).click()
        await expect(page.locator("[data-listing-status]")).to_have_text("已中止")
        later = now + timedelta(minutes=30)
        form = page.locator("form", has=page.get_by_role("heading", name=re.compile("按新的时间安排恢复")))
        await form.get_by_label("竞价截止").fill(beijing(later))
        await form.get_by_role("button", name="按新时间恢复").click()
        await expect(page.locator("[data-listing-status]")).to_have_text("已公告")
        resumed = (await http.get(f"/api/v1/listings/{listing_id}")).json()
    closes = datetime.fromisoformat(resumed["schedule"]["bidding_closes_at"])
    assert abs(closes - later) < timedelta(seconds=1), resumed["schedule"]


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
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name="确认发布").click()
    # the problems show in the confirm dialog, each naming its field as the form does
    problem = dialog.locator('[data-action-problems] li[data-code="deposit_below_minimum"]')
    await expect(problem).to_be_visible()
    await expect(problem).to_contain_text("竞买保证金")
    await expect(dialog.locator("[data-action-alert]")).to_be_focused()
    await expect(page.locator("[data-listing-status]")).to_have_text("草稿")
    for path in (f"/console/listings/{listing_id}", "/console", "/console/listings/new"):
        await page.goto(f"{web.url}{path}")
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    await page.goto(f"{web.url}/console/listings/{listing_id}")
    await page.get_by_role("button", name="发布公告").click()
    await page.get_by_role("dialog").get_by_role("button", name="确认发布").click()
    await screenshot(page, "console-phone-publish-problems")


async def test_a_click_before_the_scripts_are_ready_is_held_not_sent_natively(
    web: Server, context: BrowserContext
) -> None:
    """A fast hand on a slow page: the form is sent through the API once the page's scripts bind it."""
    page = await operator_page(web, context, "early_ops")
    token = await page.request.post(
        f"{web.url}/api/v1/auth/token", data={"username": "early_ops", "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {(await token.json())['access_token']}"}
    body = listing_body(schedule=sandbox_schedule(datetime.now(UTC) + timedelta(minutes=2), closes=600))
    async with httpx.AsyncClient(base_url=web.url) as http:
        created = await http.post("/api/v1/listings", json=body, headers=headers)
    assert created.status_code == 201, created.text
    listing_id = created.json()["id"]

    scripts_may_load = asyncio.Event()

    async def slow_script(route: Route) -> None:
        await scripts_may_load.wait()
        await route.continue_()

    await page.route("**/static/app.js", slow_script)
    await page.goto(f"{web.url}/console/listings/{listing_id}", wait_until="commit")
    await page.get_by_label("终止原因").fill("提前点击")
    await page.get_by_role("button", name="终止交易").click()
    scripts_may_load.set()
    await expect(page.locator("[data-listing-status]")).to_have_text("已终止", timeout=15_000)
    assert "/api/" not in page.url


async def _wait_status(http: httpx.AsyncClient, listing_id: int, status: str, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await http.get(f"/api/v1/listings/{listing_id}")).json()["status"] != status:
        assert loop.time() < deadline, f"listing {listing_id} never reached {status}"
        await asyncio.sleep(0.1)


async def bid(
    http: httpx.AsyncClient, headers: dict[str, str], listing_id: int, amount: str
) -> httpx.Response:
    return await http.post(
        f"/api/v1/auctions/{listing_id}/bids",
        json={"amount": amount},
        headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
    )


async def applicant(
    http: httpx.AsyncClient, listing_id: int, username: str, name: str
) -> tuple[dict[str, str], dict[str, Any]]:
    """A registered bidder who applied to the listing: (auth headers, application)."""
    user = {
        "username": username,
        "password": PASSWORD,
        "display_name": name,
        "kind": "enterprise",
        "credit_code": credit_code(),
    }
    assert (await http.post("/api/v1/auth/register", json=user)).status_code == 201
    token = await http.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    application = await http.post(f"/api/v1/listings/{listing_id}/applications", headers=headers)
    assert application.status_code == 201, application.text
    return headers, dict(application.json())


async def test_an_operator_reviews_an_application_watches_bids_and_suspends(
    web: Server, context: BrowserContext
) -> None:
    page = await operator_page(web, context, "watch_ops")
    async with httpx.AsyncClient(base_url=web.url) as http:
        token = await http.post("/api/v1/auth/token", json={"username": "watch_ops", "password": PASSWORD})
        operator = {"Authorization": f"Bearer {token.json()['access_token']}"}
        schedule = sandbox_schedule(
            datetime.now(UTC) + timedelta(seconds=1),
            registration=0.1,
            registration_closes=12,
            bidding=12.5,
            closes=300,
            extension=30,
        )
        created = await http.post("/api/v1/listings", json=listing_body(schedule=schedule), headers=operator)
        assert created.status_code == 201, created.text
        lid = created.json()["id"]
        await publish_in_time(http, lid, operator, schedule)
        await _wait_status(http, lid, "registration", 5)
        bidder, application = await applicant(http, lid, "watched_a", "观察测试有限公司")
        rival, rival_application = await applicant(http, lid, "watched_b", "对手测试有限公司")

        await page.goto(f"{web.url}/console/listings/{lid}")
        row = page.locator(f'[data-applications] tr[data-application-id="{application["id"]}"]')
        await expect(row).to_contain_text("观察测试有限公司")
        await expect(row.locator("[data-status]")).to_have_text("待审核")
        await row.get_by_label("意见").fill("材料齐全")
        await row.get_by_role("button", name="通过").click()
        await expect(row.locator("[data-status]")).to_have_text("已通过")
        rival_row = page.locator(f'[data-applications] tr[data-application-id="{rival_application["id"]}"]')
        await rival_row.get_by_role("button", name="通过").click()
        await expect(rival_row.locator("[data-status]")).to_have_text("已通过")

        for app in (application, rival_application):
            body, headers = signed(notice(app["deposit_account"], app["deposit_due"], datetime.now(UTC)))
            paid = await http.post("/api/v1/bank/notifications", content=body, headers=headers)
            assert paid.status_code == 200, paid.text
        await _wait_status(http, lid, "bidding", 15)

        await page.reload()
        watch = page.locator("[data-watch]")
        await expect(watch.locator("[data-connection]")).to_have_text("实时连接正常")
        await expect(watch.locator("[data-countdown]")).to_have_text(re.compile(r"^\d{1,2}:\d{2}"))
        placed = await bid(http, bidder, lid, "1000000.00")
        assert placed.status_code == 201, placed.text
        history = watch.locator("[data-history] tbody tr")
        await expect(history.filter(has_text="1,000,000.00")).to_have_count(1, timeout=3000)
        await expect(watch.locator('[data-field="current_price"]')).to_have_text("1,000,000.00")
        number = (await http.get(f"/api/v1/applications/{application['id']}", headers=bidder)).json()[
            "bid_number"
        ]
        await expect(history.filter(has_text="1,000,000.00")).to_contain_text(number)
        await expect(watch.locator('[data-field="leading_bid_number"]')).to_have_text(number)
        await expect(watch.locator('[data-field="status"]')).to_have_text("竞价中")

        # The server goes away: the page says so, reconnects from its last seq, and misses nothing.
        await asyncio.to_thread(web.kill)
        await expect(watch.locator("[data-connection]")).to_have_text(re.compile("重连"))
        await asyncio.to_thread(web.start)
        await expect(watch.locator("[data-connection]")).to_have_text("实时连接正常", timeout=15_000)
        assert (await bid(http, rival, lid, "1010000.00")).status_code == 201
        await expect(history.filter(has_text="1,010,000.00")).to_have_count(1, timeout=3000)
        seqs = await history.evaluate_all("rows => rows.map(row => row.dataset.seq)")
        assert len(seqs) == len(set(seqs)), seqs
        await screenshot(page, "console-watch")

        # A hall open meanwhile follows the suspension, the resumption and the cancellation live.
        hall = await context.new_page()
        await hall.goto(f"{web.url}/hall/{lid}")
        await expect(hall.locator("[data-connection]")).to_have_text("实时连接正常")
        hall_status = hall.locator("[data-hall-status]")
        await expect(hall_status).to_have_text("竞价中")

        await page.get_by_label("中止原因").fill("系统维护")
        # each click posts, then reloads the console page: seconds on a loaded machine
        await page.get_by_role("button", name="中止", exact=True).click()
        await expect(page.locator("[data-listing-status]")).to_have_text("已中止", timeout=15_000)
        await expect(hall_status).to_have_text("已中止", timeout=15_000)
        await page.get_by_role("button", name="恢复交易").click()
        await expect(page.locator("[data-listing-status]")).to_have_text("竞价中", timeout=15_000)
        await expect(hall_status).to_have_text("竞价中", timeout=15_000)
        await page.get_by_label("终止原因").fill("测试终止")
        await page.get_by_role("button", name="终止交易").click()
        await expect(page.locator("[data-listing-status]")).to_have_text("已终止")
        await expect(hall_status).to_have_text("已终止", timeout=15_000)
        await expect(hall.locator("[data-outcome-text]")).to_have_text("已终止 (测试终止)")
        await screenshot(hall, "hall-cancelled")
        assert (await http.get(f"/api/v1/listings/{lid}")).json()["status"] == "cancelled"

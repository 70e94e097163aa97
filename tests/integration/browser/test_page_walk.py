"""Every page, as anyone, a bidder and an operator, on a desktop and a phone (issue 17).

One server holds a small but realistic exchange: an English land sale closed and in its 公示 with
its settlement, a failed water lot, a Dutch technology sale below its start price, an emission lot
bidding now, a mining lot in registration with a bidder's application, and a draft. The walker
opens every page, keeps a screenshot of each (``issue17-walk-<page>-<viewport>``), and collects
every finding before it fails: raw codes (``price_due``), ``None``/``null``/``undefined``/``NaN``,
JSON-looking text and English words in the Chinese pages' visible text, and a page wider than the
phone. All findings come out at once, by page, so each can be routed to the page's owner.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from playwright.async_api import Browser, BrowserContext, Page

from tests.support.browser import DESKTOP, PHONE, assert_fits_phone, log_in, new_context, screenshot
from tests.support.hall import PASSWORD, add_operator, seed_auction, token, wait_status
from tests.support.listings import listing_body, sandbox_schedule
from tests.support.server import Server

SUFFIX = secrets.token_hex(2)
WINNER, RIVAL = f"walkwin{SUFFIX}", f"walkrival{SUFFIX}"
DUTCH_A, DUTCH_B = f"walkdutcha{SUFFIX}", f"walkdutchb{SUFFIX}"
FAILER = f"walkfail{SUFFIX}"
LIVE_A, LIVE_B = f"walklivea{SUFFIX}", f"walkliveb{SUFFIX}"
USERNAMES = (WINNER, RIVAL, DUTCH_A, DUTCH_B, FAILER, LIVE_A, LIVE_B, "ops")

RAW_CODE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
EMPTY_VALUE = re.compile(r"\b(?:None|null|undefined|NaN)\b")
JSON_LIKE = re.compile(r"\{\s*\"|\[\s*\{")
ENGLISH_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]")
ALLOWED = re.compile(
    r"SHA-256\([^)]*\bnone:"  # the reserve commitment's formula, written as it is computed
    r"|https?://\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\b[0-9a-f]{16,}\b"  # addresses, e-mail, hex digests
    r"|(?<![\w/])/[a-z][\w/<>{}.-]*"  # the site's own addresses: /verify/<摘要>
    r"|\bGB(?:/T)?\s?\d[\d/.-]*|\bSHA-256\b|\bHHI\b|\b(?:PDF|CSV|JSON|API|PNG|JPEG|MB)\b|\bEnglish\b"
    r"|\bCGCS2000\b|\b(?:COD|NOx|VOCs|SO2)\b"  # names of standards and pollutants
    r"|\bpassword123\b"  # the registration form's example of a common password
    r"|\b[A-Z]{1,3}-?\d[\w-]*"  # bid and document numbers: B-0001, T3a9f
    r"|\b\d+[A-Z]{1,4}\b"  # deposit account numbers: 010000000001QB
    r"|(?:m²|m³|t|k?m)/a|\bm[²³]|\bkm²?"  # units
)
"""What a Chinese page may show in Latin letters (issue 17's allow-list)."""


@dataclass(frozen=True)
class Stage:
    sold: int
    failed: int
    dutch: int
    live: int
    registration: int
    draft: int


@dataclass(frozen=True)
class Visit:
    name: str
    path: str
    status: int = 200
    shows: tuple[str, ...] = ()
    """Words the page must show (the results pages: reasons and rates in words)."""
    hides: tuple[str, ...] = ()


async def _bid(http: httpx.AsyncClient, head: dict[str, str], lid: int, amount: str) -> None:
    placed = await http.post(
        f"/api/v1/auctions/{lid}/bids",
        json={"amount": amount},
        headers={**head, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert placed.status_code == 201, placed.text


async def _sold(web: Server) -> int:
    """An English land sale, closed above its reserve, its result on display (公示) for a few minutes."""
    lid, heads = await seed_auction(
        web,
        [WINNER, RIVAL],
        3,
        title="苏州工业园区星湖街地块",
        publicity_working_days=250,  # seconds under the sandbox: the walk fits in them
    )
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        await _bid(http, heads[RIVAL], lid, "1010000.00")
        await _bid(http, heads[WINNER], lid, "1110000.00")
        await wait_status(http, lid, "closed", 30)
        operator = await token(http, "ops")
        for _ in range(150):
            if (await http.get(f"/api/v1/settlements/{lid}", headers=operator)).status_code == 200:
                break
            await asyncio.sleep(0.2)
    return lid


async def _failed(web: Server) -> int:
    """A water lot whose one bidder never bids: 流拍 (no bids)."""
    lid, _ = await seed_auction(web, [FAILER], 1, asset_class="water_right", title="黄河干流取水权转让")
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        await wait_status(http, lid, "failed", 30)
    return lid


async def _dutch(web: Server) -> int:
    """A Dutch technology sale accepted one step below its start price (a 降价率, not a 溢价率)."""
    lid, heads = await seed_auction(
        web,
        [DUTCH_A, DUTCH_B],
        40,
        asset_class="technology",
        method="dutch",
        reserve_price="900000.00",
        title="一种高效光伏组件封装技术（降价拍卖）",
    )
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        for _ in range(200):
            view = (await http.get(f"/api/v1/auctions/{lid}")).json()
            price = view["current_price"]
            if price and float(price) < 1_000_000:
                break
            await asyncio.sleep(0.1)
        await _bid(http, heads[DUTCH_A], lid, price)
        await wait_status(http, lid, "closed", 30)
    return lid


async def _live(web: Server) -> int:
    """An emission lot bidding for the whole walk, with one bid in its history."""
    lid, heads = await seed_auction(
        web, [LIVE_A, LIVE_B], 900, asset_class="emission_right", title="化学需氧量排污权（英式拍卖）"
    )
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        await _bid(http, heads[LIVE_A], lid, "1010000.00")
    return lid


async def _open_and_draft(web: Server) -> tuple[int, int]:
    """A mining lot in registration for an hour and an emission draft (uniform price)."""
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        operator = await token(http, "ops")
        start = datetime.now(UTC) + timedelta(seconds=0.5)
        body = listing_body(
            "mining_right",
            "english",
            schedule=sandbox_schedule(
                start, registration=0.1, registration_closes=3600, bidding=3700, closes=4000
            ),
            title="某县建筑用花岗岩采矿权",
        )
        created = await http.post("/api/v1/listings", json=body, headers=operator)
        assert created.status_code == 201, created.text
        registration = created.json()["id"]
        published = await http.post(f"/api/v1/listings/{registration}/publish", headers=operator)
        assert published.status_code == 200, published.text
        draft_body = listing_body("emission_right", "uniform_price", title="二氧化硫排污权（统一价格）")
        draft = await http.post("/api/v1/listings", json=draft_body, headers=operator)
        assert draft.status_code == 201, draft.text
        await wait_status(http, registration, "registration", 10)
        return registration, draft.json()["id"]


async def _stage(web: Server) -> Stage:
    await add_operator(web)
    sold, failed, dutch, live, (registration, draft) = await asyncio.gather(
        _sold(web), _failed(web), _dutch(web), _live(web), _open_and_draft(web)
    )
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as http:
        applied = await http.post(
            f"/api/v1/listings/{registration}/applications", headers=await token(http, WINNER)
        )
        assert applied.status_code == 201, applied.text
    return Stage(sold, failed, dutch, live, registration, draft)


def _visits(stage: Stage) -> dict[str, list[Visit]]:
    s = stage
    public = [
        Visit("catalogue", "/"),
        Visit("listing-registration", f"/listings/{s.registration}"),
        Visit("listing-live", f"/listings/{s.live}"),
        Visit("hall-before", f"/hall/{s.registration}"),
        Visit("hall-live", f"/hall/{s.live}"),
        Visit("hall-after", f"/hall/{s.sold}"),
        Visit("result-sold", f"/results/{s.sold}", shows=("溢价率", "11.00%", "公示期")),
    ]
    results = [  # the same for everyone: walked once, anonymously
        Visit("results", "/results", shows=("无人报价", "降价 1.00%", "溢价 11.00%")),
        Visit("result-failed", f"/results/{s.failed}", shows=("流拍（无人报价）",)),
        # a Dutch sale one step (10,000) under its start price: 降价率, no negative 溢价率
        Visit("result-dutch", f"/results/{s.dutch}", shows=("降价率", "1.00%"), hides=("溢价率",)),
    ]
    return {
        "anonymous": [
            *public,
            *results,
            Visit("login", "/login"),
            Visit("register", "/register"),
            Visit("verify", "/verify"),
            Visit("verify-unknown", f"/verify/{'0' * 64}", 404),
            Visit("error-404", "/nothing", 404),
            Visit("error-404-listing", "/listings/999999", 404),
        ],
        "bidder": [
            *public,
            Visit("me", "/me"),
            Visit("apply", f"/listings/{s.registration}/apply"),  # issue 20: joint bids
            Visit("hall-dutch-after", f"/hall/{s.dutch}"),
            Visit("error-403", "/console", 403),
        ],
        "operator": [
            Visit("console", "/console"),
            Visit("console-new", "/console/listings/new"),
            Visit("console-edit", f"/console/listings/{s.draft}/edit"),
            Visit("console-draft", f"/console/listings/{s.draft}"),
            Visit("console-registration", f"/console/listings/{s.registration}"),
            Visit("console-live", f"/console/listings/{s.live}"),
            Visit("console-sold", f"/console/listings/{s.sold}"),
            Visit("console-failed", f"/console/listings/{s.failed}"),
            Visit("console-settlement", f"/console/listings/{s.sold}/settlement"),
            Visit("console-dutch-settlement", f"/console/listings/{s.dutch}/settlement"),
            Visit("result-sold", f"/results/{s.sold}"),
            Visit("error-404-console", "/console/listings/999999", 404),
        ],
    }


def findings_in(text: str, seeded: tuple[str, ...]) -> list[str]:
    """What a Chinese page's visible text must not contain, each with a little of its context."""
    for name in sorted(seeded, key=len, reverse=True):
        text = text.replace(name, " ")
    found: list[str] = []

    def note(kind: str, match: re.Match[str], source: str) -> None:
        around = source[max(0, match.start() - 12) : match.end() + 12].replace("\n", " ")
        found.append(f"{kind} {match.group(0)!r} in «{around}»")

    for match in RAW_CODE.finditer(text):
        note("raw code", match, text)
    for match in EMPTY_VALUE.finditer(text):
        note("empty value", match, text)
    for match in JSON_LIKE.finditer(text):
        note("JSON", match, text)
    latin = ALLOWED.sub(" ", RAW_CODE.sub(" ", EMPTY_VALUE.sub(" ", text)))
    for match in ENGLISH_WORD.finditer(latin):
        note("English", match, latin)
    return found


async def _walk(
    browser: Browser, web: Server, role: str, visits: list[Visit], viewport: dict[str, int], mobile: bool
) -> dict[str, list[str]]:
    context: BrowserContext = await new_context(browser, viewport, mobile=mobile)
    where = "phone" if mobile else "desktop"
    found: dict[str, list[str]] = {}
    refused: list[str] = []
    try:
        page: Page = await context.new_page()
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        if role == "bidder":
            await log_in(page, web.url, WINNER, PASSWORD)
        elif role == "operator":
            await log_in(page, web.url, "ops", PASSWORD)
        for visit in visits:
            key = f"{role} {visit.name} {where}"
            problems: list[str] = []
            response = await page.goto(f"{web.url}{visit.path}", wait_until="load")
            status = response.status if response else 0
            if status != visit.status:
                problems.append(f"status {status}, expected {visit.status}")
            await page.wait_for_timeout(150)  # the page's script fills in what it fetches
            text = await page.evaluate("document.body.innerText")
            problems += findings_in(text, USERNAMES)
            problems += [f"does not show {word!r}" for word in visit.shows if word not in text]
            problems += [f"shows {word!r}" for word in visit.hides if word in text]
            if mobile:
                try:
                    await assert_fits_phone(page)
                except AssertionError as exc:
                    problems.append(f"phone: {exc}")
            await screenshot(page, f"issue17-walk-{role}-{visit.name}-{where}")
            if problems:
                found[key] = problems
        if refused:
            found[f"{role} {where} CSP"] = refused
    finally:
        await context.close()
    return found


async def test_every_page_reads_as_chinese_for_everyone_on_both_screens(
    web: Server, browser: Browser
) -> None:
    stage = await _stage(web)
    visits = _visits(stage)
    walks = [
        _walk(browser, web, role, pages, viewport, mobile)
        for role, pages in visits.items()
        for viewport, mobile in ((DESKTOP, False), (PHONE, True))
    ]
    found: dict[str, list[str]] = {}
    for result in await asyncio.gather(*walks):
        found.update(result)
    report = "\n".join(f"{page}:\n  " + "\n  ".join(problems) for page, problems in sorted(found.items()))
    assert not found, f"{len(found)} pages with findings:\n{report}"


def test_the_walkers_eye() -> None:
    """The checks themselves: what they flag and what they let through."""
    seeded = ("walkwin1a2b",)
    assert findings_in("状态：price_due", ()) == ["raw code 'price_due' in «状态：price_due»"]
    assert findings_in("成交价 None 元", ())[0].startswith("empty value 'None'")
    assert findings_in('{"min": "1.0"}', ())[0].startswith("JSON")
    assert findings_in("not a winner", ())[0].startswith("English 'not'")
    fine = (
        "统一社会信用代码（GB 32100-2015）SHA-256 下载 PDF · CSV · JSON API English "
        "walkwin1a2b 竞买号 B-0001 https://exchange.example.org/verify 0123456789abcdef0123 "
        "12.500 t/a 500000 m³/a 120 m² 2026-12-07 09:30:00 010000000001QB"
    )
    assert findings_in(fine, seeded) == []

"""The pages' API calls get problems in the page's language, and say what failed (issue 17).

``app.js`` sends ``Accept-Language`` from ``<html lang>``; no answer is a 网络错误, a 5xx
is the server's fault (never a 网络错误), and an answer that is no JSON (a proxy's page)
shows no raw HTML. Driven through ``Exchange.api`` and ``Exchange.message`` on a real page,
at both viewports.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import BrowserContext, Route

from tests.support.browser import assert_fits_phone, screenshot
from tests.support.server import Server

CALLS = """async () => {
  const said = async (url) => Exchange.message((await Exchange.api("POST", url, {})).data);
  const out = {
    missing: await said("/api/v1/no-such-thing"),
    empty_form: await said("/api/v1/auth/register"),
    offline: await said("/offline/x"),
    proxy: await said("/proxy/x"),
    crashed: await said("/crashed/x"),
  };
  const box = document.createElement("ol");
  box.className = "notice";
  box.dataset.errorWords = "";
  for (const text of Object.values(out)) box.append(Object.assign(document.createElement("li"), { textContent: text }));
  document.querySelector("main").prepend(box);
  return out;
}"""


async def _fake_failures(route: Route) -> None:
    if "/offline/" in route.request.url:
        await route.abort("internetdisconnected")
    elif "/proxy/" in route.request.url:
        await route.fulfill(
            status=502, content_type="text/html", body="<html><body>Bad Gateway</body></html>"
        )
    else:
        await route.fulfill(
            status=500,
            content_type="application/problem+json",
            body='{"status": 500, "code": "internal_error", "detail": "数据库暂时不可用"}',
        )


async def _words(context: BrowserContext, url: str) -> tuple[dict[str, Any], list[str]]:
    page = await context.new_page()
    languages: list[str] = []
    page.on(
        "request",
        lambda r: languages.append(r.headers.get("accept-language", "")) if "/api/" in r.url else None,
    )
    await page.route("**/{offline,proxy,crashed}/**", _fake_failures)
    await page.goto(url)
    said = await page.evaluate(CALLS)
    return said, languages


async def test_api_problems_read_in_the_pages_language(
    web: Server, context: BrowserContext, phone: BrowserContext
) -> None:
    said, languages = await _words(context, f"{web.url}/")
    assert set(languages) == {"zh-CN"}
    assert said["missing"] == "找不到请求的内容"
    assert said["empty_form"].startswith("请填写：")
    assert said["offline"] == "网络错误，请检查网络后重试"
    assert said["proxy"] == "服务器出错，请稍后重试"
    assert said["crashed"] == "服务器出错，请稍后重试（数据库暂时不可用）"
    page = context.pages[-1]
    await screenshot(page, "issue17-error-words-desktop")

    said, languages = await _words(phone, f"{web.url}/?lang=en")
    assert set(languages) == {"en"}
    assert said["missing"] == "No such resource."
    assert said["empty_form"].startswith("Please fill in: ")
    assert said["offline"].startswith("Network error") and said["proxy"].startswith("Server error")
    page = phone.pages[-1]
    await assert_fits_phone(page)
    await screenshot(page, "issue17-error-words-phone")

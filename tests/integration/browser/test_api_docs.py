"""The API documents (/schema/, Swagger UI) render with no internet: every file comes from the exchange."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from playwright.async_api import BrowserContext, Route, expect

from tests.support.browser import ARTIFACTS
from tests.support.server import Server

LOCAL = ("127.0.0.1", "localhost")


async def _offline(context: BrowserContext) -> list[str]:
    """Abort every request that leaves this machine, as on a network with no way out; return them."""
    refused: list[str] = []

    async def only_local(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL:
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_local)
    return refused


async def test_the_api_documents_render_offline(
    web: Server, context: BrowserContext, phone: BrowserContext
) -> None:
    for name, ctx in (("desktop", context), ("phone", phone)):
        refused = await _offline(ctx)
        page = await ctx.new_page()
        for address in ("/schema/", "/schema/swagger"):
            await page.goto(f"{web.url}{address}")
            # Swagger UI drew the operations from the inline document (it also says which OpenAPI version
            # it could not read when it cannot: then none of this appears)
            await expect(page.locator(".swagger-ui .info .title")).to_contain_text("公共资源交易平台")
            await expect(page.get_by_text("/api/v1/listings", exact=True).first).to_be_visible()
            await expect(page.locator(".opblock-tag-section")).not_to_have_count(0)
        # the screen as opened (the whole page is 8,000 to 23,000 px of operations)
        await page.screenshot(path=str(ARTIFACTS / f"issue17-api-docs-{name}.png"))
        assert refused == [], f"the API documents reach outside: {refused}"

    async with httpx.AsyncClient(base_url=web.url) as http:
        assets = (await http.get("/schema/")).text
        assert "cdn" not in assets.lower() and "/schema/assets/swagger-ui-bundle.js" in assets
        script = await http.get("/schema/assets/swagger-ui-bundle.js")
        assert script.status_code == 200 and script.headers["content-type"].count("charset") <= 1
        # only the files the page loads: nothing else of the package, no path outside it
        for other in ("index.html", "swagger-ui-bundle.js.map", "..%2F__init__.py"):
            missing = await http.get(f"/schema/assets/{other}")
            assert missing.status_code == 404, (other, missing.status_code)
        document = await http.get("/schema/openapi.json")
        assert document.status_code == 200 and "/api/v1/listings" in document.json()["paths"]

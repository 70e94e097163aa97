"""Signed bids from the hall in a real browser (issue 20, item 2; docs/bid-signatures.md).

On a listing that requires signatures the hall refuses to send an unsigned bid, makes an ECDSA
P-256 key with WebCrypto (private half non-extractable, kept in IndexedDB), registers it, and
signs the bid (with its nonce's SHA-256 and the context); after a reload the key is still
there. The key is registered for this listing only. After the close the published signature
verifies against the registered key.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path

import httpx
import pytest
from playwright.async_api import BrowserContext, expect

from auctions.bid_signatures import verify_bid_signature
from exchange.web.hall import pages
from tests.support.browser import log_in
from tests.support.hall import PASSWORD, seed_auction
from tests.support.server import Server

pytestmark = pytest.mark.databases("postgresql")

HALL_JS = Path(pages.__file__).parent / "static" / "hall.js"


async def test_the_hall_signs_bids_with_a_key_it_keeps(web: Server, context: BrowserContext) -> None:
    alice = f"sign_a_{secrets.token_hex(2)}"
    lid, heads = await seed_auction(web, [alice], bidding_seconds=8, bid_signatures="required")
    page = await context.new_page()
    await log_in(page, web.url, alice, PASSWORD)
    await page.goto(f"{web.url}/hall/{lid}")
    await expect(page.locator("[data-connection]")).to_have_attribute("data-state", "live")
    state = page.locator("[data-signing-state]")
    await expect(state).to_have_attribute("data-state", "none")

    # without a key the hall does not send the bid: the listing requires a signature
    dialog = page.locator("dialog[data-confirm]")
    await page.get_by_role("button", name=re.compile("^出价$")).click()
    await dialog.get_by_role("button", name="确认出价").click()
    await expect(page.locator("[data-bid-message]")).to_have_attribute("data-code", "key_needed")

    await page.get_by_role("button", name="在本机创建并登记签名密钥").click()
    await expect(state).to_have_attribute("data-state", "ready")
    async with httpx.AsyncClient(base_url=web.url, timeout=5) as http:
        keys = (await http.get("/api/v1/users/me/keys", headers=heads[alice])).json()
    # registered for this listing only (docs/bid-signatures.md: one key per listing)
    assert [(k["algorithm"], k["listing_id"], k["revoked_at"]) for k in keys] == [("ES256", lid, None)]
    kid = keys[0]["kid"]
    await expect(state).to_contain_text(kid)

    # the quantity the hall signs is the one the exchange writes: the class's places, zero digits
    # beyond them cut ("12.5000" -> "12.500"), as the exchange reads it (hall.js canonicalQuantity,
    # taken from the served source and run in the page)
    source = re.search(r"\n  (function canonicalQuantity\(text\) \{.*?\n  \})", HALL_JS.read_text(), re.S)
    assert source is not None
    written = await page.evaluate(
        f"""() => {{ const places = 3; {source.group(1)}
            return ["12.5000", "12.5", "12", "007.25", "0.000"].map(canonicalQuantity); }}"""
    )
    assert written == ["12.500", "12.500", "12.000", "7.250", "0.000"]

    # the key survives a reload (IndexedDB) and signs the bid
    await page.reload()
    await expect(state).to_have_attribute("data-state", "ready")
    await page.get_by_role("button", name=re.compile("^出价$")).click()
    await dialog.get_by_role("button", name="确认出价").click()
    await expect(page.locator("[data-bid-message]")).to_have_attribute("data-code", "accepted")

    async with httpx.AsyncClient(base_url=web.url, timeout=5) as http:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while (await http.get(f"/api/v1/auctions/{lid}")).json()["status"] == "open":
            assert loop.time() < deadline, "the auction never closed"
            await asyncio.sleep(0.2)
        bids = (await http.get(f"/api/v1/auctions/{lid}/bids")).json()
    assert len(bids) == 1 and bids[0]["signature"]["kid"] == kid
    block = bids[0]["signature"]
    assert block["public_key"] == keys[0]["public_key"]
    verify_bid_signature(
        algorithm=block["algorithm"],
        public_key=block["public_key"],
        signature={k: block[k] for k in ("kid", "algorithm", "value")},
        listing_id=lid,
        bidder_number=bids[0]["bid_number"],
        amount=bids[0]["amount"],
        quantity=bids[0]["quantity"],
        idempotency_key=bids[0]["idempotency_key"],
        last_seq=block["last_seq"],
        nonce_sha256=block["nonce_sha256"],
    )
    # the hall sends a nonce with every bid, and signs its SHA-256 (the exchange could not swap it)
    assert block["nonce_sha256"] is not None and block["key_revoked_at"] is None

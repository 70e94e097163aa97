"""The price cap in a 挂牌 and the draw nobody can steer, through HTTP, on PostgreSQL and SQLite.

Issue 15, items 2 and 5 (docs/rules.md sections 7.2, 7.6, 7.7):

- a quote at the cap stops money quotes but the listing runs its full term
  (Order 39 art. 17): acceptances of the cap price are taken until the
  listing's close, and the winner is named at the close;
- an acceptance carries the bidder's own sealed nonce; the number of
  acceptances stays hidden until the result;
- the draw mixes the committed seed with every candidate's nonce, and the
  published result alone recomputes it (``scripts/verify_draw.py``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import secrets
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from auctions.audit_replay import replay_listing
from auctions.models import AuctionEvent
from tests.support.api import Client, staff
from tests.support.auctions import auction_view, live_auction
from tests.support.flow import wait_status

pytestmark = pytest.mark.databases()

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify_draw.py"
_spec = importlib.util.spec_from_file_location("verify_draw", SCRIPT)
assert _spec is not None and _spec.loader is not None
verifier = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(verifier)
CAP = "1100000.00"


def nonce() -> str:
    return secrets.token_hex(16)


async def offer(client: Client, headers: dict[str, str], listing_id: int, amount: str, **fields: str) -> Any:
    return await client.post(
        f"/api/v1/auctions/{listing_id}/bids",
        json={"amount": amount, **fields},
        headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
    )


async def closes_at(client: Client, listing_id: int) -> datetime:
    listing = (await client.get(f"/api/v1/listings/{listing_id}")).json()
    return datetime.fromisoformat(listing["schedule"]["bidding_closes_at"])


async def wait_phase(client: Client, listing_id: int, phase: str, timeout: float = 5) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (view := await auction_view(client, listing_id))["phase"] != phase:
        assert loop.time() < deadline, f"phase stayed {view['phase']}"
        await asyncio.sleep(0.05)
    return view


def verify(result: dict[str, Any], *extra: str) -> subprocess.CompletedProcess[str]:
    """The published result through the stand-alone verifier, as anyone would run it."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), "-", *extra],
        input=json.dumps(result),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def test_a_cap_quote_keeps_the_listing_open_for_acceptances_until_its_close(client: Client) -> None:
    operator = await staff(client, "operator")
    listing, (alice, bob, carol) = await live_auction(
        client,
        3,
        closes_in=8,
        extension=2,
        method="listing",
        price_cap=CAP,
        cap_rule="lottery",
        lottery_window_seconds=1,
    )
    lid = listing["id"]
    close = await closes_at(client, lid)
    unsealed = await offer(client, alice, lid, CAP)
    assert unsealed.status_code == 422 and unsealed.json()["code"] == "nonce_required", unsealed.text
    alice_nonce, bob_nonce = nonce(), nonce()
    capped = await offer(client, alice, lid, CAP, nonce=alice_nonce)
    assert capped.status_code == 201, capped.text
    assert datetime.fromisoformat(capped.json()["ends_at"]) == close  # not the lottery window

    view = await wait_phase(client, lid, "lottery")
    assert datetime.fromisoformat(view["ends_at"]) == close and view["next_min_bid"] == CAP
    seen = view["last_seq"]
    money = await offer(client, bob, lid, "1090000.00", nonce=nonce())
    assert money.status_code == 422 and money.json()["code"] == "price_mismatch"  # money quotes stopped
    bare = await offer(client, bob, lid, CAP)
    assert bare.status_code == 422 and bare.json()["code"] == "nonce_required"
    accepted = await offer(client, bob, lid, CAP, nonce=bob_nonce)
    assert accepted.status_code == 201, accepted.text
    assert "seq" not in accepted.json()  # a receipt: it counts no acceptance before it

    # the acceptances stay hidden: no row, no count, no sequence number moves
    history = (await client.get(f"/api/v1/auctions/{lid}/bids")).json()
    assert [(b["amount"], b["phase"]) for b in history] == [(CAP, "quote")]
    after = await auction_view(client, lid)
    assert (after["last_seq"], after["bid_count"]) == (seen, view["bid_count"])

    # a suspension meanwhile is private too, and moves the close by the pause
    paused = await client.post(
        f"/api/v1/listings/{lid}/suspend", json={"reason": "系统维护"}, headers=operator
    )
    assert paused.status_code == 200, paused.text
    await asyncio.sleep(0.5)
    resumed = await client.post(f"/api/v1/listings/{lid}/resume", json={}, headers=operator)
    assert resumed.status_code == 200, resumed.text
    moved = await closes_at(client, lid)
    assert moved > close
    after = await auction_view(client, lid)
    assert (after["status"], after["last_seq"]) == ("open", seen)
    assert datetime.fromisoformat(after["ends_at"]) == moved

    await asyncio.sleep(1.2)  # the old lottery window (1 s after the cap) has long passed
    assert (await auction_view(client, lid))["status"] == "open"
    await wait_status(client, lid, "closed", timeout=20)

    result = (await client.get(f"/api/v1/results/{lid}")).json()
    draw = result["draw"]
    assert result["price"] == CAP
    assert draw["purpose"] == "lottery" and len(draw["candidates"]) == 2
    assert sorted(draw["nonces"]) == sorted([alice_nonce, bob_nonce])
    assert [w["bid_number"] for w in result["winners"]] == draw["order"][:1]
    async with client.app.state.sessions() as session:
        events = (await session.execute(select(AuctionEvent).where(AuctionEvent.listing_id == lid))).scalars()
        by_kind = {e.kind: e for e in events}
        report = await replay_listing(session, lid)
    assert by_kind["closed"].at == moved  # the winner is named at the listing's close
    assert not by_kind["opt_in"].public and not by_kind["suspended"].public
    assert report.matches, (report.stored, report.replayed)  # exchange audit replay redoes the draw
    checked = verify(result, "--commitment", listing["seed_commitment"])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (await offer(client, carol, lid, CAP, nonce=nonce())).status_code == 409


async def test_a_cap_quote_without_a_lottery_wins_at_the_listing_close(client: Client) -> None:
    listing, (alice, bob) = await live_auction(
        client, 2, closes_in=4, extension=2, method="listing", price_cap=CAP
    )
    lid = listing["id"]
    close = await closes_at(client, lid)
    assert (await offer(client, bob, lid, "1000000.00")).status_code == 201
    assert (await offer(client, alice, lid, CAP)).status_code == 201
    later = await offer(client, bob, lid, CAP)
    assert later.status_code == 409 and later.json()["code"] == "auction_not_open", later.text
    view = await auction_view(client, lid)
    assert (view["status"], view["phase"], view["next_min_bid"]) == ("open", "quote", None)
    await wait_status(client, lid, "closed", timeout=15)
    result = (await client.get(f"/api/v1/results/{lid}")).json()
    assert result["price"] == CAP and result["draw"] is None
    async with client.app.state.sessions() as session:
        closed = (
            await session.execute(
                select(AuctionEvent).where(AuctionEvent.listing_id == lid, AuctionEvent.kind == "closed")
            )
        ).scalar_one()
    assert closed.at == close  # named at the close, not at the capping quote; no timed phase


def refused(result: dict[str, Any], **inputs: Any) -> None:
    """The draw with one input changed: every key moves, and the verifier refuses the result."""
    draw = result["draw"]
    altered = {**result, "draw": {**draw, **inputs}}
    again = verifier.recompute(altered["draw"])
    assert again["entropy"] != draw["entropy"]
    assert not set(again["keys"]) & set(draw["keys"])
    checked = verify(altered)
    assert checked.returncode == 1, checked.stdout


async def draws(client: Client) -> list[dict[str, Any]]:
    """Every published result with a draw, from the public results API alone."""
    found: list[dict[str, Any]] = []
    page = 1
    while batch := (await client.get("/api/v1/results", params={"page": page, "page_size": 100})).json():
        found += [r for r in batch if r["draw"]]
        page += 1
    return found


async def test_every_published_draw_recomputes_and_no_single_input_is_ignored(client: Client) -> None:
    listing, heads = await live_auction(
        client, 3, closes_in=20, price_cap=CAP, cap_rule="lottery", lottery_window_seconds=2
    )
    lid = listing["id"]
    for headers in heads:
        assert (await offer(client, headers, lid, CAP, nonce=nonce())).status_code == 201
    emission, (a, b, c) = await live_auction(
        client,
        3,
        closes_in=3,
        asset_class="emission_right",
        method="uniform_price",
        start_price="100.00",
        increment="1.00",
        deposit="50.00",
    )
    # above 110: a's 6 t in full; 6.5 t (13 lots) left for 9 t at 110: b 8 lots, c 4, one lot drawn
    for headers, price, quantity in ((a, "120.00", "6.000"), (b, "110.00", "6.000"), (c, "110.00", "3.000")):
        placed = await offer(client, headers, emission["id"], price, quantity=quantity, nonce=nonce())
        assert placed.status_code == 201, placed.text
    await wait_status(client, emission["id"], "closed", timeout=15)
    await wait_status(client, lid, "closed", timeout=15)

    published = await draws(client)
    assert {lid, emission["id"]} <= {r["listing_id"] for r in published}
    assert {r["draw"]["purpose"] for r in published} >= {"lottery", "residual_lots"}
    for result in published:
        checked = verify(result)
        assert checked.returncode == 0, (result["listing_id"], checked.stdout, checked.stderr)
        draw = result["draw"]
        assert len(draw["nonces"]) == len(draw["candidates"]) >= 2

        # the exchange's input: another seed (its commitment no longer holds either)
        refused(result, seed_hex=secrets.token_hex(32))
        # each candidate's input: its nonce; and the candidate set: one bid number replaced
        for i in range(len(draw["candidates"])):
            nonces = list(draw["nonces"])
            nonces[i] = nonce()
            refused(result, nonces=nonces)
            candidates = list(draw["candidates"])
            candidates[i] = str(10000 + i)
            refused(result, candidates=candidates)

"""Bot bidders at a human pace, a clerk who approves hand-made applications, and a watcher per lot.

Everything goes through the public HTTP API, as a bidder's own software
would: the bots read ``GET /api/v1/auctions/{id}`` and bid what a person
looking at the bidding hall would.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from exchange.demo.api import Account, problem_code
from exchange.demo.plan import Lot, extension_seconds
from exchange.demo.seeding import Seeder

Say = Callable[[str], None]
FINAL = ("closed", "failed", "cancelled")
CENT = Decimal("0.01")


@dataclass
class Seat:
    """A bot qualified in one lot."""

    lot: Lot
    listing_id: int
    account: Account
    bid_number: str
    budget: Decimal


def yuan(amount: Decimal | str) -> str:
    return f"{Decimal(amount):,.2f}"


def clock(moment: str | None) -> str:
    return "-" if moment is None else datetime.fromisoformat(moment).astimezone().strftime("%H:%M:%S")


class Pace:
    """Pauses of a person reading the screen and typing, shrunk by ``scale``."""

    def __init__(self, scale: float, rng: random.Random) -> None:
        self.scale = scale
        self.rng = rng

    async def think(self, low: float = 4.0, high: float = 12.0) -> None:
        await asyncio.sleep(max(0.1, self.rng.uniform(low, high) * self.scale))

    async def glance(self) -> None:
        await asyncio.sleep(max(0.1, 1.0 * self.scale))


async def view_of(client: httpx.AsyncClient, listing_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/auctions/{listing_id}")
    return dict(response.json()) if response.status_code == 200 else {"status": "scheduled"}


async def _bid(seat: Seat, amount: Decimal, quantity: str | None = None) -> httpx.Response:
    # a bidder's own nonce with every bid: an acceptance of the cap needs one for the draw
    body: dict[str, str] = {"amount": str(amount.quantize(CENT)), "nonce": secrets.token_hex(16)}
    if quantity is not None:
        body["quantity"] = quantity
    return await seat.account.post(
        f"/api/v1/auctions/{seat.listing_id}/bids",
        json=body,
        headers={"Idempotency-Key": secrets.token_hex(12)},
    )


def _on_grid(start: Decimal, step: Decimal, upto: Decimal, rng: random.Random) -> Decimal:
    steps = int((upto - start) // step)
    return start + step * rng.randint(0, max(0, steps))


async def bot(seat: Seat, client: httpx.AsyncClient, pace: Pace, say: Say) -> None:
    """Bid in ``seat``'s auction until it ends."""
    while (view := await view_of(client, seat.listing_id))["status"] != "open":
        if view["status"] in FINAL:
            return
        await pace.glance()
    method = seat.lot.method
    try:
        if method in ("sealed_bid", "uniform_price"):
            await _sealed(seat, pace, say)
        elif method == "dutch":
            await _dutch(seat, client, pace, say)
        else:
            await _ascending(seat, client, pace, say)
    except httpx.HTTPError as exc:  # one bot giving up must not stop the demo
        say(f"  {seat.lot.key}: bidder {seat.bid_number} stops bidding: {exc!r}")


async def _ascending(seat: Seat, client: httpx.AsyncClient, pace: Pace, say: Say) -> None:
    """english and listing: raise by the minimum (now and then one step more) up to the budget;
    with a price cap, opt in to the draw when the cap is within the budget."""
    cap = seat.lot.body.get("price_cap")
    step = Decimal(seat.lot.body["increment"])
    opted = False
    while True:
        await pace.think()
        view = await view_of(client, seat.listing_id)
        if view["status"] in FINAL:
            return
        if view["status"] != "open" or view.get("leading_bid_number") == seat.bid_number:
            continue
        if view["phase"] == "lottery":
            if cap is not None and not opted and Decimal(cap) <= seat.budget:
                response = await _bid(seat, Decimal(cap))
                opted = response.status_code == 201
                if opted:
                    say(
                        f"  {seat.lot.key}: bidder {seat.bid_number} accepts the cap {yuan(cap)} for the draw"
                    )
            continue
        if view.get("next_min_bid") is None:
            continue
        if not _closing(view, seat.lot, pace.scale) and pace.rng.random() < 0.6:
            continue  # early on people hesitate; in the last minutes they bid, and extend the clock
        amount = Decimal(view["next_min_bid"])
        if pace.rng.random() < 0.25 and amount + step <= seat.budget:
            amount += step
        if amount > seat.budget:
            continue
        response = await _bid(seat, amount)
        if response.status_code == 201:
            say(f"  {seat.lot.key}: bidder {seat.bid_number} bids {yuan(amount)}")
        elif response.status_code == 409 and problem_code(response) == "auction_not_open":
            continue  # closed, or between phases: the next look says which


def _closing(view: dict[str, Any], lot: Lot, scale: float) -> bool:
    """Whether the countdown is inside its extension window (or close to it)."""
    if view.get("ends_at") is None:
        return True
    left = datetime.fromisoformat(view["ends_at"]) - datetime.fromisoformat(view["server_time"])
    return left.total_seconds() <= 2 * extension_seconds(lot, scale)


async def _sealed(seat: Seat, pace: Pace, say: Say) -> None:
    """sealed bid and uniform price: one quote somewhere below the budget, once."""
    await pace.think(2.0, 20.0)
    start = Decimal(seat.lot.body["start_price"])
    amount = _on_grid(start, Decimal(seat.lot.body["increment"]), seat.budget, pace.rng)
    quantity = None
    if seat.lot.method == "uniform_price":
        lots = pace.rng.randint(6, 12)  # 3 to 6 t of 12.5, under the 50% share limit
        quantity = str(Decimal(seat.lot.body["lot"]) * lots)
    response = await _bid(seat, amount, quantity)
    if response.status_code == 201:
        what = (
            "a sealed quote" if quantity is None else f"a sealed bid for {quantity} {seat.lot.body['unit']}"
        )
        say(f"  {seat.lot.key}: bidder {seat.bid_number} submits {what}")
    else:
        say(f"  {seat.lot.key}: bidder {seat.bid_number}'s quote was refused: {problem_code(response)}")


async def _dutch(seat: Seat, client: httpx.AsyncClient, pace: Pace, say: Say) -> None:
    """The clock comes down; accept as soon as it shows a price within the budget."""
    while True:
        await pace.think(1.0, 3.0)
        view = await view_of(client, seat.listing_id)
        if view["status"] != "open":
            if view["status"] in FINAL:
                return
            continue
        price = view.get("current_price")
        if price is None or Decimal(price) > seat.budget:
            continue
        response = await _bid(seat, Decimal(price))
        if response.status_code == 201:
            say(f"  {seat.lot.key}: bidder {seat.bid_number} accepts the clock at {yuan(price)}")
            return


async def watch(lot: Lot, listing_id: int, client: httpx.AsyncClient, pace: Pace, say: Say) -> dict[str, Any]:
    """Report ``lot`` opening, changing phase, extending and closing; returns its result."""
    status, phase, ends = "scheduled", None, None
    while True:
        await pace.glance()
        view = await view_of(client, listing_id)
        if view["status"] == "open" and status != "open":
            say(
                f"{lot.key} opened: {lot.method}, {lot.asset_class}, "
                f"listing {listing_id}, ends {clock(view.get('ends_at'))}"
            )
        elif view["status"] == "open" and view["phase"] != phase and phase is not None:
            say(f"{lot.key} phase {view['phase']}, ends {clock(view.get('ends_at'))}")
        elif (
            view["status"] == "open"
            and lot.method in ("english", "listing")
            and ends is not None
            and view.get("ends_at") is not None
            and datetime.fromisoformat(view["ends_at"]) > datetime.fromisoformat(ends)
            and clock(view["ends_at"]) != clock(ends)  # a whole second later, as the clock shows it
        ):
            say(f"{lot.key} extended to {clock(view['ends_at'])}")
        status, phase, ends = view["status"], view.get("phase"), view.get("ends_at")
        if status in FINAL:
            return await _report(lot, listing_id, client, pace, say)


async def _report(
    lot: Lot, listing_id: int, client: httpx.AsyncClient, pace: Pace, say: Say
) -> dict[str, Any]:
    for _ in range(30):
        response = await client.get(f"/api/v1/results/{listing_id}")
        if response.status_code == 200:
            result = dict(response.json())
            if result["outcome"] == "sold":
                winners = ", ".join(
                    f"{w['bid_number']} {w.get('name', '')} at {yuan(w['price'])}"
                    + (f" x {w['quantity']}" if w.get("quantity") else "")
                    for w in result["winners"]
                )
                say(f"{lot.key} closed: sold to {winners} ({result['bids']} bids)")
            else:
                say(f"{lot.key} failed: {result.get('reason') or 'no sale'} ({result['bids']} bids)")
            return result
        await pace.glance()
    say(f"{lot.key} ended but its result is not published yet")
    return {"listing_id": listing_id, "outcome": "unknown"}


async def clerk(seeder: Seeder, listing_ids: list[int], pace: Pace, say: Say) -> None:
    """Approve anyone who applies by hand to the demo's lots while registration is open.

    The deposit is the applicant's own to pay: under the sandbox profile the bidder's page (or
    ``POST /api/v1/sandbox/bank-transfers``) has the bank send it (``settlement.sandbox_bank``),
    so a newcomer sees it arrive as a bank's notice would and the application qualify then.
    Under post-qualification (资格后审) nothing needs approving: paying in full qualifies."""
    operator, client = seeder.operator, seeder.client
    done: set[int] = set()
    open_ids = list(listing_ids)
    while open_ids:
        await asyncio.sleep(max(0.5, 2.0 * pace.scale))
        for listing_id in list(open_ids):
            listing = (await client.get(f"/api/v1/listings/{listing_id}")).json()
            if listing.get("status") not in ("announced", "registration"):
                open_ids.remove(listing_id)
                continue
            if listing.get("qualification") == "post":
                continue
            response = await operator.get(f"/api/v1/listings/{listing_id}/applications")
            if response.status_code != 200:
                continue
            for application in response.json():
                if application["id"] in done or application["status"] != "pending":
                    continue
                done.add(application["id"])
                decided = await operator.post(
                    f"/api/v1/applications/{application['id']}/decision", json={"approve": True}
                )
                if decided.status_code != 200:
                    say(
                        f"clerk: the approval of application {application['id']} answered {decided.status_code}"
                    )
                    continue
                say(
                    f"clerk: approved {application.get('bidder_name') or 'a bidder'}'s application to "
                    f"listing {listing_id}; its deposit of {yuan(application['deposit_due'])} is the "
                    "bidder's to pay (模拟银行转账 on /me)"
                )


async def reviewer(seeder: Seeder, listing_ids: list[int], pace: Pace, say: Say) -> None:
    """Pass the winner's review of every post-qualification sale once it closes, as the
    exchange's staff would after checking the papers, so its result is published."""
    pending = list(listing_ids)
    while pending:
        await asyncio.sleep(max(0.5, 2.0 * pace.scale))
        for listing_id in list(pending):
            listing = (await seeder.client.get(f"/api/v1/listings/{listing_id}")).json()
            if listing.get("qualification") != "post" or listing.get("status") in ("failed", "cancelled"):
                pending.remove(listing_id)
                continue
            settlement = await seeder.operator.get(f"/api/v1/settlements/{listing_id}")
            if settlement.status_code != 200 or settlement.json().get("status") != "review":
                continue
            pending.remove(listing_id)
            passed = await seeder.operator.post(
                f"/api/v1/settlements/{listing_id}/review",
                json={"verdict": "passed", "reason": "演示：竞得人资格审查通过"},
            )
            if passed.status_code == 200:
                say(f"clerk: the winner of listing {listing_id} passed its qualification review (资格后审)")
            else:
                say(f"clerk: the review of listing {listing_id} answered {passed.status_code}")

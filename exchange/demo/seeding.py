"""Seeding an exchange through its public API, as its staff, its bidders and its bank would.

One walk for ``exchange demo`` (seven lots, bidders with readable names) and for
``bench/bids.py`` (hundreds of lots, thousands of qualifications): register a
bidder and log in; create a listing, publish it and wait for its registration to
open; qualify a bidder in it (apply, the bank's signed deposit notice,
approval). The caller picks the names, the listing bodies and how much runs at
once; the benchmark lives outside the package, so this module is its seeder too.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from exchange.demo.api import Account, ApiError, expect, problem_code
from exchange.identity.codes import CREDIT_ALPHABET, credit_check_character
from settlement.bank import sign

ListingBody = Callable[[float], dict[str, Any]]
"""The ``POST /api/v1/listings`` body of a lot whose registration opens so many seconds from now."""


class RegistrationOver(ApiError):
    """Qualifying bidders took longer than the listing's registration window."""


def credit_code(serial: int | None = None) -> str:
    """A valid unified social credit code (91: enterprise, Taiyuan 140100) with this serial, or a
    random one where earlier runs' bidders may share the database (one entity, one account)."""
    base = len(CREDIT_ALPHABET)
    if serial is None:
        serial = secrets.randbelow(base**9)
    first17 = "91140100" + "".join(CREDIT_ALPHABET[serial // base**i % base] for i in reversed(range(9)))
    return first17 + credit_check_character(first17)


async def register_bidder(
    client: httpx.AsyncClient, username: str, password: str, display_name: str, serial: int | None = None
) -> Account:
    """An enterprise bidder, registered and logged in."""
    body = {
        "username": username,
        "password": password,
        "display_name": display_name,
        "kind": "enterprise",
        "credit_code": credit_code(serial),
    }
    expect(await client.post("/api/v1/auth/register", json=body), 201, f"register {username}")
    account = Account(client, username, password)
    await account.login()
    return account


@dataclass(frozen=True)
class Published:
    """A listing open for registration."""

    listing_id: int
    body: dict[str, Any]
    """As last sent: its schedule may have moved (see ``Seeder.listing``)."""

    def at(self, moment: str) -> datetime:
        """A time of its schedule: ``registration_closes_at``, ``bidding_opens_at`` ..."""
        return datetime.fromisoformat(self.body["schedule"][moment])


class Seeder:
    """The operator and the bank: they publish listings and qualify the bidders who apply."""

    def __init__(
        self, client: httpx.AsyncClient, operator: Account, bank_secret: str, txn_prefix: str = "DEMO"
    ) -> None:
        self.client = client
        self.operator = operator
        self.bank_secret = bank_secret
        self.txn_prefix = txn_prefix
        """Of the bank's transaction ids, to tell whose notices they were."""

    async def _post(self, path: str, account: Account | None = None, **kwargs: Any) -> httpx.Response:
        try:
            return await (self.client.post if account is None else account.post)(path, **kwargs)
        except httpx.TransportError as exc:  # not retried: a POST may have been processed
            raise ApiError(f"POST {path}: {exc!r}") from exc

    async def _get(self, path: str, account: Account | None = None) -> httpx.Response:
        for attempt in range(3):
            try:
                return await (self.client.get if account is None else account.get)(path)
            except httpx.TransportError as exc:
                if attempt == 2:
                    raise ApiError(f"GET {path}: {exc!r}") from exc
                await asyncio.sleep(0.2)
        raise AssertionError("unreachable")

    async def listing(self, body: ListingBody, *, lead: float, patience: float) -> Published:
        """Create the listing ``body(lead)``, publish it and wait (``patience`` seconds at most)
        until its registration opens."""
        sent = body(lead)
        created = expect(
            await self._post("/api/v1/listings", self.operator, json=sent), 201, "create listing"
        )
        listing_id = int(created["id"])
        for _ in range(4):
            published = await self._post(f"/api/v1/listings/{listing_id}/publish", self.operator)
            if published.status_code != 422 or problem_code(published) != "schedule_order_invalid":
                break
            # publishing stamps announce_at with the server's time; a busy server can pass
            # registration_opens_at before it publishes: move the schedule and try again
            lead *= 2
            sent = {**sent, "schedule": body(lead)["schedule"]}
            expect(
                await self.operator.patch(
                    f"/api/v1/listings/{listing_id}", json={"schedule": sent["schedule"]}
                ),
                200,
                f"reschedule listing {listing_id}",
            )
        expect(published, 200, f"publish listing {listing_id}")
        await self.wait_status(listing_id, "registration", patience)
        return Published(listing_id, sent)

    async def wait_status(self, listing_id: int, status: str, patience: float) -> None:
        deadline = time.monotonic() + patience
        while True:
            listing = expect(
                await self._get(f"/api/v1/listings/{listing_id}"), 200, f"read listing {listing_id}"
            )
            if listing["status"] == status:
                return
            if time.monotonic() > deadline:
                raise ApiError(f"listing {listing_id} is {listing['status']}, never reached {status}")
            await asyncio.sleep(0.2)

    async def qualify_all(
        self, listing: Published, bidders: Sequence[Account], at_once: int | None = None
    ) -> list[str]:
        """Qualify ``bidders``, ``at_once`` at a time (default: all): their bid numbers, in order."""
        gate = asyncio.Semaphore(at_once or max(1, len(bidders)))

        async def one(bidder: Account) -> str:
            async with gate:
                return await self.qualify(listing.listing_id, bidder)

        try:
            return list(await asyncio.gather(*(one(bidder) for bidder in bidders)))
        except ApiError as exc:
            if datetime.now(UTC) >= listing.at("registration_closes_at"):
                raise RegistrationOver(
                    f"{exc} (seeding listing {listing.listing_id} outlasted its registration window)"
                ) from exc
            raise

    async def qualify(self, listing_id: int, bidder: Account) -> str:
        """Apply, have the bank pay the deposit, be approved (资格前审; under 资格后审 payment
        alone qualifies): the bid number."""
        applied = expect(
            await self._post(f"/api/v1/listings/{listing_id}/applications", bidder),
            201,
            f"apply to listing {listing_id}",
        )
        await self.pay(applied["deposit_account"], applied["deposit_due"])
        response = await self._post(
            f"/api/v1/applications/{applied['id']}/decision", self.operator, json={"approve": True}
        )
        if problem_code(response) == "post_qualification":
            decided: dict[str, Any] = {}  # nobody approves: paying qualified it
        else:
            decided = expect(response, 200, f"approve application {applied['id']}")
        if decided.get("status") != "qualified":  # the approval's answer usually says so already
            decided = expect(
                await self._get(f"/api/v1/applications/{applied['id']}", bidder),
                200,
                f"read application {applied['id']}",
            )
        if decided.get("status") != "qualified":
            raise ApiError(f"application {applied['id']} is {decided.get('status')}, not qualified")
        return str(decided["bid_number"])

    async def pay(self, account: str, amount: str, outcome: str = "deposit") -> None:
        """The bank's notice of money paid to ``account``, signed as the bank signs it: a deposit to an
        application's account, or (``outcome="payment"``) a winner's payment to its line's account."""
        raw = json.dumps(
            {
                "txn_id": f"{self.txn_prefix}{secrets.token_hex(8)}",
                "account": account,
                "amount": amount,
                "paid_at": datetime.now(UTC).isoformat(),
            }
        ).encode()
        response = await self._post(
            "/api/v1/bank/notifications",
            content=raw,
            headers={"X-Signature": sign(self.bank_secret, raw), "Content-Type": "application/json"},
        )
        booked = expect(response, 200, f"bank notice for {account}").get("outcome")
        if booked != outcome:
            raise ApiError(f"the {amount} paid to {account} was booked as {booked!r}, not as a {outcome}")

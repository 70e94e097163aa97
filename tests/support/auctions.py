"""Driving live auctions through the public API."""

from __future__ import annotations

import secrets
from typing import Any

from tests.support.api import Client, staff
from tests.support.flow import open_registration, qualified_bidder, start_bidding, wait_status


async def auction_view(client: Client, listing_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/auctions/{listing_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def bid(
    client: Client,
    headers: dict[str, str],
    listing_id: int,
    amount: str,
    key: str | None = None,
    nonce: str | None = None,
) -> Any:
    """``nonce``: the bidder's own, which an acceptance of the cap price in a lottery needs."""
    body = {"amount": amount} if nonce is None else {"amount": amount, "nonce": nonce}
    return await client.post(
        f"/api/v1/auctions/{listing_id}/bids",
        json=body,
        headers={**headers, "Idempotency-Key": key or secrets.token_hex(8)},
    )


async def live_auction(
    client: Client, bidders: int, *, closes_in: float = 6, extension: int = 3, **body: Any
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    operator = await staff(client, "operator")
    listing = await open_registration(
        client, operator, closes=600, bidding=601, bidding_closes=601 + closes_in, extension=extension, **body
    )
    heads = [(await qualified_bidder(client, operator, listing))[0] for _ in range(bidders)]
    await start_bidding(client, operator, listing["id"], closes_in=closes_in, extension=extension)
    await wait_status(client, listing["id"], "bidding", timeout=30)
    return listing, heads

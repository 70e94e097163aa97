"""The live feed: ``WS /api/v1/auctions/{listing_id}/feed?after_seq=N[&batch=true]``.

Every public event after ``N`` is sent first (from the lot's log in this
process, or from the database for what is older), then live events follow, in
``seq`` order, each once (``auctions.fanout``: one subscription per lot and
process, shared by its sockets). The database is the truth; channels only wake
the lot up.

Besides the contract's ``bid``, ``extended``, ``phase``, ``closed`` and
``failed``, the feed carries the dutch clock's ``price`` and an operator's
``suspended`` (中止), ``resumed`` (恢复, with the new ``ends_at``) and
``cancelled`` (终止, with the ``reason``; the auction is over). It never
carries a private event: a sealed auction's before its close, nor a cap
lottery's acceptances (``opt_in``) or the operator's events during its
acceptance period, whose ``seq`` would count the takers (``auctions.timing``).

Who gets what (docs/architecture.md, "Events and the live feed"): a qualified
bidder of the lot (by bearer token or session cookie) gets every event as it
happens; everyone else (anonymous, staff, another lot's bidders) gets the
events since their last frame at most every ``PUBLIC_FRAME_SECONDS`` (250 ms):
one message per event as the contract says, or, with ``batch=true``, one
``{"kind": "batch", "events": [...]}`` frame (which also packs the replay; a
bidder's batch frames come at most every ``BIDDER_FRAME_SECONDS``, 50 ms).
Credentials that do not hold (expired, revoked) make a socket public rather
than refused: a bidder's socket differs from the public's in pace, never in
what it carries.

Heartbeats (every 10 s) carry ``server_time`` and ``last_seq``. A client that
cannot take events as fast as they come is closed with 1013 rather than
buffered without bound; it reconnects with its last ``seq``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.params import QueryParameter

from auctions.fanout import NoAuction, SlowConsumer, hub_of, slow_consumer_dropped
from exchange.deps import MAX_ID, ListingId
from exchange.errors import ExchangeError
from exchange.identity.guards import principal_of
from listings.applications import application_of

log = logging.getLogger("auctions.feed")

CLOSE_SECONDS = 5.0
"""How long a close frame may wait for a slow consumer's full buffer."""


async def _qualified_bidder(socket: WebSocket[Any, Any, Any], listing_id: int) -> bool:
    try:
        principal = principal_of(socket)
    except ExchangeError:  # a bad token or cookie: a public watcher, see the module's docstring
        return False
    if principal is None or principal.role != "bidder":
        return False
    async with socket.app.state.sessions() as session:
        application = await application_of(session, listing_id, principal.user_id)
    return application is not None and application.status == "qualified" and bool(application.bid_number)


async def _close(socket: WebSocket[Any, Any, Any], code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_SECONDS):
            await socket.close(code=code, reason=reason)


@websocket("/api/v1/auctions/{listing_id:int}/feed", name="auction_feed")
async def auction_feed(
    socket: WebSocket[Any, Any, Any],
    listing_id: ListingId,
    after_seq: Annotated[int, QueryParameter(ge=0, le=MAX_ID)] = 0,
    batch: Annotated[
        bool,
        QueryParameter(
            description=(
                'Events as {"kind": "batch", "events": [...]} frames (one or more events each, in seq '
                "order) instead of one message per event; heartbeats are unchanged."
            )
        ),
    ] = False,
) -> None:
    await socket.accept()
    hub = hub_of(socket.app.state)
    bidder = await _qualified_bidder(socket, listing_id)
    try:
        watcher = await hub.join(listing_id, socket, after_seq, bidder=bidder, batch=batch)
    except NoAuction:
        await _close(socket, 4404, "no auction for this listing")
        return
    except Exception:  # the database or Redis away: the client comes back with its after_seq
        log.warning("could not open the feed of auction %s", listing_id, exc_info=True)
        await _close(socket, 1011, "the feed is unavailable; reconnect with after_seq")
        return
    try:
        await watcher.serve()
    except SlowConsumer:
        slow_consumer_dropped(listing_id, watcher)
        await _close(socket, 1013, "too slow; reconnect with after_seq")
        return
    except WebSocketDisconnect:
        return
    finally:
        hub.leave(watcher)
    if watcher.lost:
        await _close(socket, 1011, "the feed stopped; reconnect with after_seq")

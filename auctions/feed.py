"""The live feed: ``WS /api/v1/auctions/{listing_id}/feed?after_seq=N``.

Subscribe to the auction's channel first, then replay every public event
after ``N`` from the database, then forward live events. The sequence
number makes it exact: a live event at or below what was already sent is a
duplicate and skipped; one that jumps ahead means something was missed
(Redis dropped it, the backlog overflowed) and the gap is filled from the
database before it is sent. The database is the truth; channels only wake
us up.

Besides the contract's ``bid``, ``extended``, ``phase``, ``closed`` and
``failed``, the feed carries the dutch clock's ``price`` and an operator's
``suspended`` (中止), ``resumed`` (恢复, with the new ``ends_at``) and
``cancelled`` (终止, with the ``reason``; the auction is over). It never
carries a private event: a sealed auction's before its close, nor a cap
lottery's acceptances (``opt_in``) or the operator's events during its
acceptance period, whose ``seq`` would count the takers (``auctions.timing``).

While the subscription settles (its first seconds) the feed also reads the database again, so an
event published before Redis took the subscription is not lost. Heartbeats carry ``server_time``. A client that cannot take events as fast
as they come is disconnected (close code 1013) rather than buffered
without bound; it reconnects with its last ``seq``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import WebSocket, websocket
from litestar.channels import ChannelsPlugin
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.params import QueryParameter
from sqlalchemy import select

from auctions.models import Auction, AuctionEvent
from auctions.service import public_event
from exchange.clock import utcnow
from exchange.deps import MAX_ID, ListingId
from exchange.realtime import auction_channel

log = logging.getLogger("auctions.feed")

HEARTBEAT_SECONDS = 10.0
SETTLING_CATCH_UPS = (0.2, 1.0, 3.0)
"""Seconds after subscribing at which the feed reads the database again (see ``_heartbeat``)."""
SEND_TIMEOUT_SECONDS = 5.0
REPLAY_BATCH = 500


class SlowConsumer(Exception):
    """The client did not take an event within SEND_TIMEOUT_SECONDS."""


async def _events_after(
    state: State, listing_id: int, after: int, upto: int | None = None
) -> list[dict[str, Any]]:
    async with state.sessions() as session:
        query = select(AuctionEvent).where(
            AuctionEvent.listing_id == listing_id, AuctionEvent.seq > after, AuctionEvent.public.is_(True)
        )
        if upto is not None:
            query = query.where(AuctionEvent.seq < upto)
        rows = (await session.execute(query.order_by(AuctionEvent.seq).limit(REPLAY_BATCH))).scalars()
        now = utcnow()
        return [public_event(row, now) for row in rows]


async def _last_seq(state: State, listing_id: int) -> int | None:
    async with state.sessions() as session:
        auction = await session.get(Auction, listing_id)
        return None if auction is None else auction.last_seq


class _Cursor:
    """What this socket has sent so far; every send goes through it."""

    def __init__(self, socket: WebSocket[Any, Any, Any], sent: int) -> None:
        self.socket = socket
        self.sent = sent
        self.order = asyncio.Lock()
        """Held while events are sent in ``seq`` order, so two senders never send one twice."""

    async def send(self, event: dict[str, Any]) -> None:
        await self.send_text(msgspec.json.encode(event).decode(), int(event.get("seq", 0)))

    async def send_text(self, text: str, seq: int) -> None:
        # asyncio.timeout, not wait_for: wait_for wraps every send in a new task, and one bid
        # is sent to every watcher of the lot.
        try:
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                await self.socket.send_text(text)
        except TimeoutError as exc:
            raise SlowConsumer from exc
        self.sent = max(self.sent, seq)

    async def catch_up(self, state: State, listing_id: int, upto: int | None = None) -> None:
        """Send every stored public event after what was sent (and before ``upto``)."""
        while True:
            batch = await _events_after(state, listing_id, self.sent, upto)
            for event in batch:
                await self.send(event)
            if len(batch) < REPLAY_BATCH:
                return


async def _heartbeat(cursor: _Cursor, state: State, listing_id: int) -> None:
    # The subscription may take effect at Redis a moment after start_subscription returns (a
    # SUBSCRIBE is not acknowledged before it does): an event published in that moment reaches no
    # one here, and if it was the last one (a suspension, a close) no later event reveals the gap.
    # So the database is read again a few times while the subscription settles.
    for delay in SETTLING_CATCH_UPS:
        await asyncio.sleep(delay)
        async with cursor.order:
            await cursor.catch_up(state, listing_id)
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        await cursor.send({"kind": "heartbeat", "server_time": utcnow().isoformat(), "last_seq": cursor.sent})


@websocket("/api/v1/auctions/{listing_id:int}/feed", name="auction_feed")
async def auction_feed(
    socket: WebSocket[Any, Any, Any],
    listing_id: ListingId,
    channels: NamedDependency[ChannelsPlugin],
    after_seq: Annotated[int, QueryParameter(ge=0, le=MAX_ID)] = 0,
) -> None:
    state = socket.app.state
    await socket.accept()
    last = await _last_seq(state, listing_id)
    if last is None:
        await socket.close(code=4404, reason="no auction for this listing")
        return
    cursor = _Cursor(socket, max(0, after_seq))
    try:
        async with channels.start_subscription([auction_channel(listing_id)]) as subscriber:
            await cursor.catch_up(state, listing_id)
            tasks = {
                asyncio.create_task(_forward(cursor, state, listing_id, subscriber.iter_events())),
                asyncio.create_task(_heartbeat(cursor, state, listing_id)),
                asyncio.create_task(_drain_client(socket)),
            }
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
    except SlowConsumer:
        log.info("dropping a slow feed consumer of auction %s at seq %s", listing_id, cursor.sent)
        with contextlib.suppress(Exception):
            await socket.close(code=1013, reason="too slow; reconnect with after_seq")
    except WebSocketDisconnect:
        return


class _Head(msgspec.Struct):
    seq: int = 0


_read_head = msgspec.json.Decoder(_Head).decode
"""Reads only the ``seq`` of a published event: the event is forwarded as published, not re-encoded."""


async def _forward(cursor: _Cursor, state: State, listing_id: int, events: AsyncIterator[bytes]) -> None:
    async for raw in events:
        seq = _read_head(raw).seq
        async with cursor.order:
            if seq <= cursor.sent:
                continue  # already replayed from the database
            if seq > cursor.sent + 1:
                await cursor.catch_up(state, listing_id, upto=seq)
            await cursor.send_text(raw.decode(), seq)


async def _drain_client(socket: WebSocket[Any, Any, Any]) -> None:
    """Read (and ignore) what the client sends, so a disconnect is noticed."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await socket.receive_data(mode="text")

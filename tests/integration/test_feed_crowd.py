"""The feed under a crowd: one subscription per lot and process, bidders at once, the public in
frames at a bounded rate, and a consumer that cannot keep up closed with 1013, resuming by seq.

The app is served by uvicorn in the test's own event loop, so the test can look at the
process's feed (its hub, its metrics) and at a socket's buffers.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, cast

import httpx
import pytest
import uvicorn
import websockets
from litestar import Litestar

from auctions import fanout, feed
from exchange.app import create_app
from exchange.metrics import REGISTRY
from exchange.settings import Settings
from tests.support.api import Client
from tests.support.auctions import auction_view, bid, live_auction
from tests.support.server import free_port

pytestmark = pytest.mark.databases()


class AppClient(httpx.AsyncClient):
    """An HTTP client of the served app that also carries the app, as the test helpers expect."""

    def __init__(self, app: Litestar, base_url: str) -> None:
        super().__init__(base_url=base_url, timeout=30)
        self.app = app


@pytest.fixture
async def app(db: str, settings: Settings) -> Litestar:
    """The app of the suite, with no per-bidder bid rate to speak of: the tests bid in a loop."""
    return create_app(replace(settings, bid_rate_per_second=10_000))


@pytest.fixture
async def served(app: Litestar) -> AsyncIterator[tuple[Client, uvicorn.Server]]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:
            await asyncio.sleep(0.05)
    try:
        async with AppClient(app, f"http://127.0.0.1:{port}") as http:
            yield cast(Client, http), server  # what the helpers use of a test client, it has
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def _ws_url(http: Client, listing_id: int, query: str = "") -> str:
    return (
        str(http.base_url).replace("http://", "ws://").rstrip("/")
        + f"/api/v1/auctions/{listing_id}/feed{query}"
    )


def _watchers(audience: str) -> float:
    return REGISTRY.get_sample_value("exchange_feed_watchers", {"audience": audience}) or 0.0


def _slow_consumers() -> float:
    return REGISTRY.get_sample_value("exchange_feed_slow_consumers_total") or 0.0


async def _until(check: Any, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


async def _bids(
    http: Client, heads: list[dict[str, str]], listing_id: int, count: int, start: int = 0
) -> int:
    """``count`` bids at the minimum, the bidders taking turns from ``start``; the last seq."""
    for i in range(start, start + count):
        view = await auction_view(http, listing_id)
        response = await bid(http, heads[i % len(heads)], listing_id, view["next_min_bid"])
        assert response.status_code == 201, response.text
    return int((await auction_view(http, listing_id))["last_seq"])


class Frames:
    """What one socket received: every frame, and the events in them in order."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def take(self, raw: str | bytes) -> None:
        frame = json.loads(raw)
        if frame["kind"] == "heartbeat":
            return
        self.frames.append(frame)
        self.events.extend(frame["events"] if frame["kind"] == "batch" else [frame])

    @property
    def seqs(self) -> list[int]:
        return [event["seq"] for event in self.events]


async def _collect(ws: Any, into: Frames) -> None:
    async for raw in ws:
        into.take(raw)


async def test_bidders_at_once_and_the_public_in_frames_over_one_subscription(
    served: tuple[Client, uvicorn.Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a coarse public rate, so that bids placed one after another share frames however loaded the machine
    monkeypatch.setattr(fanout, "PUBLIC_FRAME_SECONDS", 1.0)
    http, _ = served
    listing, heads = await live_auction(http, 3, closes_in=120)
    lid = listing["id"]
    after = int((await auction_view(http, lid))["last_seq"])
    before = {audience: _watchers(audience) for audience in ("bidder", "public")}
    names = ("bidder", "bidder_batch", "public", "public_batch", "outsider")
    received = {name: Frames() for name in names}
    outsider = (await live_auction(http, 1, closes_in=120))[1][0]  # qualified for another lot only
    async with (
        websockets.connect(_ws_url(http, lid, f"?after_seq={after}"), additional_headers=heads[0]) as own,
        websockets.connect(
            _ws_url(http, lid, f"?after_seq={after}&batch=true"), additional_headers=heads[1]
        ) as own_batched,
        websockets.connect(_ws_url(http, lid, f"?after_seq={after}")) as public,
        websockets.connect(_ws_url(http, lid, f"?after_seq={after}&batch=true")) as batched,
        websockets.connect(_ws_url(http, lid, f"?after_seq={after}"), additional_headers=outsider) as other,
    ):
        sockets = {
            "bidder": own,
            "bidder_batch": own_batched,
            "public": public,
            "public_batch": batched,
            "outsider": other,
        }
        readers = [asyncio.create_task(_collect(ws, received[name])) for name, ws in sockets.items()]
        await _until(lambda: _watchers("bidder") - before["bidder"] == 2)
        await _until(lambda: _watchers("public") - before["public"] == 3)
        hub = fanout.hub_of(http.app.state)
        assert lid in hub.lots
        lot = hub.lots[lid]
        groups = (lot.bidders.watchers, lot.paced_bidders.watchers, lot.public.watchers)
        assert [len(group) for group in groups] == [1, 1, 3]
        channels = http.app.state.channels
        assert len(channels._channels[f"auction:{lid}"]) == 1  # one subscription for five sockets

        last = await _bids(http, heads, lid, 8)
        expected = list(range(after + 1, last + 1))  # an english auction's events are all public
        await _until(lambda: all(frames.seqs[-1:] == [last] for frames in received.values()), timeout=20)
        for task in readers:
            task.cancel()

    for name, frames in received.items():
        assert frames.seqs == expected, name  # every event once, in order, whoever watches
    assert all(frame["kind"] != "batch" for frame in received["public"].frames)  # the contract's messages
    assert all(frame["kind"] != "batch" for frame in received["bidder"].frames)
    batches = received["public_batch"].frames
    assert all(frame["kind"] == "batch" for frame in batches)
    assert len(batches) < len(expected)  # events since the last frame come together
    assert all(frame["kind"] == "batch" for frame in received["bidder_batch"].frames)
    bid_event = next(e for e in received["public_batch"].events if e["kind"] == "bid")
    assert set(bid_event) >= {"seq", "kind", "amount", "bidder", "at", "server_time"}
    await _until(lambda: _watchers("public") == before["public"] and _watchers("bidder") == before["bidder"])


async def test_a_consumer_that_cannot_keep_up_is_closed_with_1013_and_resumes_by_seq(
    served: tuple[Client, uvicorn.Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fanout, "QUEUE_LIMIT", 5)
    monkeypatch.setattr(fanout, "HOUSEKEEPING_SECONDS", 0.2)
    http, server = served
    listing, heads = await live_auction(http, 2, closes_in=120)
    lid = listing["id"]
    first = await _bids(http, heads, lid, 2)  # the second bidder leads

    reader, writer = await _slow_line(server, lid)  # a client on a slow line

    dropped = _slow_consumers()
    turn = 0  # the first bidder again
    while _slow_consumers() == dropped:
        assert turn < 300, "the slow consumer was never dropped"
        view = await auction_view(http, lid)
        response = await bid(http, heads[turn % 2], lid, view["next_min_bid"])
        assert response.status_code == 201, response.text
        turn += 1
    frames = Frames()
    async with asyncio.timeout(feed.CLOSE_SECONDS + 10):
        code = await _read_frames(reader, frames)
    writer.close()
    assert code == 1013
    assert frames.seqs == list(range(1, len(frames.seqs) + 1))  # in order, no gap, up to where it fell behind

    last = await _bids(http, heads, lid, 2, start=turn)
    assert last > first
    resumed = Frames()
    resume_from = frames.seqs[-1] if frames.seqs else 0
    async with websockets.connect(_ws_url(http, lid, f"?after_seq={resume_from}")) as ws:
        async with asyncio.timeout(20):
            while resumed.seqs[-1:] != [last]:
                resumed.take(await ws.recv())
    assert frames.seqs + resumed.seqs == list(range(1, last + 1))


async def test_a_consumer_the_log_was_trimmed_past_is_closed_with_1013_not_sent_on_with_a_gap(
    served: tuple[Client, uvicorn.Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket whose send waited while the lot's log moved past its position must not carry on
    from the log's first event: what was trimmed would be skipped. It is closed, and resumes."""
    monkeypatch.setattr(fanout, "LOG_KEEP", 4)  # trimmed to 4 events once it holds 8
    monkeypatch.setattr(fanout, "QUEUE_LIMIT", 100_000)  # never dropped for its queue's length
    monkeypatch.setattr(fanout, "SEND_TIMEOUT_SECONDS", 120.0)  # nor for a send that waits
    http, server = served
    listing, heads = await live_auction(http, 2, closes_in=120)
    lid = listing["id"]
    reader, writer = await _slow_line(server, lid)
    lot = fanout.hub_of(http.app.state).lots[lid]
    # the lot subscribed and the socket replayed what came before it (a loaded machine takes a while)
    await _until(lambda: lot.ready.done() and any(w.covered >= lot.floor > 0 for w in lot.watchers()))
    joined_at = lot.floor

    def passed_by() -> bool:
        """The log was trimmed past the socket (or the socket is gone: it noticed and was closed)."""
        return lot.floor > joined_at and all(w.covered < lot.floor for w in lot.watchers())

    turn = 0
    while not passed_by():
        assert turn < 300, "the log never moved past the socket"
        view = await auction_view(http, lid)
        response = await bid(http, heads[turn % 2], lid, view["next_min_bid"])
        assert response.status_code == 201, response.text
        turn += 1
    last = int((await auction_view(http, lid))["last_seq"])
    frames = Frames()
    async with asyncio.timeout(feed.CLOSE_SECONDS + 20):
        code = await _read_frames(reader, frames, upto=last)
    writer.close()
    assert frames.seqs == list(range(1, len(frames.seqs) + 1))  # no gap in what it was sent
    assert code == 1013

    last = int((await auction_view(http, lid))["last_seq"])
    resumed = Frames()
    async with websockets.connect(_ws_url(http, lid, f"?after_seq={frames.seqs[-1]}")) as ws:
        async with asyncio.timeout(20):
            while resumed.seqs[-1:] != [last]:
                resumed.take(await ws.recv())
    assert frames.seqs + resumed.seqs == list(range(1, last + 1))


async def _slow_line(server: uvicorn.Server, lid: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A feed socket on a slow line: small buffers on both ends, and nothing read after the handshake."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    raw.connect(("127.0.0.1", server.config.port))
    reader, writer = await asyncio.open_connection(sock=raw, limit=1024)
    writer.write(
        f"GET /api/v1/auctions/{lid}/feed HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    local = raw.getsockname()
    await _until(lambda: any(_peer(c) == local for c in server.server_state.connections))
    line = next(c for c in server.server_state.connections if _peer(c) == local)
    line.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    line.transport.set_write_buffer_limits(high=1024)
    return reader, writer


async def _read_frames(reader: asyncio.StreamReader, into: Frames, upto: int | None = None) -> int | None:
    """Read the server's frames (unmasked, unfragmented, uncompressed) up to its close, its code,
    or up to the event ``upto`` (None)."""
    while into.seqs[-1:] != [upto]:
        first, second = await reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await reader.readexactly(8), "big")
        payload = await reader.readexactly(length)
        opcode = first & 0x0F
        if opcode == 0x8:
            return int.from_bytes(payload[:2], "big")
        if opcode == 0x1:
            into.take(payload)
    return None


def _peer(connection: Any) -> Any:
    transport = getattr(connection, "transport", None)
    return None if transport is None else transport.get_extra_info("peername")

"""The live feed's fan-out: per process, one subscription per lot shared by all its sockets.

A ``LotFeed`` holds the lot's channel subscription and a log of its recent public
events, each read once for its ``seq`` and ``at`` and kept as the text it was
published as (never decoded or re-encoded per socket). The log is exact by
``seq``: an event at or below what the log already covers is a duplicate and
skipped; one that jumps ahead is preceded by what the database holds in between
(Redis dropped it, or the subscription was not yet in place). The database is
the truth; the channel only wakes the lot up, and the lot also reads the
database while its subscription settles and at every heartbeat, so a last
event lost on the way (a close) is still delivered.

Each socket is a ``Watcher``: the position it has covered. Nothing is copied
per socket: its queue is the part of the lot's log after its position, bounded
by ``QUEUE_LIMIT`` events; a socket that falls further behind, or whose send
does not complete in ``SEND_TIMEOUT_SECONDS``, is closed with 1013 and resumes
with ``after_seq`` (``auctions.feed``). A qualified bidder of the lot is sent
every event as it is taken, or, when it asked for batch frames
(``?batch=true``), at most one frame every ``BIDDER_FRAME_SECONDS``; everyone
else (the public) at most one every ``PUBLIC_FRAME_SECONDS``, with every event
since their last: one after another as the contract's messages, or as one
``batch`` frame. In both cases the first event after a quiet spell goes at once.
A batch's text is built once per span and shared by every socket at the same
position.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import time
from bisect import bisect_right
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import msgspec
from litestar import WebSocket
from litestar.channels import ChannelsPlugin
from litestar.datastructures import State
from litestar.exceptions import WebSocketDisconnect
from sqlalchemy import select

from auctions.models import Auction, AuctionEvent
from auctions.service import public_event
from exchange.clock import utcnow
from exchange.metrics import FANOUT_LAG, SLOW_CONSUMERS, WATCHERS
from exchange.realtime import auction_channel

log = logging.getLogger("auctions.feed")

HEARTBEAT_SECONDS = 10.0
SETTLING_CATCH_UPS = (0.2, 1.0, 3.0)
"""Seconds after a lot subscribes at which it reads the database again (see ``LotFeed._run``)."""
PUBLIC_FRAME_SECONDS = 0.25
"""The public gets at most one frame (or one run of messages) per lot this often."""
BIDDER_FRAME_SECONDS = 0.05
"""A qualified bidder who asked for batch frames gets at most one this often: the first event after
a quiet spell at once, the rest of a burst at most this much later, in a fraction of the frames."""
QUEUE_LIMIT = 500
"""Events a socket may be behind the lot's log before it is closed with 1013."""
SEND_TIMEOUT_SECONDS = 5.0
LOG_KEEP = 1024
"""Events the lot's log keeps at least (it is trimmed to this once twice as long)."""
LINGER_SECONDS = 5.0
"""A lot without sockets keeps its subscription this long: reconnecting sockets find it."""
REPLAY_BATCH = 500
HOUSEKEEPING_SECONDS = 1.0
LAG_SAMPLE = 8
"""One frame in this many is timed for ``exchange_feed_lag_seconds``: a histogram's lock and buckets
cost about as much as a frame's own Python work, at tens of thousands of frames a second."""
_lag_samples = itertools.count()


class SlowConsumer(Exception):
    """The socket fell more than QUEUE_LIMIT events behind, or a send took too long."""


class NoAuction(Exception):
    """The listing has no auction (yet)."""


class _Head(msgspec.Struct):
    seq: int = 0
    at: datetime | None = None


_read_head = msgspec.json.Decoder(_Head).decode
"""Reads only the ``seq`` and ``at`` of a published event: the rest is forwarded as published."""


def _message(text: str) -> dict[str, Any]:
    """The ASGI message of a text frame; one per text, shared by every socket that sends it."""
    return {"type": "websocket.send", "text": text}


async def stored_events(
    state: State, listing_id: int, after: int, upto: int | None = None
) -> list[AuctionEvent]:
    """The stored public events after ``after`` (and before ``upto``), at most REPLAY_BATCH."""
    async with state.sessions() as session:
        query = select(AuctionEvent).where(
            AuctionEvent.listing_id == listing_id, AuctionEvent.seq > after, AuctionEvent.public.is_(True)
        )
        if upto is not None:
            query = query.where(AuctionEvent.seq < upto)
        rows = (await session.execute(query.order_by(AuctionEvent.seq).limit(REPLAY_BATCH))).scalars()
        return list(rows)


async def _last_seq(state: State, listing_id: int) -> int | None:
    async with state.sessions() as session:
        last: int | None = await session.scalar(
            select(Auction.last_seq).where(Auction.listing_id == listing_id)
        )
        return last


def _encoded(row: AuctionEvent, now: datetime) -> str:
    return msgspec.json.encode(public_event(row, now)).decode()


class Watcher:
    """One socket of a lot: how far it has got, and the send under way if one has to wait.

    A WebSocket send completes without suspending unless the connection's buffer is full, so
    the lot sends to its sockets from its own step (``flush``) instead of waking a task per
    socket and event; only a send that has to wait (and the first replay from the database)
    goes on in a task of its own, which then sends whatever became due meanwhile.
    """

    __slots__ = (
        "audience",
        "batch",
        "bidder",
        "covered",
        "due",
        "ended",
        "heartbeat_due",
        "last_sent",
        "lost",
        "lot",
        "sending_since",
        "slow",
        "socket",
        "task",
    )

    def __init__(self, lot: LotFeed, socket: WebSocket[Any, Any, Any], after: int, bidder: bool, batch: bool):
        self.lot = lot
        self.socket = socket
        self.covered = after
        """Every public event up to this ``seq`` has been sent (or was asked not to be)."""
        self.last_sent = after
        self.bidder = bidder
        self.batch = batch
        self.audience = "bidder" if bidder else "public"
        self.due = False
        """Something became due while a send waited: the waiting task sends it too."""
        self.heartbeat_due = False
        self.sending_since = 0.0
        self.slow = False
        self.lost = False
        """The lot's feed stopped (an error): the client should come back."""
        self.task: asyncio.Task[None] | None = None
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Resolved when nothing more can be sent (the client left, it was too slow, the lot stopped)."""

    def flush(self) -> None:
        """Send what is due now, from the caller's step; a send that has to wait goes on in a task."""
        if self.ended.done():
            return
        if self.task is not None:
            self.due = True
            return
        coro = self._send_due()
        try:
            blocker = coro.send(None)
        except StopIteration:
            return
        except BaseException as exc:  # a socket's failure ends that socket only
            self.end(exc)
            return
        self.task = asyncio.get_running_loop().create_task(self._resume(coro, blocker))

    def start(self) -> None:
        """The first sends: what the database holds before the log, if anything, then the log."""
        if self.covered < self.lot.floor:
            self.task = asyncio.get_running_loop().create_task(self._run(self._replay_then_due()))
        else:
            self.flush()

    def end(self, error: BaseException | None = None) -> None:
        if isinstance(error, SlowConsumer):
            self.slow = True
        elif error is not None and not isinstance(
            error, (WebSocketDisconnect, OSError, asyncio.CancelledError)
        ):
            log.warning("feed of auction %s: a socket failed", self.lot.listing_id, exc_info=error)
        if not self.ended.done():
            self.ended.set_result(None)
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    def stuck(self, now: float) -> bool:
        """Waiting in a send too long, or while too far behind the log: a slow consumer."""
        since = self.sending_since
        if not since:
            return False
        if now - since > SEND_TIMEOUT_SECONDS:
            return True
        lot = self.lot
        return (
            self.covered >= lot.floor and len(lot.seqs) - bisect_right(lot.seqs, self.covered) > QUEUE_LIMIT
        )

    async def serve(self) -> None:
        """Until the client goes away; raises SlowConsumer when it could not keep up."""
        reader = asyncio.create_task(_drain_client(self.socket))
        self.start()
        try:
            await asyncio.wait((reader, self.ended), return_when=asyncio.FIRST_COMPLETED)
        finally:
            reader.cancel()
            self.end()
        if self.slow:
            raise SlowConsumer

    async def _resume(self, coro: Coroutine[Any, Any, None], blocker: Any) -> None:
        """Finish a send that had to wait (``coro``, suspended on ``blocker``), then what is due."""

        async def rest() -> None:
            nonlocal blocker
            while True:
                try:
                    if blocker is None:  # a bare yield: give the loop a turn
                        await asyncio.sleep(0)
                    else:
                        # what a task does with a future its coroutine yields (the flag says it
                        # was yielded by an await, and a second await refuses a flagged future)
                        blocker._asyncio_future_blocking = False
                        await blocker
                except BaseException:
                    coro.close()
                    raise
                try:
                    blocker = coro.send(None)
                except StopIteration:
                    break
            await self._send_due()

        await self._run(rest())

    async def _run(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except BaseException as exc:  # ends this socket; the lot goes on
            self.end(exc)
        finally:
            self.task = None

    async def _replay_then_due(self) -> None:
        lot = self.lot
        while self.covered < lot.floor:  # joined from before what the log holds: the database
            await self._replay(lot.floor)
        await self._send_due()

    async def _send_due(self) -> None:
        self.due = True
        while self.due:
            self.due = False
            await self._send_pending()
            if self.heartbeat_due:
                self.heartbeat_due = False
                await self._send(self.lot.heartbeat(self.last_sent), None)

    async def _send(self, message: dict[str, Any], at: float | None) -> None:
        self.sending_since = time.monotonic()
        await self.socket.send(message)  # type: ignore[arg-type]
        self.sending_since = 0.0
        if at is not None and next(_lag_samples) % LAG_SAMPLE == 0:
            FANOUT_LAG.labels(self.audience).observe(max(0.0, time.time() - at))

    async def _send_pending(self) -> None:
        lot = self.lot
        while (start := bisect_right(lot.seqs, self.covered)) < len(lot.seqs):
            if self.covered < lot.floor:
                # the log was trimmed past this socket while its send waited (or a long gap was
                # filled): going on from the log's first event would skip the trimmed ones, and a
                # replay from here would race the one under way; the client resumes by after_seq
                raise SlowConsumer
            end = min(len(lot.seqs), start + REPLAY_BATCH)
            if self.batch:
                last = lot.seqs[end - 1]
                await self._send(lot.batch(start, end), lot.ats[start])
                self.covered = self.last_sent = last
                continue
            # copies of the references: the log may be trimmed while a send waits
            seqs, messages, ats = lot.seqs[start:end], lot.messages[start:end], lot.ats[start:end]
            for seq, message, at in zip(seqs, messages, ats, strict=True):
                await self._send(message, at)
                self.covered = self.last_sent = seq

    async def _replay(self, upto: int) -> None:
        """Send the stored public events after what was covered, up to ``upto``, in seq order."""
        lot = self.lot
        while self.covered < upto:
            rows = await stored_events(lot.state, lot.listing_id, self.covered, upto + 1)
            if not rows:
                self.covered = upto
                return
            now = utcnow()
            texts = [_encoded(row, now) for row in rows]
            if self.batch:
                await self._send(_message(_batch_text(texts)), None)
            else:
                for text in texts:
                    await self._send(_message(text), None)
            self.covered = self.last_sent = rows[-1].seq
            if len(rows) < REPLAY_BATCH:
                self.covered = upto
                return


def _batch_text(texts: list[str]) -> str:
    return '{"kind":"batch","events":[' + ",".join(texts) + "]}"


async def _drain_client(socket: WebSocket[Any, Any, Any]) -> None:
    """Read (and ignore) what the client sends, so a disconnect is noticed."""
    with contextlib.suppress(WebSocketDisconnect, OSError):
        while True:
            await socket.receive_data(mode="text")


class _Group:
    """Sockets of a lot sent to together, at most every ``interval()`` seconds: the first event
    after a quiet spell at once, then what came meanwhile when the interval is over."""

    def __init__(self, interval: Callable[[], float]) -> None:
        self.watchers: set[Watcher] = set()
        self.interval = interval
        self.last = 0.0
        self.handle: asyncio.TimerHandle | None = None

    def wake(self) -> None:
        if not self.watchers or self.handle is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self.last + self.interval() - loop.time()
        if wait <= 0:
            self.flush()
        else:
            self.handle = loop.call_later(wait, self.flush)

    def flush(self) -> None:
        self.handle = None
        self.last = asyncio.get_running_loop().time()
        for watcher in self.watchers:
            watcher.flush()


class LotFeed:
    """One lot's subscription, event log and sockets in this process."""

    def __init__(self, hub: FeedHub, listing_id: int) -> None:
        self.hub = hub
        self.state = hub.state
        self.listing_id = listing_id
        self.seqs: list[int] = []
        self.messages: list[dict[str, Any]] = []
        self.ats: list[float | None] = []
        self.known = 0
        """Every public event up to this ``seq`` is in the log (or below ``floor``)."""
        self.floor = 0
        """The log holds every public event after this ``seq``."""
        self.bidders = _Group(lambda: 0.0)
        """Qualified bidders taking one message per event: sent every event as it is taken."""
        self.paced_bidders = _Group(lambda: BIDDER_FRAME_SECONDS)
        self.public = _Group(lambda: PUBLIC_FRAME_SECONDS)
        self.groups = (self.bidders, self.paced_bidders, self.public)
        self.lock = asyncio.Lock()
        """Serializes the channel reader and the database reads that fill the log."""
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # a fresh context: the lot outlives the request (and its X-Request-ID) of its first watcher
        self.task = asyncio.create_task(self._run(), context=contextvars.Context())
        self.linger_handle: asyncio.TimerHandle | None = None
        self.batches: dict[tuple[int, int], dict[str, Any]] = {}
        self.heartbeats: dict[int, dict[str, Any]] = {}

    # ---- the log

    def _append(self, seq: int, message: dict[str, Any], at: float | None) -> None:
        self.seqs.append(seq)
        self.messages.append(message)
        self.ats.append(at)
        self.known = seq
        if len(self.seqs) > 2 * LOG_KEEP:
            cut = len(self.seqs) - LOG_KEEP
            self.floor = self.seqs[cut - 1]
            del self.seqs[:cut], self.messages[:cut], self.ats[:cut]
            self.batches.clear()

    def _wake(self) -> None:
        for group in self.groups:
            group.wake()

    def watchers(self) -> list[Watcher]:
        return [watcher for group in self.groups for watcher in group.watchers]

    def batch(self, start: int, end: int) -> dict[str, Any]:
        """The batch frame of the log's events ``start:end``, built once for every socket."""
        key = (self.seqs[start], self.seqs[end - 1])
        message = self.batches.get(key)
        if message is None:
            if len(self.batches) > 64:
                self.batches.clear()
            texts = [m["text"] for m in self.messages[start:end]]
            message = self.batches[key] = _message(_batch_text(texts))
        return message

    def heartbeat(self, last_seq: int) -> dict[str, Any]:
        message = self.heartbeats.get(last_seq)
        if message is None:
            text = msgspec.json.encode(
                {"kind": "heartbeat", "server_time": utcnow().isoformat(), "last_seq": last_seq}
            ).decode()
            message = self.heartbeats[last_seq] = _message(text)
        return message

    async def _fill(self, upto: int | None = None) -> None:
        """Append the stored public events after ``known`` (and before ``upto``); caller holds the lock."""
        if upto is None:
            last = await _last_seq(self.state, self.listing_id)
            if last is None or last <= self.known:
                return
            upto = last + 1
        appended = False
        while True:
            rows = await stored_events(self.state, self.listing_id, self.known, upto)
            now = utcnow()
            for row in rows:
                self._append(row.seq, _message(_encoded(row, now)), row.at.timestamp())
                appended = True
            if len(rows) < REPLAY_BATCH:
                break
        self.known = max(self.known, upto - 1)  # the rest up to there is private or absent
        if appended:
            self._wake()

    async def _take(self, raw: bytes) -> None:
        head = _read_head(raw)
        async with self.lock:
            if head.seq <= self.known:
                return  # already in the log (or read from the database)
            if head.seq > self.known + 1:
                await self._fill(upto=head.seq)
                if head.seq <= self.known:
                    return
            self._append(head.seq, _message(raw.decode()), None if head.at is None else head.at.timestamp())
        self._wake()

    # ---- the lot's tasks

    async def _run(self) -> None:
        channels: ChannelsPlugin = self.state.channels
        try:
            async with channels.start_subscription([auction_channel(self.listing_id)]) as subscriber:
                last = await _last_seq(self.state, self.listing_id)
                if last is None:
                    self.ready.set_exception(NoAuction())
                    return
                self.known = self.floor = last
                self.ready.set_result(None)
                reader = asyncio.create_task(self._read(subscriber.iter_events()))
                try:
                    await self._housekeep()
                finally:
                    reader.cancel()
        except Exception as exc:
            if not self.ready.done():
                self.ready.set_exception(exc)
            log.exception("the feed of auction %s stopped", self.listing_id)
        finally:
            self.hub.forget(self)
            for watcher in self.watchers():
                watcher.lost = True
                watcher.end()

    async def _read(self, events: Any) -> None:
        async for raw in events:
            try:
                await self._take(raw)
            except Exception:  # one bad message or a failed database read must not stop the lot
                log.exception("feed of auction %s: could not take an event", self.listing_id)

    async def _housekeep(self) -> None:
        # The subscription may take effect at Redis a moment after start_subscription returns: an
        # event published in that moment reaches no one here, and if it was the last one (a
        # suspension, a close) no later event reveals the gap. So the database is read a few times
        # while it settles, and again at every heartbeat.
        started = time.monotonic()
        settling = list(SETTLING_CATCH_UPS)
        next_heartbeat = started + HEARTBEAT_SECONDS
        while True:
            await asyncio.sleep(
                HOUSEKEEPING_SECONDS if not settling else min(settling[0], HOUSEKEEPING_SECONDS)
            )
            now = time.monotonic()
            heartbeat = now >= next_heartbeat
            if settling and now - started >= settling[0]:
                settling.pop(0)
                await self._catch_up()
            if heartbeat:
                next_heartbeat = now + HEARTBEAT_SECONDS
                await self._catch_up()
                self.heartbeats.clear()
            for watcher in self.watchers():
                if watcher.stuck(now):
                    watcher.end(SlowConsumer())
                elif heartbeat:
                    watcher.heartbeat_due = True
                    watcher.flush()

    async def _catch_up(self) -> None:
        try:
            async with self.lock:
                await self._fill()
        except Exception:
            log.warning("feed of auction %s: could not read the database", self.listing_id, exc_info=True)

    # ---- sockets

    def add(self, watcher: Watcher) -> None:
        if self.linger_handle is not None:
            self.linger_handle.cancel()
            self.linger_handle = None
        self._group_of(watcher).watchers.add(watcher)
        WATCHERS.labels(watcher.audience).inc()

    def remove(self, watcher: Watcher) -> None:
        group = self._group_of(watcher).watchers
        if watcher in group:
            group.discard(watcher)
            WATCHERS.labels(watcher.audience).dec()
        if not self.watched() and self.linger_handle is None:
            self.linger_handle = asyncio.get_running_loop().call_later(LINGER_SECONDS, self._linger_over)

    def watched(self) -> bool:
        """Whether any socket follows the lot: without listing them all (a crowd leaves one by one)."""
        return any(group.watchers for group in self.groups)

    def _group_of(self, watcher: Watcher) -> _Group:
        if not watcher.bidder:
            return self.public
        return self.paced_bidders if watcher.batch else self.bidders

    def _linger_over(self) -> None:
        self.linger_handle = None
        if not self.watched():
            self.hub.forget(self)
            self.task.cancel()


class FeedHub:
    """The lots this process feeds, each subscribed once."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.lots: dict[int, LotFeed] = {}

    async def join(
        self, listing_id: int, socket: WebSocket[Any, Any, Any], after: int, bidder: bool, batch: bool
    ) -> Watcher:
        """A new socket of the lot; raises NoAuction when there is no auction for it."""
        lot = self.lots.get(listing_id)
        if lot is None:
            lot = self.lots[listing_id] = LotFeed(self, listing_id)
        watcher = Watcher(lot, socket, after, bidder, batch)
        lot.add(watcher)  # before waiting: a lot whose first socket is still waiting must not linger out
        try:
            await asyncio.shield(lot.ready)
        except BaseException:
            lot.remove(watcher)
            raise
        return watcher

    def leave(self, watcher: Watcher) -> None:
        watcher.lot.remove(watcher)

    def forget(self, lot: LotFeed) -> None:
        if self.lots.get(lot.listing_id) is lot:
            del self.lots[lot.listing_id]


def hub_of(state: State, make: Callable[[State], FeedHub] = FeedHub) -> FeedHub:
    """The app's hub, made on its first socket (state is per app, so is the hub)."""
    hub: FeedHub | None = state.get("feed_hub")
    if hub is None:
        hub = make(state)
        state["feed_hub"] = hub
    return hub


def slow_consumer_dropped(listing_id: int, watcher: Watcher) -> None:
    SLOW_CONSUMERS.inc()
    log.info("dropping a slow feed consumer of auction %s at seq %s", listing_id, watcher.covered)

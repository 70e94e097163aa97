"""A minimal HTTP/1.1 keep-alive client for the bidding phase of bench/bids.py.

httpx cost the load generator 1-2 ms of CPU per request, on a machine whose two
cores the server and PostgreSQL need; this one costs ~0.1 ms. A request is
given as its complete bytes; the response's status line and headers are parsed
by hand up to the blank line and its body read by Content-Length, chunks or the
close. One request at a time per connection, no pipelining.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

KEEPALIVE = 2.0
"""Seconds an idle client connection is kept: below uvicorn's 5 s keep-alive timeout, so
a request rarely goes out on a connection the server is closing (the bid client then sends
it once more on a new connection; httpx raises ReadError)."""
MAX_HEAD = 65_536
"""Bytes of response headers at most."""
GRACE = 30.0
"""Seconds after the end of a scenario before unanswered requests are given up (httpx's timeout was 30 s)."""


class HttpError(Exception):
    """A request got no complete response: refused, reset or closed connection, a malformed reply."""


class ConnectionClosed(HttpError):
    def __init__(self, message: str, *, answered: bool) -> None:
        super().__init__(message)
        self.answered = answered
        """Some of the response had arrived (so the request reached the server)."""


def parse_head(raw: bytes) -> tuple[int, int, bool, bool]:
    """(status, body length or -1, chunked, close) of a response head without its blank line."""
    lines = raw.split(b"\r\n")
    first = lines[0]
    if not first.startswith(b"HTTP/1.") or len(first) < 12:
        raise ValueError(f"not an HTTP/1.x status line: {first[:80]!r}")
    status = int(first[9:12])
    length, chunked, close = -1, False, first.startswith(b"HTTP/1.0")
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            value = value.lower()
            if b"close" in value:
                close = True
            elif b"keep-alive" in value:
                close = False
    if status < 200 or status in (204, 304):
        return status, 0, False, close
    if chunked:
        return status, -1, True, close
    if length < 0:  # neither a length nor chunks: the body ends with the connection
        close = True
    return status, length, False, close


def dechunk(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """(body, end) of a chunked body beginning at ``start``, or None while it is incomplete."""
    body = bytearray()
    pos = start
    while True:
        eol = buffer.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buffer[pos:eol]).split(b";", 1)[0], 16)
        if size == 0:  # then optional trailers and a blank line
            end = buffer.find(b"\r\n\r\n", eol)
            return None if end < 0 else (bytes(body), end + 4)
        pos = eol + 2 + size + 2
        if len(buffer) < pos:
            return None
        body += buffer[eol + 2 : pos - 2]


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time (no pipelining)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.head: tuple[int, int, bool, bool] | None = None
        self.start = 0
        """Where the body of the response being read begins in the buffer."""
        self.closed = False
        self.reused = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it

    def request(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        """Send a whole request; the future gives (status, body)."""
        assert self.transport is not None and self.waiter is None
        waiter = self.loop.create_future()
        if self.closed:
            waiter.set_exception(ConnectionClosed("connection already closed", answered=False))
            return waiter
        if self.buffer:  # anything the server sent unasked (an error before it closed)
            self.buffer.clear()
        self.head = None
        self.waiter = waiter
        self.transport.write(data)
        return waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None:
            try:
                self.parse()
            except ValueError as exc:
                self.fail(HttpError(f"malformed response: {exc}"))

    def parse(self) -> None:
        buffer = self.buffer
        head = self.head
        while head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise ValueError(f"no end of the headers in {len(buffer)} bytes")
                return
            head = parse_head(bytes(buffer[:end]))
            if 100 <= head[0] < 200:  # an interim response: the real one follows
                del buffer[: end + 4]
                head = None
                continue
            self.head, self.start = head, end + 4
        status, length, chunked, close = head
        if length >= 0:
            stop = self.start + length
            if len(buffer) < stop:
                return
            body = bytes(buffer[self.start : stop])
        elif chunked:
            done = dechunk(buffer, self.start)
            if done is None:
                return
            body, stop = done
        else:
            return  # until the connection closes: connection_lost delivers it
        del buffer[:stop]
        self.finish(status, body, close)

    def finish(self, status: int, body: bytes, close: bool) -> None:
        waiter, self.waiter, self.head = self.waiter, None, None
        if close and not self.closed:
            self.closed = True
            assert self.transport is not None
            self.transport.close()
        if waiter is not None and not waiter.done():
            waiter.set_result((status, body))

    def fail(self, exc: HttpError) -> None:
        waiter, self.waiter = self.waiter, None
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self.waiter = self.waiter, None
        if waiter is None or waiter.done():
            return
        head = self.head
        if head is not None and head[1] < 0 and not head[2]:  # a body delimited by the close
            waiter.set_result((head[0], bytes(self.buffer[self.start :])))
            return
        reason = f": {exc!r}" if exc else " by the server"
        waiter.set_exception(ConnectionClosed(f"connection closed{reason}", answered=bool(self.buffer)))


class HttpPool:
    """Keep-alive connections to one server: a request takes the most recently idle one or opens one.

    A closed-loop client has a pool of its own (so one connection); the open loop shares
    one pool with as many connections as bids in flight.
    """

    def __init__(self, host: str, port: int, keepalive: float = KEEPALIVE) -> None:
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.idle: list[Connection] = []
        self.every: set[Connection] = set()
        self.aborted = False
        self.connects = 0
        self.resent = 0

    async def open(self) -> Connection:
        if self.aborted:
            raise HttpError("given up (the scenario is over)")
        try:
            _, conn = await asyncio.get_running_loop().create_connection(Connection, self.host, self.port)
        except OSError as exc:
            raise HttpError(f"connect to {self.host}:{self.port}: {exc!r}") from exc
        self.connects += 1
        self.every.add(conn)
        return conn

    async def warm(self, count: int) -> None:
        """Open ``count`` idle connections before the clock starts."""
        now = time.monotonic()
        for conn in await asyncio.gather(*(self.open() for _ in range(count))):
            conn.idle_since = now
            self.idle.append(conn)

    def drop(self, conn: Connection) -> None:
        self.every.discard(conn)
        if not conn.closed:
            conn.closed = True
            if conn.transport is not None:
                conn.transport.close()

    async def request(self, data: bytes) -> tuple[int, bytes]:
        """(status, body) of one request given as its complete bytes."""
        conn = None
        idle = self.idle
        if idle:
            now = time.monotonic()
            while idle:
                candidate = idle.pop()
                if not candidate.closed and now - candidate.idle_since < self.keepalive:
                    conn = candidate
                    break
                self.drop(candidate)
        if conn is None:
            conn = await self.open()
        try:
            status, body = await conn.request(data)
        except ConnectionClosed as exc:
            self.drop(conn)
            if not conn.reused or exc.answered or self.aborted:
                raise
            # the server closed the idle connection as the request went out, so it has not
            # seen it: send it once more on a new connection (the bid's Idempotency-Key stays)
            self.resent += 1
            conn = await self.open()
            try:
                status, body = await conn.request(data)
            except BaseException:
                self.drop(conn)
                raise
        except BaseException:
            self.drop(conn)
            raise
        if conn.closed:
            self.drop(conn)
        else:
            conn.reused = True
            conn.idle_since = time.monotonic()
            idle.append(conn)
        return status, body

    def abort(self) -> None:
        """Fail every request still waiting (the watchdog at the end of a scenario)."""
        self.aborted = True
        for conn in list(self.every):
            conn.fail(HttpError(f"no response {GRACE:g} s after the end of the scenario"))
        self.every.clear()
        self.idle.clear()

    def close(self) -> None:
        for conn in list(self.every):
            self.drop(conn)
        self.idle.clear()

"""A minimal WebSocket client for thousands of feed watchers in one process (bench/crowd.py).

The ``websockets`` library costs tens of microseconds of client CPU per frame; at 5,000
watchers the load generator would need the cores the exchange is measured on. This one
is an asyncio protocol: the handshake as prebuilt bytes, the server's frames (never
masked, never fragmented by uvicorn) parsed by hand, pings answered with a masked pong,
and permessage-deflate when asked for (as browsers offer it). It only reads: a watcher
sends nothing but pongs.

A frame's payload is handed to ``on_frame(monotonic time, payload)``; the connection's
end (a close frame, or the connection lost) resolves ``closed`` with the close code
(1006 when there was none).
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
import zlib
from collections.abc import Callable
from typing import cast

FrameHandler = Callable[[float, bytes], None]
OPEN_TIMEOUT = 60.0


class HandshakeError(Exception):
    """The server did not switch protocols."""


def handshake(host: str, port: int, path: str, token: str | None, deflate: bool) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Version: 13",
    ]
    if deflate:
        lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class FeedSocket(asyncio.Protocol):
    def __init__(self, request: bytes, on_frame: FrameHandler) -> None:
        self.request = request
        self.on_frame = on_frame
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.open = False
        self.inflate: zlib._Decompress | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[int] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(f"connection lost during the handshake: {exc!r}"))
        if not self.closed.done():
            self.closed.set_result(1006)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).decode("latin-1")
            del buffer[: end + 4]
            if not head.startswith("HTTP/1.1 101"):
                self.opened.set_exception(HandshakeError(head.split("\r\n", 1)[0]))
                assert self.transport is not None
                self.transport.close()
                return
            if "permessage-deflate" in head.lower():
                self.inflate = zlib.decompressobj(-15)
            self.open = True
            self.opened.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buffer = self.buffer
        size = len(buffer)
        pos = 0
        now = time.monotonic()
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            length = second & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > size:
                break
            payload = bytes(buffer[start:end])
            pos = end
            opcode = first & 0x0F
            if opcode in (0x1, 0x2):
                if first & 0x40 and self.inflate is not None:  # RSV1: a compressed message
                    payload = self.inflate.decompress(payload + b"\x00\x00\xff\xff")
                self.on_frame(now, payload)
            elif opcode == 0x9:
                self._send(0xA, payload)
            elif opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if not self.closed.done():
                    self.closed.set_result(code)
                self._send(0x8, payload[:2])
                assert self.transport is not None
                self.transport.close()
                break
        if pos:
            del buffer[:pos]

    def _send(self, opcode: int, payload: bytes) -> None:
        """A masked frame of at most 125 bytes (pong, close), as a client must send."""
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def connect(
    host: str, port: int, path: str, on_frame: FrameHandler, token: str | None = None, deflate: bool = False
) -> FeedSocket:
    """An open feed socket (raises HandshakeError, OSError or TimeoutError)."""
    loop = asyncio.get_running_loop()
    request = handshake(host, port, path, token, deflate)
    async with asyncio.timeout(OPEN_TIMEOUT):
        _, protocol = await loop.create_connection(lambda: FeedSocket(request, on_frame), host, port)
        try:
            await protocol.opened
        except BaseException:
            protocol.abort()
            raise
    return protocol

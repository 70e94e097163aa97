"""The bid route's fast lane: the usual bid is answered before Litestar routes it.

Profiling the bid benchmark showed about half of the server's CPU per bid spent
in the framework before and after the handler: the middleware stack, routing,
dependency injection, parameter and body parsing, guards and the response
machinery. The lane takes only a request whose every part it can check cheaply:

    POST /api/v1/auctions/{id}/bids
    Authorization: Bearer <a bidder's token>
    Idempotency-Key: <1 to 100 characters>
    a JSON body (Content-Length, at most 4 KiB) that decodes as ``BidIn``

and calls the same ``Intake.bid`` as the route's handler, answering its result
or its problem exactly as the handler's exception mapping would
(``exchange.errors``). Anything else (no or a bad token, another role, a
browser's cookie session with its CSRF check, a cross-origin request, a missing
header, a body that does not decode) goes to Litestar untouched, body included,
where the route gives the documented answer. So the lane decides nothing the
route would decide differently; ``tests/integration/test_bid_lane.py`` compares the two.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPRequestEvent, Receive, ReceiveMessage, Scope, Send

from auctions.intake import BidIn, Intake
from exchange.deps import MAX_ID
from exchange.errors import (
    PROBLEM_JSON,
    ExchangeError,
    error_document,
    error_headers,
    localized_detail,
    problem_document,
    scope_language,
)
from exchange.identity.tokens import Principal, TokenError, read_token
from exchange.messages import Lang

log = logging.getLogger("exchange.auctions.lane")

PATH = re.compile(r"/api/v1/auctions/([1-9][0-9]{0,18})/bids")
MAX_BODY = 4096
_DECODER = msgspec.json.Decoder(BidIn)
_JSON = b"application/json"


class BidLane:
    """ASGI wrapper around the app's handler (``Litestar.asgi_handler``)."""

    def __init__(self, app: ASGIApp, intake: Intake, secret_key: str) -> None:
        self.app = app
        self.intake = intake
        self.secret_key = secret_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        matched = PATH.fullmatch(scope["path"])
        request = _Request.of(scope, self.secret_key) if matched else None
        if matched is None or request is None or int(matched[1]) > MAX_ID:
            return await self.app(scope, receive, send)
        body = await _read(receive)
        if body is None:
            return None  # the client went away
        try:
            data = _DECODER.decode(body)
        except msgspec.DecodeError:
            return await self.app(scope, _replaying(body, receive), send)
        await self.answer(scope["path"], send, request, int(matched[1]), data, scope_language(scope))
        return None

    async def answer(
        self, path: str, send: Send, request: _Request, listing_id: int, data: BidIn, lang: Lang = "zh"
    ) -> None:
        try:
            accepted, status = await self.intake.bid(request.bidder, listing_id, data, request.key)
        except ExchangeError as exc:
            headers = [
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error_headers(exc).items()
            ]
            await _send(
                send,
                exc.status,
                PROBLEM_JSON.encode(),
                msgspec.json.encode(error_document(exc, path, lang)),
                headers,
            )
            return
        except Exception:
            log.exception("unhandled error on POST %s", path)
            detail = localized_detail(500, "internal_error", lang)
            document = problem_document(500, "internal_error", detail, instance=path)
            await _send(send, 500, PROBLEM_JSON.encode(), msgspec.json.encode(document))
            return
        await _send(send, status, _JSON, msgspec.json.encode(accepted))


class _Request:
    __slots__ = ("bidder", "key")

    def __init__(self, bidder: Principal, key: str) -> None:
        self.bidder = bidder  # its account's standing is checked with the bid (intake)
        self.key = key

    @classmethod
    def of(cls, scope: Scope, secret_key: str) -> _Request | None:
        """The bidder and the key, or ``None``: the route decides this request."""
        token = key = None
        length = -1
        json = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                if token is not None:
                    return None  # repeated: which one counts is the route's business
                token = value
            elif name == b"idempotency-key":
                if key is not None:
                    return None
                key = value
            elif name == b"content-length":
                length = int(value) if value.isdigit() else -1
            elif name == b"content-type":
                json = value.startswith(_JSON)
            elif name in (b"origin", b"transfer-encoding"):
                return None
        if token is None or key is None or not json or not 0 <= length <= MAX_BODY:
            return None
        scheme, _, credentials = token.partition(b" ")
        text = key.decode("latin-1")
        if scheme.lower() != b"bearer" or not 1 <= len(text) <= 100:
            return None
        try:
            principal = read_token(credentials.decode("latin-1").strip(), secret_key)
        except TokenError:
            return None
        return cls(principal, text) if principal.role == "bidder" else None


async def _read(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None  # http.disconnect: the client went away
        chunks.append(message["body"])
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` that first hands back the body the lane already read."""
    pending = [body]

    async def replay() -> ReceiveMessage:
        if pending:
            return HTTPRequestEvent(type="http.request", body=pending.pop(), more_body=False)
        return await receive()

    return replay


async def _send(
    send: Send,
    status: int,
    content_type: bytes,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    start: Any = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            *(headers or []),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})

"""Log lines people and programs can follow: one JSON object per line, or plain text, and the request id.

Every HTTP request (the bid lane's included) and every feed connection gets a request id: the
proxy's ``X-Request-ID`` when it is a sane one, else a fresh uuid4. It is held in a context
variable for as long as the request runs, so every line logged on its behalf carries it, the
tasks it starts after a commit included (``asyncio`` copies the context into a new task), and
it is echoed in the response's ``X-Request-ID``: one bid can be followed from its request to
the broadcast of its events. ``EXCHANGE_LOG_FORMAT`` picks the format (``exchange.cli``).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from exchange.settings import LogFormat

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._-]{1,64}")
"""A proxy's id is copied into every log line and into the response: nothing that could split a
line, forge a field or grow without bound."""

_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",  # Python >= 3.12
    "request_id",
    "color_message",  # uvicorn's message again, with terminal colours
}


def request_id_of(headers: list[tuple[bytes, bytes]] | Any) -> str:
    """The request's id: the ``X-Request-ID`` header when it is sane and given once, else a new one."""
    given: bytes | None = None
    for name, value in headers:
        if name == HEADER:
            if given is not None:
                return uuid.uuid4().hex
            given = value
    if given is not None and _SANE.fullmatch(given):
        return given.decode("ascii")
    return uuid.uuid4().hex


class RequestIds:
    """ASGI wrapper, outermost: sets the request id for the request and echoes it in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != ScopeType.HTTP and kind != ScopeType.WEBSOCKET:
            return await self.app(scope, receive, send)
        request_id = request_id_of(scope["headers"])
        token = REQUEST_ID.set(request_id)
        try:
            if kind == ScopeType.WEBSOCKET:  # the handshake's answer carries no headers of ours
                return await self.app(scope, receive, send)
            header = (HEADER, request_id.encode("ascii"))

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), header]
                await send(message)

            return await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


def _request_id(record: logging.LogRecord) -> str | None:
    given = record.__dict__.get("request_id")
    return given if given is not None else REQUEST_ID.get()


_ENCODER = msgspec.json.Encoder(enc_hook=str)
"""A tenth of ``json.dumps``' time, on a line the bid path writes; UTF-8 as it is (Chinese stays
readable), control characters escaped (one line stays one line); what JSON cannot hold, as text."""


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO-8601, UTC), ``level``, ``logger``, ``message``,
    ``request_id`` when there is one, ``exc`` with the traceback, then whatever the call passed in
    ``extra`` (e.g. ``listing_id``, ``seq``, ``code``), so ``jq`` can select on it."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, Any] = {
            "time": f"{seconds}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _request_id(record)
        if request_id is not None:
            line["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and key not in line:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return _ENCODER.encode(line).decode()


class TextFormatter(logging.Formatter):
    """For people at a terminal (``make run``, the demo): the request id, when there is one, in brackets."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        request_id = _request_id(record)
        return text if request_id is None else f"{text} [{request_id}]"


def logging_config(log_format: LogFormat, level: int | str = logging.INFO) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document: one stderr handler on the root logger.

    uvicorn is given the same document (``log_config``) so its loggers propagate to that
    handler instead of installing their own; with ``--workers`` each worker process applies it.
    """
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"exchange": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "exchange",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
            "alembic.runtime.plugins": {"level": "WARNING"},
            # the one-second sweeps would otherwise log two lines a second
            "apscheduler": {"level": "WARNING"},
            "weasyprint.progress": {"level": "WARNING"},  # each PDF's rendering steps
        },
    }

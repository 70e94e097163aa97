"""The log formats and the request id (``exchange.logs``): pure, no database."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from importlib import import_module
from typing import Any

import pytest

from exchange.logs import (
    REQUEST_ID,
    JsonFormatter,
    RequestIds,
    TextFormatter,
    logging_config,
    request_id_of,
)

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What the logger ``exchange.test_logs`` writes, one JSON object a line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("exchange.test_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield stream
    logger.removeHandler(handler)
    logger.propagate = True


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_a_json_line_has_time_level_logger_and_message(lines: io.StringIO) -> None:
    logging.getLogger("exchange.test_logs").info("bid %s: auction %d", "accepted", 7)
    (line,) = parsed(lines)
    assert TIME.fullmatch(line["time"])
    assert (line["level"], line["logger"], line["message"]) == (
        "INFO",
        "exchange.test_logs",
        "bid accepted: auction 7",
    )
    assert "request_id" not in line and "exc" not in line


def test_extra_fields_become_fields_and_chinese_stays_readable(lines: io.StringIO) -> None:
    logging.getLogger("exchange.test_logs").warning(
        "竞价 %s", "已受理", extra={"listing_id": 7, "seq": 3, "code": ""}
    )
    text = lines.getvalue()
    assert "竞价 已受理" in text  # not \\u escapes: a person greps these files
    (line,) = parsed(lines)
    assert (line["listing_id"], line["seq"], line["code"], line["level"]) == (7, 3, "", "WARNING")


def test_an_exception_is_one_line_with_its_traceback(lines: io.StringIO) -> None:
    try:
        raise ValueError("no such auction\nsecond line")
    except ValueError:
        logging.getLogger("exchange.test_logs").exception("failed")
    assert lines.getvalue().count("\n") == 1
    (line,) = parsed(lines)
    assert line["message"] == "failed"
    assert line["exc"].startswith("Traceback") and "ValueError: no such auction\nsecond line" in line["exc"]


def test_the_request_id_of_the_context_is_in_the_line(lines: io.StringIO) -> None:
    token = REQUEST_ID.set("req-1")
    try:
        logging.getLogger("exchange.test_logs").info("inside")
    finally:
        REQUEST_ID.reset(token)
    logging.getLogger("exchange.test_logs").info("outside")
    inside, outside = parsed(lines)
    assert inside["request_id"] == "req-1" and "request_id" not in outside


def test_the_text_format_names_the_request_id() -> None:
    record = logging.LogRecord("exchange.x", logging.INFO, __file__, 1, "bid accepted", None, None)
    assert TextFormatter().format(record).endswith("INFO exchange.x: bid accepted")
    token = REQUEST_ID.set("req-2")
    try:
        assert TextFormatter().format(record).endswith("INFO exchange.x: bid accepted [req-2]")
    finally:
        REQUEST_ID.reset(token)


@pytest.mark.parametrize(
    ("headers", "kept"),
    [
        ([(b"x-request-id", b"abc-123._X")], "abc-123._X"),
        ([(b"x-request-id", b"x" * 64)], "x" * 64),
        ([(b"x-request-id", b"x" * 65)], None),
        ([(b"x-request-id", b"a b")], None),
        ([(b"x-request-id", b"a\nb")], None),
        ([(b"x-request-id", b'a"b')], None),
        ([(b"x-request-id", "甲".encode())], None),
        ([(b"x-request-id", b"")], None),
        ([(b"x-request-id", b"one"), (b"x-request-id", b"two")], None),
        ([], None),
    ],
)
def test_a_request_id_is_taken_only_when_sane(headers: list[tuple[bytes, bytes]], kept: str | None) -> None:
    found = request_id_of(headers)
    if kept is None:
        assert GENERATED.fullmatch(found)
    else:
        assert found == kept


async def test_a_request_logs_and_answers_with_its_id(lines: io.StringIO) -> None:
    """Two requests at once: each line and each answer carries its own id, and none leaks out."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.01)  # the other request runs meanwhile
        logging.getLogger("exchange.test_logs").info("handled %s", scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    async def call(path: str, headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def send(message: Any) -> None:
            sent.append(message)

        async def receive() -> Any:
            return {"type": "http.request", "body": b"", "more_body": False}

        scope = {"type": "http", "method": "GET", "path": path, "headers": headers}
        await RequestIds(app)(scope, receive, send)  # type: ignore[arg-type]
        return sent

    given, generated = await asyncio.gather(
        call("/given", [(b"x-request-id", b"from-proxy")]), call("/generated", [])
    )
    assert dict(given[0]["headers"])[b"x-request-id"] == b"from-proxy"
    new = dict(generated[0]["headers"])[b"x-request-id"].decode()
    assert GENERATED.fullmatch(new)
    by_message = {line["message"]: line["request_id"] for line in parsed(lines)}
    assert by_message == {"handled /given": "from-proxy", "handled /generated": new}
    assert REQUEST_ID.get() is None


def test_the_configuration_names_the_chosen_formatter() -> None:
    for log_format, formatter in (("json", JsonFormatter), ("text", TextFormatter)):
        config = logging_config(log_format, logging.INFO)  # type: ignore[arg-type]
        module, _, name = config["formatters"]["exchange"]["()"].rpartition(".")
        assert getattr(import_module(module), name) is formatter
        assert config["root"] == {"handlers": ["stderr"], "level": logging.INFO}
        # uvicorn's loggers write through the same handler
        assert all(config["loggers"][name]["handlers"] == [] for name in ("uvicorn", "uvicorn.error"))
        assert config["handlers"]["stderr"]["stream"] == "ext://sys.stderr"
